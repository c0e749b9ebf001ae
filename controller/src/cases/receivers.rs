//! Receiver-side listings: providers without a DNS zone (Microsoft, Google,
//! Yahoo, ...) tell us an IP is listed only through their refusals.
//!
//! Pure. A listing opens when refusals naming the IP pass a threshold within
//! a window, and closes when the provider accepts mail from that IP again for
//! a sustained period (enough accepted deliveries over enough time). Agents
//! that report no per-receiver deliveries fall back to "no refusal for a
//! day while the host kept sending".
//!
//! Only refusals of bounce family `ip` count (the caller filters), and an
//! open listing is re-read when the classifier changes ([`misread`]): a
//! listing opened on a refusal that is not one is withdrawn.

use std::time::Duration;

use crate::clock::millis;

use rblfleet_bounce::Family;
use rblfleet_proto::v1::ReceiverState;

/// Thresholds of receiver-side listings.
#[derive(Debug, Clone)]
pub struct ReceiverPolicy {
    /// Refusals within `window` that open a listing.
    pub open_after: u64,
    pub window: Duration,
    /// Accepted deliveries, over at least `clear_after`, that close it.
    pub clear_after_accepted: u64,
    pub clear_after: Duration,
    /// Without per-receiver counts: quiet time (host sending, no refusal) that closes it.
    pub fallback_clear_after: Duration,
}

impl Default for ReceiverPolicy {
    fn default() -> Self {
        ReceiverPolicy {
            open_after: 5,
            window: Duration::from_secs(3600),
            clear_after_accepted: 20,
            clear_after: Duration::from_secs(6 * 3600),
            fallback_clear_after: Duration::from_secs(24 * 3600),
        }
    }
}

/// What an observation did to the listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    None,
    Opened,
    Closed,
}

fn fresh(ip: &str, provider: &str) -> ReceiverState {
    ReceiverState { ip: ip.into(), provider: provider.into(), ..ReceiverState::default() }
}

/// Refusals of one provider naming one IP, from one report.
#[derive(Debug, Clone, Copy)]
pub struct Refusals<'a> {
    pub count: u64,
    pub first_ms: i64,
    pub at_ms: i64,
    pub code: &'a str,
    pub sample: &'a str,
}

/// `r.count` refusals from `provider` naming `ip`.
pub fn refused(
    state: Option<ReceiverState>,
    ip: &str,
    provider: &str,
    r: Refusals<'_>,
    policy: &ReceiverPolicy,
) -> (ReceiverState, Change) {
    let Refusals { count, first_ms, at_ms, code, sample } = r;
    let mut s = state.unwrap_or_else(|| fresh(ip, provider));
    if s.window_start_ms == 0 || first_ms - s.window_start_ms > millis(policy.window) {
        s.window_start_ms = first_ms;
        s.refusals_in_window = 0;
    }
    s.refusals_in_window += count;
    s.last_refusal_ms = s.last_refusal_ms.max(at_ms);
    s.accepted = 0;
    s.accepted_since_ms = 0;
    s.code = code.to_string();
    s.sample = sample.to_string();
    if s.listed_since_ms == 0 && s.refusals_in_window >= policy.open_after {
        s.listed_since_ms = s.window_start_ms;
        return (s, Change::Opened);
    }
    (s, Change::None)
}

/// `provider` accepted `accepted` deliveries from `ip` in a report ending at `at_ms`.
pub fn accepted(state: ReceiverState, accepted: u64, at_ms: i64, policy: &ReceiverPolicy) -> (ReceiverState, Change) {
    let mut s = state;
    if accepted == 0 || at_ms <= s.last_refusal_ms {
        return (s, Change::None);
    }
    if s.accepted_since_ms == 0 {
        s.accepted_since_ms = at_ms;
    }
    s.accepted += accepted;
    if s.listed_since_ms != 0
        && s.accepted >= policy.clear_after_accepted
        && at_ms - s.accepted_since_ms >= millis(policy.clear_after)
    {
        s.listed_since_ms = 0;
        s.refusals_in_window = 0;
        return (s, Change::Closed);
    }
    (s, Change::None)
}

/// The host sent `host_sent` deliveries without per-receiver counts: close a
/// listing that has been quiet for `fallback_clear_after`.
pub fn quiet(state: ReceiverState, host_sent: u64, now_ms: i64, policy: &ReceiverPolicy) -> (ReceiverState, Change) {
    let mut s = state;
    if s.listed_since_ms != 0 && host_sent > 0 && now_ms - s.last_refusal_ms >= millis(policy.fallback_clear_after) {
        s.listed_since_ms = 0;
        s.refusals_in_window = 0;
        return (s, Change::Closed);
    }
    (s, Change::None)
}

/// What `family_of` (the current bounce classifier) makes of a stored sample
/// reply, when that decides anything: `None` for no sample, and for
/// "other" on a sample the agent cut short (it ends in '…'): the listing
/// words may be in the part that was cut.
pub fn sample_family(sample: &str, family_of: impl Fn(&str) -> Family) -> Option<Family> {
    let text = sample.trim();
    if text.is_empty() {
        return None;
    }
    Some(family_of(text)).filter(|f| *f != Family::Other || !text.ends_with('\u{2026}'))
}

/// Re-reads an open listing's sample reply with `family_of`: `Some(family)`
/// when the reply is not an IP listing, so the listing was opened on a
/// misread refusal. `None` when it still is one, when the listing is not
/// open, or when the sample decides nothing ([`sample_family`]): the
/// listing stays.
pub fn misread(state: &ReceiverState, family_of: impl Fn(&str) -> Family) -> Option<Family> {
    if state.listed_since_ms == 0 {
        return None;
    }
    sample_family(&state.sample, family_of).filter(|f| *f != Family::Ip)
}

/// Closes a listing opened on a misread refusal. Its refusals never counted,
/// so the window starts afresh; the sample and code stay as the record of
/// what was misread (and keep [`misread`] from finding it open again).
pub fn withdraw(state: ReceiverState) -> ReceiverState {
    ReceiverState {
        listed_since_ms: 0,
        window_start_ms: 0,
        refusals_in_window: 0,
        accepted: 0,
        accepted_since_ms: 0,
        ..state
    }
}

/// What a reply of `family` is, for the note on a withdrawn listing's case.
pub fn what_it_is(family: Family) -> &'static str {
    match family {
        Family::Ip => "an IP listing",
        Family::Domain => "a refusal for a listed domain in the message, not a listing of the IP",
        Family::Content => "a content (spam) verdict on the message, not a listing",
        Family::Auth => "an authentication (SPF/DKIM/DMARC/PTR) failure, not a listing",
        Family::Recipient => "a recipient refusal, not a listing",
        Family::Transient => "a temporary failure (no reply, greylisting or throttling), not a listing",
        Family::Other => "no listing wording or listing code, not a listing",
    }
}

#[cfg(test)]
mod tests;
