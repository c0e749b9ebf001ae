//! The engine's side: cases opened, resolved, reopened as relistings.

#![allow(clippy::unwrap_used)]

use rblfleet_proto::v1::{CaseState, DelistRoute};

use crate::cases::tests::listing;
use crate::cases::*;

const T0: i64 = 1_700_000_000_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;

#[test]
fn a_first_listing_opens_a_case() {
    let c = on_listed(None, listing(3, T0), T0 + 5 * 60_000, RELIST_WINDOW_MS);
    assert_eq!(
        (c.id, c.ip.as_str(), c.list_id.as_str(), c.list.as_str()),
        (3, "203.0.113.7", "spamcop", "bl.spamcop.net")
    );
    assert_eq!(
        (c.state(), c.opened_ms, c.updated_ms, c.listed_since_ms),
        (CaseState::Open, T0 + 300_000, T0 + 300_000, T0)
    );
    assert!(!c.relisting);
    assert_eq!(c.relistings, 0);
    assert_eq!(c.expected_drop_ms, T0 + DAY, "auto-expiring list: first seen + 24 h");
    assert_eq!(c.history.len(), 1);
    let ev = &c.history[0];
    assert_eq!(
        (ev.who.as_str(), ev.action.as_str(), ev.from(), ev.to()),
        (ENGINE, "opened", CaseState::Unspecified, CaseState::Open)
    );
    assert_eq!(ev.note, "listed on bl.spamcop.net since 2023-11-14T22:13:20Z");
}

#[test]
fn clean_checks_resolve_the_case_from_any_working_state() {
    for from in [CaseState::Open, CaseState::Investigating, CaseState::Remediated, CaseState::DelistRequested] {
        let mut c = on_listed(None, listing(1, T0), T0, RELIST_WINDOW_MS);
        c.set_state(from);
        let c = on_cleared(&c, "clean on 3 consecutive checks", T0 + 2 * DAY);
        assert_eq!(
            (c.state(), c.resolved_ms, c.updated_ms, c.expected_drop_ms),
            (CaseState::Resolved, T0 + 2 * DAY, T0 + 2 * DAY, 0)
        );
        let ev = c.history.last().unwrap();
        assert_eq!(
            (ev.who.as_str(), ev.action.as_str(), ev.note.as_str()),
            (ENGINE, "resolved", "clean on 3 consecutive checks")
        );
        assert_eq!((ev.from(), ev.to()), (from, CaseState::Resolved));
        assert!(!waiting_on_delisting(&c));
    }
}

#[test]
fn clearing_a_resolved_case_again_changes_nothing() {
    let c = on_cleared(&on_listed(None, listing(1, T0), T0, RELIST_WINDOW_MS), "clean", T0 + DAY);
    assert_eq!(on_cleared(&c, "clean", T0 + 2 * DAY), c);
}

#[test]
fn a_listing_back_within_30_days_is_a_relisting() {
    let c = on_listed(None, listing(1, T0), T0, RELIST_WINDOW_MS);
    let resolved = on_cleared(&c, "clean", T0 + DAY);
    let back = T0 + DAY + 10 * DAY;
    let c = on_listed(Some(&resolved), listing(99, back), back + 60_000, RELIST_WINDOW_MS);
    assert_eq!(c.id, 1, "the existing case, not the offered id");
    assert_eq!((c.state(), c.relisting, c.relistings, c.listed_since_ms), (CaseState::Open, true, 1, back));
    assert_eq!(c.opened_ms, T0, "the case keeps its birth");
    assert_eq!(c.expected_drop_ms, back + DAY);
    assert_eq!(c.history.len(), 3, "opened, resolved, relisted: history kept");
    let ev = c.history.last().unwrap();
    assert_eq!((ev.action.as_str(), ev.from(), ev.to()), ("relisted", CaseState::Resolved, CaseState::Open));
    assert_eq!(
        ev.note,
        "listed again since 2023-11-25T22:13:20Z, 10 days after the case was resolved at \
         2023-11-15T22:13:20Z: the cause was probably not fixed"
    );
    // And again: the count goes on.
    let again = on_listed(
        Some(&on_cleared(&c, "clean", back + DAY)),
        listing(1, back + 3 * DAY),
        back + 3 * DAY,
        RELIST_WINDOW_MS,
    );
    assert_eq!((again.relisting, again.relistings), (true, 2));
}

#[test]
fn a_listing_back_after_30_days_is_a_fresh_listing_with_history() {
    let c = on_listed(None, listing(1, T0), T0, RELIST_WINDOW_MS);
    let resolved = on_cleared(&c, "clean", T0 + DAY);
    let back = T0 + DAY + 45 * DAY;
    let c = on_listed(Some(&resolved), listing(1, back), back, RELIST_WINDOW_MS);
    assert_eq!((c.state(), c.relisting, c.relistings), (CaseState::Open, false, 0));
    let ev = c.history.last().unwrap();
    assert_eq!(ev.action, "opened");
    assert!(ev.note.contains("45 days after the case was resolved"), "{}", ev.note);
    assert!(ev.note.contains("outside the relisting window of 30 days"), "{}", ev.note);
    assert_eq!(c.history.len(), 3);
}

#[test]
fn the_relisting_flag_is_cleared_by_a_later_fresh_listing() {
    let c = on_listed(None, listing(1, T0), T0, RELIST_WINDOW_MS);
    let c =
        on_listed(Some(&on_cleared(&c, "clean", T0 + DAY)), listing(1, T0 + 2 * DAY), T0 + 2 * DAY, RELIST_WINDOW_MS);
    assert!(c.relisting);
    let late = T0 + 100 * DAY;
    let c = on_listed(Some(&on_cleared(&c, "clean", T0 + 3 * DAY)), listing(1, late), late, RELIST_WINDOW_MS);
    assert_eq!((c.relisting, c.relistings), (false, 1), "the count of past relistings stays");
}

#[test]
fn an_ignored_case_stays_ignored_and_records_episodes() {
    let c = on_listed(None, listing(1, T0), T0, RELIST_WINDOW_MS);
    let c = apply(&c, Action::Ignore, &Change { who: "noc", reason: Some("test IP"), ..Change::default() }, T0 + HOUR)
        .unwrap();
    let cleared = on_cleared(&c, "clean", T0 + DAY);
    assert_eq!((cleared.state(), cleared.resolved_ms), (CaseState::Ignored, T0 + DAY));
    let ev = cleared.history.last().unwrap();
    assert_eq!((ev.action.as_str(), ev.from(), ev.to()), ("resolved", CaseState::Ignored, CaseState::Ignored));
    assert_eq!(ev.note, "the listing cleared (clean); the case stays ignored");

    let back = T0 + 3 * DAY;
    let relisted = on_listed(Some(&cleared), listing(1, back), back, RELIST_WINDOW_MS);
    assert_eq!((relisted.state(), relisted.relisting, relisted.relistings), (CaseState::Ignored, false, 0));
    assert_eq!(relisted.listed_since_ms, back);
    let ev = relisted.history.last().unwrap();
    assert_eq!((ev.action.as_str(), ev.to()), ("relisted", CaseState::Ignored));
    assert_eq!(ev.note, "listed again since 2023-11-17T22:13:20Z; the case stays ignored");
}

#[test]
fn a_case_at_work_only_follows_the_episode() {
    let c = on_listed(None, listing(1, T0), T0, RELIST_WINDOW_MS);
    let c =
        apply(&c, Action::Requested, &Change { who: "noc", reference: Some("R-1"), ..Change::default() }, T0 + HOUR)
            .unwrap();
    // The same episode reported again: nothing changes.
    assert_eq!(on_listed(Some(&c), listing(1, T0), T0 + 2 * HOUR, RELIST_WINDOW_MS), c);
    // The episode's first seen moved and the catalog's route changed: both follow, no event.
    let mut newer = listing(1, T0 - HOUR);
    newer.delist =
        DelistRoute { kind: "form".into(), url: "https://www.spamcop.net/bl.shtml".into(), ..DelistRoute::default() };
    let after = on_listed(Some(&c), newer, T0 + 2 * HOUR, RELIST_WINDOW_MS);
    assert_eq!(
        (after.state(), after.listed_since_ms, after.updated_ms),
        (CaseState::DelistRequested, T0 - HOUR, T0 + 2 * HOUR)
    );
    assert_eq!(after.delist.as_ref().unwrap().url, "https://www.spamcop.net/bl.shtml");
    assert_eq!((after.expected_drop_ms, after.history.len(), after.r#ref.as_str()), (0, c.history.len(), "R-1"));
}

#[test]
fn expected_drop_follows_the_route_and_the_last_sign_of_the_cause() {
    let c = on_listed(None, listing(1, T0), T0, RELIST_WINDOW_MS);
    assert_eq!(expected_drop_ms(&c, 0), T0 + DAY);
    assert_eq!(expected_drop_ms(&c, T0 + 5 * HOUR), T0 + 5 * HOUR + DAY, "counts from the last sign of the cause");
    assert_eq!(expected_drop_ms(&c, T0 - HOUR), T0 + DAY, "never before the listing's first seen");
    let mut form = listing(2, T0);
    form.delist =
        DelistRoute { kind: "form".into(), url: "https://example.invalid/remove".into(), ..DelistRoute::default() };
    let c = on_listed(None, form, T0, RELIST_WINDOW_MS);
    assert_eq!((expected_drop_ms(&c, T0), c.expected_drop_ms), (0, 0));
    assert_eq!(c.delist.as_ref().unwrap().url, "https://example.invalid/remove", "the form's URL is on the case");
    let mut unknown = listing(3, T0);
    unknown.delist.expiry_secs = 0;
    assert_eq!(on_listed(None, unknown, T0, RELIST_WINDOW_MS).expected_drop_ms, 0, "expiry delay unknown");
}

#[test]
fn a_listing_without_a_first_seen_counts_from_now() {
    let c = on_listed(None, listing(1, 0), T0, RELIST_WINDOW_MS);
    assert_eq!(c.listed_since_ms, T0);
}

#[test]
fn a_withdrawn_listing_resolves_the_case_once_and_a_real_one_later_is_not_a_relisting() {
    let why = "re-classified: the sample reply is a recipient refusal, not a listing";
    let c = on_listed(None, listing(1, T0), T0, RELIST_WINDOW_MS);
    let c = apply(&c, Action::Investigate, &Change { who: "noc", ..Change::default() }, T0 + HOUR).unwrap();
    let w = on_withdrawn(&c, why, T0 + DAY);
    assert_eq!((w.state(), w.resolved_ms, w.expected_drop_ms), (CaseState::Resolved, T0 + DAY, 0));
    let ev = w.history.last().unwrap();
    assert_eq!(
        (ev.who.as_str(), ev.action.as_str(), ev.from(), ev.to(), ev.note.as_str()),
        (ENGINE, WITHDRAWN, CaseState::Investigating, CaseState::Resolved, why)
    );
    assert_eq!(on_withdrawn(&w, why, T0 + 2 * DAY), w, "idempotent");

    // A true listing five days later: a fresh listing, not "the cause was not fixed".
    let back = T0 + 6 * DAY;
    let c = on_listed(Some(&w), listing(1, back), back, RELIST_WINDOW_MS);
    assert_eq!((c.state(), c.relisting, c.relistings), (CaseState::Open, false, 0));
    let ev = c.history.last().unwrap();
    assert_eq!(ev.action, "opened");
    assert!(ev.note.contains("withdrawn"), "{}", ev.note);
    // Once that one is resolved the usual way, a return is a relisting again.
    let c = on_listed(Some(&on_cleared(&c, "clean", back + DAY)), listing(1, back + 2 * DAY), back + 2 * DAY, 30 * DAY);
    assert_eq!((c.relisting, c.relistings), (true, 1));
}

#[test]
fn an_ignored_case_stays_ignored_when_its_listing_is_withdrawn() {
    let c = on_listed(None, listing(1, T0), T0, RELIST_WINDOW_MS);
    let c = apply(&c, Action::Ignore, &Change { who: "noc", reason: Some("looks bogus"), ..Change::default() }, T0)
        .unwrap();
    let w = on_withdrawn(&c, "re-classified", T0 + HOUR);
    assert_eq!((w.state(), w.resolved_ms), (CaseState::Ignored, T0 + HOUR));
    assert_eq!(w.history.last().unwrap().action, WITHDRAWN);
}
