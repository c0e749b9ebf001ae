//! The NOC's moves: which action is allowed from which state, and what it
//! records. The table is [`target`]; everything else follows from it, so the
//! refusal message's "allowed" list can never disagree with what is accepted.

use rblfleet_proto::v1::{Case, CaseState};

use super::{Action, CaseError, Change, event, fmt_ms, listing_cleared, state_name};

/// A NOC move: checks it against the state machine and returns the changed
/// case (state, `updated_ms`, `ref` when given, one more history event).
/// The input case is never modified, so a refused move loses nothing.
pub fn apply(case: &Case, action: Action, change: &Change<'_>, now_ms: i64) -> Result<Case, CaseError> {
    let id = case.id;
    let who = change.who.trim();
    if who.is_empty() {
        return Err(CaseError::WhoRequired { id });
    }
    let from = case.state();
    let Some(to) = target(case, action) else {
        return Err(CaseError::NotAllowed {
            id,
            from: state_name(from),
            action: action.as_str(),
            allowed: allowed(case),
        });
    };
    let note = given(change.note);
    let reference = given(change.reference);
    let reason = given(change.reason);
    match action {
        Action::Ignore if reason.is_none() => return Err(CaseError::ReasonRequired { id }),
        Action::Note if note.is_none() => return Err(CaseError::NoteRequired { id }),
        _ => {}
    }

    let mut next = case.clone();
    next.set_state(to);
    next.updated_ms = now_ms;
    if let Some(r) = reference {
        next.r#ref = r.to_string();
    }
    let mut text = note.unwrap_or_default().to_string();
    if from == CaseState::Ignored && to == CaseState::Resolved {
        // Taking an ignore back after the listing went away: nothing is
        // listed to investigate, and the case must not look open.
        let why = format!(
            "no longer ignored; the listing had cleared at {}, so the case is resolved",
            fmt_ms(case.resolved_ms)
        );
        text = if text.is_empty() { why } else { format!("{why}; {text}") };
    }
    let mut ev = event(now_ms, who, action.as_str(), from, to, text);
    ev.r#ref = reference.unwrap_or_default().to_string();
    ev.reason = reason.unwrap_or_default().to_string();
    next.history.push(ev);
    Ok(next)
}

/// The state `action` leads to from the case's state, or None when refused.
fn target(case: &Case, action: Action) -> Option<CaseState> {
    use CaseState::{DelistRequested, Ignored, Investigating, Open, Remediated, Resolved};
    let from = case.state();
    let working = matches!(from, Open | Investigating | Remediated | DelistRequested);
    match action {
        Action::Note => Some(from),
        Action::Investigate => match from {
            // Back to work: the removal was refused or the source came back.
            Open | Remediated | DelistRequested => Some(Investigating),
            Ignored if listing_cleared(case) => Some(Resolved),
            Ignored => Some(Investigating),
            _ => None,
        },
        Action::Remediated => matches!(from, Open | Investigating).then_some(Remediated),
        // From delist_requested: a resubmission, recorded without a state change.
        Action::Requested => working.then_some(DelistRequested),
        Action::Ignore => working.then_some(Ignored),
    }
}

/// The actions accepted from the case's state, in workflow order.
fn allowed(case: &Case) -> Vec<&'static str> {
    Action::ALL.into_iter().filter(|a| target(case, *a).is_some()).map(Action::as_str).collect()
}

/// A CLI value that says something: blank text counts as not given.
fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}
