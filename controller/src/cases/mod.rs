//! The delisting workflow of one (IP, list): a small state machine over the
//! `Case` message, pure (no store, no clock: time comes in as `now_ms`).
//! Receiver-side listings decide purely too ([`receivers`]); [`work`] is the
//! one submodule that loads, applies and stores.
//!
//! ```text
//! open ─investigate─▶ investigating ─remediated─▶ remediated ─requested─▶ delist_requested
//!
//! forward skips:  open → remediated, open → delist_requested, investigating → delist_requested
//! ignore:         open, investigating, remediated, delist_requested → ignored (reason required)
//! the engine:     consecutive clean checks, or sustained acceptance by a receiver → resolved;
//!                 evidence that a newer classifier no longer reads as a listing → resolved ("withdrawn")
//! ```
//!
//! Two moves go backwards on purpose, because the real world does:
//! `investigate` from `remediated` or `delist_requested` (the list operator
//! refused the removal because the abuse goes on, or the source came back),
//! and `investigate` on an `ignored` case, which is how an ignore is taken
//! back (if the listing cleared while the case was ignored, taking the
//! ignore back resolves the case: there is nothing left to investigate, and
//! the next episode reopens it like any resolved case). `requested` on a `delist_requested` case records a resubmission
//! (usually with a new `--ref`) without changing the state. `note` works in
//! every state and never changes it.
//!
//! A `resolved` case accepts only notes from the NOC: there is no listing to
//! work on, and the engine reopens the case itself when the listing returns
//! ([`on_listed`]): within the relisting window (30 days) as a relisting,
//! later as a fresh listing, history kept either way. An `ignored` case stays
//! ignored whatever the listing does — ignoring is a decision about the pair
//! (IP, list), typically a list the NOC does not care about — and its history
//! still records each episode.
//!
//! Every change appends a [`CaseEvent`] saying who (the admin certificate
//! name, "local", or "rblfleet" for the engine), when, what, from which state
//! to which, and the note, reference and reason given.

mod engine;
mod moves;
pub mod receivers;
pub mod work;

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, UNIX_EPOCH};

use rblfleet_proto::v1::{Case, CaseEvent, CaseState, DelistRoute};

pub use engine::{NewListing, WITHDRAWN, on_cleared, on_listed, on_withdrawn};
pub use moves::apply;

/// Who the engine's own events name.
pub const ENGINE: &str = "rblfleet";

/// A listing that returns within this time after its case was resolved
/// reopens the case as a relisting (the cause was not really fixed).
pub const RELIST_WINDOW_MS: i64 = 30 * 86_400_000;

/// A NOC move on a case (`rblfleet case ID <action>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Investigate,
    Remediated,
    Requested,
    Ignore,
    Note,
}

impl Action {
    /// Every action, in workflow order (the order error messages list them in).
    pub const ALL: [Action; 5] =
        [Action::Investigate, Action::Remediated, Action::Requested, Action::Ignore, Action::Note];

    /// The word the CLI takes and the history records.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Investigate => "investigate",
            Action::Remediated => "remediated",
            Action::Requested => "requested",
            Action::Ignore => "ignore",
            Action::Note => "note",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Action {
    type Err = CaseError;

    fn from_str(s: &str) -> Result<Action, CaseError> {
        let word = s.trim().to_ascii_lowercase();
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == word)
            .ok_or_else(|| CaseError::UnknownAction { given: s.to_string() })
    }
}

/// What comes with a NOC move: who made it and what they said.
#[derive(Debug, Clone, Copy, Default)]
pub struct Change<'a> {
    /// Admin certificate name, or "local" for the loopback admin API.
    pub who: &'a str,
    pub note: Option<&'a str>,
    /// Ticket or removal-request reference; becomes the case's `ref`.
    pub reference: Option<&'a str>,
    /// Why the case is ignored (required by `ignore`).
    pub reason: Option<&'a str>,
}

/// Why a NOC move was refused. Messages name the case, its state and what
/// would have been accepted, so the CLI can print them as they are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    #[error("case {id} is {from}: `{action}` is not allowed (allowed: {}){}", allowed.join(", "), hint(from))]
    NotAllowed { id: u64, from: &'static str, action: &'static str, allowed: Vec<&'static str> },
    #[error("ignoring case {id} needs a reason (--reason)")]
    ReasonRequired { id: u64 },
    #[error("a note on case {id} needs its text (--note)")]
    NoteRequired { id: u64 },
    #[error("a change to case {id} must name who makes it")]
    WhoRequired { id: u64 },
    #[error("unknown case action \"{given}\"; valid: investigate, remediated, requested, ignore, note")]
    UnknownAction { given: String },
}

/// The extra sentence a refusal carries for the terminal states.
fn hint(from: &str) -> &'static str {
    match from {
        "resolved" => "; a resolved case reopens by itself if the listing returns",
        "ignored" => "; `investigate` takes the ignore back",
        _ => "",
    }
}

/// Every case state, in life-cycle order.
pub const STATES: [CaseState; 6] = [
    CaseState::Open,
    CaseState::Investigating,
    CaseState::Remediated,
    CaseState::DelistRequested,
    CaseState::Resolved,
    CaseState::Ignored,
];

/// The name the CLI shows and accepts for a state.
pub fn state_name(state: CaseState) -> &'static str {
    match state {
        CaseState::Unspecified => "unspecified",
        CaseState::Open => "open",
        CaseState::Investigating => "investigating",
        CaseState::Remediated => "remediated",
        CaseState::DelistRequested => "delist_requested",
        CaseState::Resolved => "resolved",
        CaseState::Ignored => "ignored",
    }
}

/// Parses a state name (as [`state_name`] prints it; "requested" and
/// "delist-requested" are accepted too, as typed on a command line).
pub fn parse_state(s: &str) -> Result<CaseState, String> {
    let word = s.trim().to_ascii_lowercase().replace('-', "_");
    let word = if word == "requested" { "delist_requested".to_string() } else { word };
    STATES.into_iter().find(|st| state_name(*st) == word).ok_or_else(|| {
        let valid: Vec<&str> = STATES.iter().map(|st| state_name(*st)).collect();
        format!("unknown case state \"{s}\"; valid: {}", valid.join(", "))
    })
}

/// True while the NOC waits for the list operator (a removal was requested).
pub fn waiting_on_delisting(case: &Case) -> bool {
    case.state() == CaseState::DelistRequested
}

/// When an auto-expiring listing should drop by itself: the usual expiry
/// after the later of the listing's first seen and `last_seen_ms` (the last
/// sign of the cause, e.g. the latest blocklist bounce; 0 when unknown).
/// 0 for lists that do not expire on their own, or whose delay is unknown.
pub fn expected_drop_ms(case: &Case, last_seen_ms: i64) -> i64 {
    drop_ms(case.delist.as_ref(), case.listed_since_ms, last_seen_ms)
}

fn drop_ms(delist: Option<&DelistRoute>, listed_since_ms: i64, last_seen_ms: i64) -> i64 {
    let Some(d) = delist.filter(|d| d.kind == "auto_expire" && d.expiry_secs > 0) else {
        return 0;
    };
    let from = listed_since_ms.max(last_seen_ms);
    if from <= 0 {
        return 0;
    }
    let expiry_ms = i64::try_from(d.expiry_secs).unwrap_or(i64::MAX / 2_000).saturating_mul(1000);
    from.saturating_add(expiry_ms)
}

/// True when the case's current episode has ended (the engine saw it clear).
/// `resolved_ms` is kept across reopenings, so it only counts when it is
/// later than the current episode's first seen.
fn listing_cleared(case: &Case) -> bool {
    case.resolved_ms != 0 && case.resolved_ms >= case.listed_since_ms
}

/// Builds one history event.
fn event(at_ms: i64, who: &str, action: &str, from: CaseState, to: CaseState, note: String) -> CaseEvent {
    CaseEvent {
        at_ms,
        who: who.to_string(),
        action: action.to_string(),
        from: from as i32,
        to: to as i32,
        note,
        ..CaseEvent::default()
    }
}

/// A Unix-ms time for notes, in UTC to the second.
fn fmt_ms(ms: i64) -> String {
    match u64::try_from(ms) {
        Ok(ms) if ms > 0 => humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string(),
        _ => "an unknown time".to_string(),
    }
}

/// A duration in whole days (or hours under two days), for notes.
fn fmt_span(ms: i64) -> String {
    let hours = ms.max(0) / 3_600_000;
    if hours < 48 { format!("{hours} h") } else { format!("{} days", hours / 24) }
}

#[cfg(test)]
mod tests;
