//! The engine's side of a case: listings begin and end. Called by the
//! checker when an episode opens or closes (DNS lists) and by the receiver
//! tracker (bounces from receivers without a zone); the NOC never calls these.

use rblfleet_proto::v1::{Case, CaseState, DelistRoute};

use super::{ENGINE, drop_ms, event, fmt_ms, fmt_span, listing_cleared};

/// A listing episode that began, with what a new case needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct NewListing {
    /// The id for a new case; ignored when the case exists.
    pub id: u64,
    pub ip: String,
    /// Catalog zone id or receiver id.
    pub list_id: String,
    /// The list for display (zone with any key redacted, or the receiver's name).
    pub list: String,
    /// "dns" or "receiver".
    pub list_kind: String,
    /// First seen of the episode.
    pub listed_since_ms: i64,
    pub delist: DelistRoute,
}

/// The engine saw a listing episode begin. `existing` is the case of this
/// (ip, list), if any:
///
/// - none: a new case, `open`, event "opened";
/// - `resolved` within `relist_window_ms` of its resolution: reopened as a
///   relisting (unless that resolution was a withdrawal, [`on_withdrawn`]:
///   a listing that never was one proves no unfixed cause) (`relisting`, `relistings` + 1, event "relisted" saying when
///   it was resolved), because the cause was evidently not fixed;
/// - `resolved` longer ago: reopened as a fresh listing, history kept;
/// - `ignored`: stays ignored; a new episode after the last one cleared is
///   recorded ("relisted") so the history shows it;
/// - any other state (the work is already under way): only the episode's
///   first seen and the list's delisting route are brought up to date.
///
/// The list's name, kind and delisting route are refreshed from `new` every
/// time (the catalog may have changed), and so is `expected_drop_ms`.
pub fn on_listed(existing: Option<&Case>, new: NewListing, now_ms: i64, relist_window_ms: i64) -> Case {
    let Some(old) = existing else {
        return opened(new, now_ms);
    };
    let mut case = old.clone();
    let since = if new.listed_since_ms > 0 { new.listed_since_ms } else { now_ms };
    let was_cleared = listing_cleared(old);
    refresh(&mut case, &new, since);
    let state = old.state();
    match state {
        CaseState::Resolved => {
            let gap = since - old.resolved_ms;
            let relisting = gap <= relist_window_ms && !withdrawn(old);
            case.set_state(CaseState::Open);
            case.relisting = relisting;
            case.updated_ms = now_ms;
            let (action, note) = if relisting {
                case.relistings += 1;
                let note = format!(
                    "listed again since {}, {} after the case was resolved at {}: the cause was probably not fixed",
                    fmt_ms(since),
                    fmt_span(gap),
                    fmt_ms(old.resolved_ms)
                );
                ("relisted", note)
            } else if withdrawn(old) {
                let note = format!(
                    "listed since {}; the earlier listing of this case was withdrawn at {} (its evidence was not a \
                     listing): a new listing",
                    fmt_ms(since),
                    fmt_ms(old.resolved_ms)
                );
                ("opened", note)
            } else {
                let note = format!(
                    "listed again since {}, {} after the case was resolved at {} \
                     (outside the relisting window of {}): a new listing",
                    fmt_ms(since),
                    fmt_span(gap),
                    fmt_ms(old.resolved_ms),
                    fmt_span(relist_window_ms)
                );
                ("opened", note)
            };
            case.history.push(event(now_ms, ENGINE, action, state, CaseState::Open, note));
        }
        CaseState::Ignored if was_cleared => {
            case.updated_ms = now_ms;
            let note = format!("listed again since {}; the case stays ignored", fmt_ms(since));
            case.history.push(event(now_ms, ENGINE, "relisted", state, state, note));
        }
        _ => {
            if case != *old {
                case.updated_ms = now_ms;
            }
        }
    }
    case
}

/// The engine saw the episode end (consecutive clean checks, or the receiver
/// accepting mail again for long enough): the case is resolved, with `why`.
/// An ignored case stays ignored but records the end, so a later episode is
/// told apart from this one. A resolved case is returned unchanged.
pub fn on_cleared(case: &Case, why: &str, now_ms: i64) -> Case {
    let why = why.trim();
    close(case, now_ms, "resolved", |state| {
        if state == CaseState::Ignored {
            format!("the listing cleared ({why}); the case stays ignored")
        } else {
            why.to_string()
        }
    })
}

/// Ends the episode of a case that is not resolved yet: resolved (an ignored
/// case stays ignored), with `action` and the note `note(state)` in its
/// history. A resolved case is returned unchanged.
fn close(case: &Case, now_ms: i64, action: &str, note: impl FnOnce(CaseState) -> String) -> Case {
    let state = case.state();
    if state == CaseState::Resolved {
        return case.clone();
    }
    let mut next = case.clone();
    next.resolved_ms = now_ms;
    next.updated_ms = now_ms;
    next.expected_drop_ms = 0;
    let to = if state == CaseState::Ignored { state } else { CaseState::Resolved };
    next.set_state(to);
    next.history.push(event(now_ms, ENGINE, action, state, to, note(state)));
    next
}

/// The listing never was one: its evidence, read again (by a newer bounce
/// classifier), is not a listing. The case is resolved with `why` as action
/// "withdrawn", which [`on_listed`] does not count towards a relisting. An
/// ignored case stays ignored (the ignore is the NOC's decision) but records
/// the withdrawal; a resolved case is returned unchanged.
pub fn on_withdrawn(case: &Case, why: &str, now_ms: i64) -> Case {
    close(case, now_ms, WITHDRAWN, |_| why.trim().to_string())
}

/// The history action of [`on_withdrawn`].
pub const WITHDRAWN: &str = "withdrawn";

/// True when the case's last resolution was a withdrawal.
fn withdrawn(case: &Case) -> bool {
    case.history
        .iter()
        .rev()
        .find(|e| e.who == ENGINE && (e.action == "resolved" || e.action == WITHDRAWN))
        .is_some_and(|e| e.action == WITHDRAWN)
}

/// A brand-new case for a listing seen for the first time on this (ip, list).
fn opened(new: NewListing, now_ms: i64) -> Case {
    let since = if new.listed_since_ms > 0 { new.listed_since_ms } else { now_ms };
    let note = format!("listed on {} since {}", new.list, fmt_ms(since));
    let mut case = Case { id: new.id, ip: new.ip.clone(), opened_ms: now_ms, updated_ms: now_ms, ..Case::default() };
    refresh(&mut case, &new, since);
    case.set_state(CaseState::Open);
    case.history.push(event(now_ms, ENGINE, "opened", CaseState::Unspecified, CaseState::Open, note));
    case
}

/// Brings the list's description and the episode's times up to date.
fn refresh(case: &mut Case, new: &NewListing, since: i64) {
    case.list_id.clone_from(&new.list_id);
    case.list.clone_from(&new.list);
    case.list_kind.clone_from(&new.list_kind);
    case.listed_since_ms = since;
    case.delist = Some(new.delist.clone());
    case.expected_drop_ms = drop_ms(case.delist.as_ref(), since, 0);
}

#[cfg(test)]
mod tests;
