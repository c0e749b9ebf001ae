//! The NOC's moves: every transition, every refusal, what the history keeps.

#![allow(clippy::unwrap_used)]

use rblfleet_proto::v1::{Case, CaseState, DelistRoute};

use super::*;

const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;

pub(super) fn listing(id: u64, since: i64) -> NewListing {
    NewListing {
        id,
        ip: "203.0.113.7".into(),
        list_id: "spamcop".into(),
        list: "bl.spamcop.net".into(),
        list_kind: "dns".into(),
        listed_since_ms: since,
        delist: DelistRoute {
            kind: "auto_expire".into(),
            url: String::new(),
            expiry_secs: 86_400,
            note: String::new(),
        },
    }
}

fn open_case() -> Case {
    on_listed(None, listing(7, T0), T0 + 60_000, RELIST_WINDOW_MS)
}

fn in_state(state: CaseState) -> Case {
    let mut c = open_case();
    c.set_state(state);
    c
}

fn by(who: &str) -> Change<'_> {
    Change { who, ..Change::default() }
}

#[test]
fn the_forward_path_records_every_step() {
    let mut c = open_case();
    let steps = [
        (Action::Investigate, CaseState::Investigating),
        (Action::Remediated, CaseState::Remediated),
        (Action::Requested, CaseState::DelistRequested),
    ];
    for (i, (action, want)) in steps.into_iter().enumerate() {
        let at = T0 + (i as i64 + 1) * HOUR;
        let from = c.state();
        c = apply(&c, action, &by("noc-alice"), at).unwrap();
        assert_eq!(c.state(), want);
        assert_eq!(c.updated_ms, at);
        let ev = c.history.last().unwrap();
        assert_eq!((ev.at_ms, ev.who.as_str(), ev.action.as_str()), (at, "noc-alice", action.as_str()));
        assert_eq!((ev.from(), ev.to()), (from, want));
    }
    assert_eq!(c.history.len(), 4, "opened + three moves");
    assert!(waiting_on_delisting(&c));
}

#[test]
fn forward_skips_are_allowed() {
    let cases = [
        (CaseState::Open, Action::Remediated, CaseState::Remediated),
        (CaseState::Open, Action::Requested, CaseState::DelistRequested),
        (CaseState::Investigating, Action::Requested, CaseState::DelistRequested),
    ];
    for (from, action, to) in cases {
        let c = apply(&in_state(from), action, &by("noc"), T0).unwrap();
        assert_eq!(c.state(), to, "{} from {}", action, state_name(from));
    }
}

#[test]
fn back_to_investigating_when_the_removal_is_refused() {
    for from in [CaseState::Remediated, CaseState::DelistRequested] {
        let c = apply(&in_state(from), Action::Investigate, &by("noc"), T0).unwrap();
        assert_eq!(c.state(), CaseState::Investigating);
    }
}

#[test]
fn a_second_request_is_a_resubmission_with_a_new_reference() {
    let c = in_state(CaseState::DelistRequested);
    let change = Change { who: "noc", reference: Some("SC-2"), ..Change::default() };
    let c = apply(&c, Action::Requested, &change, T0).unwrap();
    assert_eq!((c.state(), c.r#ref.as_str()), (CaseState::DelistRequested, "SC-2"));
    let ev = c.history.last().unwrap();
    assert_eq!(
        (ev.from(), ev.to(), ev.r#ref.as_str()),
        (CaseState::DelistRequested, CaseState::DelistRequested, "SC-2")
    );
}

#[test]
fn refusals_say_what_is_allowed() {
    let refused = [
        (CaseState::Investigating, Action::Investigate, vec!["remediated", "requested", "ignore", "note"]),
        (CaseState::Remediated, Action::Remediated, vec!["investigate", "requested", "ignore", "note"]),
        (CaseState::DelistRequested, Action::Remediated, vec!["investigate", "requested", "ignore", "note"]),
    ];
    for (from, action, allowed) in refused {
        let err = apply(&in_state(from), action, &by("noc"), T0).unwrap_err();
        assert_eq!(
            err,
            CaseError::NotAllowed { id: 7, from: state_name(from), action: action.as_str(), allowed: allowed.clone() }
        );
        let msg = err.to_string();
        assert!(msg.starts_with(&format!("case 7 is {}: `{}` is not allowed", state_name(from), action)), "{msg}");
        assert!(msg.contains(&allowed.join(", ")), "{msg}");
    }
}

#[test]
fn a_resolved_case_takes_only_notes() {
    let c = in_state(CaseState::Resolved);
    for action in [Action::Investigate, Action::Remediated, Action::Requested, Action::Ignore] {
        let change = Change { who: "noc", reason: Some("x"), ..Change::default() };
        let err = apply(&c, action, &change, T0).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "case 7 is resolved: `{action}` is not allowed (allowed: note); \
                 a resolved case reopens by itself if the listing returns"
            )
        );
    }
    let change = Change { who: "noc", note: Some("customer informed"), ..Change::default() };
    let c2 = apply(&c, Action::Note, &change, T0).unwrap();
    assert_eq!(c2.state(), CaseState::Resolved);
}

#[test]
fn ignore_needs_a_reason_and_works_from_every_working_state() {
    for from in [CaseState::Open, CaseState::Investigating, CaseState::Remediated, CaseState::DelistRequested] {
        let c = in_state(from);
        assert_eq!(apply(&c, Action::Ignore, &by("noc"), T0).unwrap_err(), CaseError::ReasonRequired { id: 7 });
        let blank = Change { who: "noc", reason: Some("  "), ..Change::default() };
        assert_eq!(apply(&c, Action::Ignore, &blank, T0).unwrap_err(), CaseError::ReasonRequired { id: 7 });
        let change = Change { who: "noc", reason: Some("UCEPROTECT-3 lists the whole ASN"), ..Change::default() };
        let c = apply(&c, Action::Ignore, &change, T0).unwrap();
        assert_eq!(c.state(), CaseState::Ignored);
        assert_eq!(c.history.last().unwrap().reason, "UCEPROTECT-3 lists the whole ASN");
    }
    let err = apply(&in_state(CaseState::Open), Action::Ignore, &by("noc"), T0).unwrap_err();
    assert_eq!(err.to_string(), "ignoring case 7 needs a reason (--reason)");
}

#[test]
fn an_ignored_case_takes_notes_and_investigate_takes_the_ignore_back() {
    let c = in_state(CaseState::Ignored);
    for action in [Action::Remediated, Action::Requested, Action::Ignore] {
        let change = Change { who: "noc", reason: Some("x"), ..Change::default() };
        let msg = apply(&c, action, &change, T0).unwrap_err().to_string();
        assert!(msg.contains("(allowed: investigate, note); `investigate` takes the ignore back"), "{msg}");
    }
    let c = apply(&c, Action::Investigate, &by("noc"), T0).unwrap();
    assert_eq!(c.state(), CaseState::Investigating);
}

#[test]
fn taking_an_ignore_back_after_the_listing_cleared_resolves_the_case() {
    let c = apply(
        &open_case(),
        Action::Ignore,
        &Change { who: "noc", reason: Some("test IP"), ..Change::default() },
        T0 + HOUR,
    )
    .unwrap();
    let c = on_cleared(&c, "3 consecutive clean checks", T0 + 5 * HOUR);
    assert_eq!(c.state(), CaseState::Ignored);
    let c = apply(&c, Action::Investigate, &by("noc"), T0 + 6 * HOUR).unwrap();
    assert_eq!(c.state(), CaseState::Resolved);
    let ev = c.history.last().unwrap();
    assert_eq!(ev.note, "no longer ignored; the listing had cleared at 2023-11-15T03:13:20Z, so the case is resolved");
}

#[test]
fn a_note_needs_text_and_changes_nothing_but_history() {
    let c = in_state(CaseState::Investigating);
    assert_eq!(apply(&c, Action::Note, &by("noc"), T0).unwrap_err(), CaseError::NoteRequired { id: 7 });
    let change = Change { who: "noc-bob", note: Some("called the customer"), ..Change::default() };
    let after = apply(&c, Action::Note, &change, T0 + HOUR).unwrap();
    assert_eq!(after.state(), CaseState::Investigating);
    assert_eq!(after.history.len(), c.history.len() + 1);
    let ev = after.history.last().unwrap();
    assert_eq!((ev.action.as_str(), ev.note.as_str(), ev.who.as_str()), ("note", "called the customer", "noc-bob"));
    assert_eq!((ev.from(), ev.to()), (CaseState::Investigating, CaseState::Investigating));
}

#[test]
fn the_reference_is_kept_on_the_case_and_in_the_event() {
    let change = Change { who: "noc", note: Some("form sent"), reference: Some("TICKET-42"), reason: None };
    let c = apply(&open_case(), Action::Requested, &change, T0).unwrap();
    assert_eq!(c.r#ref, "TICKET-42");
    let ev = c.history.last().unwrap();
    assert_eq!((ev.r#ref.as_str(), ev.note.as_str()), ("TICKET-42", "form sent"));
    // A later move without a reference keeps the case's reference.
    let c = apply(&c, Action::Investigate, &by("noc"), T0 + 1).unwrap();
    assert_eq!(c.r#ref, "TICKET-42");
    assert_eq!(c.history.last().unwrap().r#ref, "");
}

#[test]
fn a_move_must_name_who() {
    assert_eq!(apply(&open_case(), Action::Investigate, &by(" "), T0).unwrap_err(), CaseError::WhoRequired { id: 7 });
}

#[test]
fn a_refused_move_leaves_the_case_as_it_was() {
    let c = in_state(CaseState::Resolved);
    let before = c.clone();
    let _ = apply(&c, Action::Remediated, &by("noc"), T0);
    assert_eq!(c, before);
}

#[test]
fn actions_parse_and_unknown_ones_list_the_valid_ones() {
    for a in Action::ALL {
        assert_eq!(a.as_str().parse::<Action>().unwrap(), a);
    }
    assert_eq!(" Investigate ".parse::<Action>().unwrap(), Action::Investigate);
    let err = "resolve".parse::<Action>().unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown case action \"resolve\"; valid: investigate, remediated, requested, ignore, note"
    );
}

#[test]
fn states_have_names_that_parse_back() {
    for st in STATES {
        assert_eq!(parse_state(state_name(st)).unwrap(), st);
    }
    assert_eq!(parse_state("requested").unwrap(), CaseState::DelistRequested);
    assert_eq!(parse_state("Delist-Requested").unwrap(), CaseState::DelistRequested);
    assert_eq!(
        parse_state("closed").unwrap_err(),
        "unknown case state \"closed\"; valid: open, investigating, remediated, delist_requested, resolved, ignored"
    );
}
