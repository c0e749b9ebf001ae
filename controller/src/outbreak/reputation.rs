//! Reputation deferrals on the host (Yahoo TSS04, Gmail 4.7.28, Microsoft
//! 4.7.650...), and what tells a throttled legitimate bulk sender from spam.
//!
//! A receiver defers for reputation both when it suspects spam and when a
//! sender it does not know yet sends a lot at once: Gmail rate-limits a
//! shop's campaign to a Gmail-heavy list with 4.7.28 for hours, and a
//! password-reset storm of a shop whose customers are on Gmail the same way.
//! The count alone (10 in 30 min) cannot tell them apart; a postmaster
//! looks at who sends it and how the rest of that mail fares:
//! - a kept list (customers, subscribers) bounces a few percent: under
//!   [`BULK_BOUNCE`] of hard bounces, where spam to harvested or bought lists
//!   bounces 10-40% and backscatter more;
//! - the mail comes from an application (a script, a system user, a sender
//!   address), not from a person's mailbox: a mailbox mailing hundreds with
//!   reputation deferrals is a hijack until shown otherwise;
//! - the receivers throttle a part of it, a few percent: rate limiting
//!   spreads a campaign over hours; when they defer clearly more than
//!   [`BULK_SHARE`] of it for reputation they are refusing it, not pacing it.
//!
//! When one such source carries the host's refusals in the window, the
//! reputation rule asks for [`BULK_SHARE`] of that source's attempts
//! instead of [`SHARE`] of the host's. Anything else (a source that
//! bounces, a mailbox, mail nobody carries: a forward of spam from
//! hundreds of forged senders) keeps the plain rule.

use super::receiver::{self, ReceiverState};
use super::signal::{self, Fired, Signal};
use super::source::SourceState;
use super::stat::Counts;

/// Reputation deferrals in 30 min for the rule to fire at all.
pub const MIN_REPUTATION: u32 = 10;
/// Reputation deferrals as a share of the host's attempts: a big sender's
/// handful of TSS04 "unexpected volume" deferrals is its normal.
pub const SHARE: f32 = 0.02;
/// Reputation deferrals as a share of a clean bulk source's attempts (see
/// the module doc): rate limiting of a legitimate campaign or storm defers
/// a few percent of it, 0.5-3% in what we see of Gmail's 4.7.28 pacing.
pub const BULK_SHARE: f32 = 0.05;
/// Hard-bounce ratio under which a source's mail reads as a kept list: a
/// shop's customers or subscribers bounce 1-6% (old addresses; a reset
/// storm reaches lapsed customers too), a bought or harvested list 10% and
/// more.
pub const BULK_BOUNCE: f32 = 0.08;
/// Attempts in 30 min for a source's bounce ratio to say anything.
pub const BULK_MIN_ATTEMPTS: u32 = 50;
/// A source's share of the host's refusals (deferred, bounced, refused as
/// listed) that makes the host's reputation deferrals its own; the same
/// share pins the host's signal on a source ([`SourceState`]).
pub const CARRIER_SHARE: f32 = 0.4;

/// The one source carrying the host's refusals in the window, when it looks
/// like a legitimate bulk sender (see the module doc).
#[derive(Clone, Debug, PartialEq)]
pub struct Bulk {
    pub id: String,
    /// Its last 30 minutes.
    pub recent: Counts,
}

/// Deferred, bounced and refused as listed.
pub(crate) fn refused(c: &Counts) -> u32 {
    c.deferred.saturating_add(c.bounced).saturating_add(c.blocklisted)
}

/// The clean bulk source carrying the host window `w`'s refusals at
/// `at_ms`, if there is one.
pub fn bulk_carrier(sources: &[SourceState], w: &Counts, at_ms: i64) -> Option<Bulk> {
    let host = refused(w).max(1) as f32;
    sources
        .iter()
        .filter(|s| at_ms - s.last_seen_ms < signal::CALM_MS && !s.is_mailbox())
        .map(|s| (s, s.recent_at(at_ms)))
        .max_by_key(|(_, c)| refused(c))
        .filter(|(_, c)| refused(c) as f32 >= CARRIER_SHARE * host)
        .filter(|(_, c)| c.attempts >= BULK_MIN_ATTEMPTS && c.bounce_ratio() < BULK_BOUNCE && c.blocklisted == 0)
        .map(|(s, c)| Bulk { id: s.id.clone(), recent: c })
}

/// The host's reputation signal over its window `w`: at least
/// [`MIN_REPUTATION`] deferrals, well above the usual hourly rate
/// (`usual`), and [`SHARE`] of the attempts, or [`BULK_SHARE`] of a clean
/// bulk carrier's. `labels` names them ("Gmail 4.7.28, Yahoo TSS04").
pub(crate) fn host_signal(
    w: &Counts,
    usual: f32,
    labels: impl FnOnce() -> String,
    carrier: impl FnOnce() -> Option<Bulk>,
) -> Option<Fired> {
    let base = w.reputation >= MIN_REPUTATION
        && w.reputation as f32 * 2.0 >= 5.0 * usual + 10.0
        && w.reputation as f32 >= SHARE * w.attempts as f32;
    if !base {
        return None;
    }
    // Only now, rarely, look at the sources.
    if carrier().is_some_and(|bulk| paced(w.reputation, bulk.recent.attempts)) {
        return None;
    }
    let labels = labels();
    let labels = if labels.is_empty() { "receiver".to_owned() } else { labels };
    Some(Fired {
        signal: Signal::Reputation { now: w.reputation, usual_per_hour: usual, labels, share: 1.0 },
        strength: signal::grade(w.reputation as f32, 10.0, 10.0, 2.5),
    })
}

/// True when `reputation` deferrals of a bulk source's `attempts` are
/// within what pacing at [`BULK_SHARE`] gives: not above it by two
/// standard deviations of the count (10 in 150 attempts, 6.7%, is a
/// small campaign's chance, not a refusal).
pub fn paced(reputation: u32, attempts: u32) -> bool {
    let expected = BULK_SHARE * attempts as f32;
    (reputation as f32) < expected + 2.0 * expected.sqrt()
}

/// A receiver's moderate signals that lasted ([`receiver::sustained`]),
/// unless one source carried half of the surge while they did: a campaign
/// or a storm is its source's to judge (by its bounces and deferrals), a
/// forward of spam from hundreds of forged senders has no source to judge.
///
/// The source's volume is the busiest single source's 30-minute count as
/// sampled over the flagged half hours (`Streak::top`), not the last 30
/// minutes only: a campaign that ended ten minutes ago left a streak
/// behind it, and must not look like mail nobody sent.
pub(crate) fn sustained(receivers: &[ReceiverState], sources: &[SourceState], at_ms: i64) -> Option<Fired> {
    let r = receivers.iter().find(|r| r.halves.streak().is_some())?;
    let f = receiver::sustained(r)?;
    let streak = r.halves.streak()?;
    let extra = match &f.signal {
        Signal::Sustained { per_hour, usual_per_hour, .. } => per_hour - usual_per_hour,
        _ => 0.0,
    };
    let now = sources
        .iter()
        .filter(|s| at_ms - s.last_seen_ms < signal::CALM_MS)
        .map(|s| s.recent().messages)
        .max()
        .unwrap_or(0);
    let top = streak.top.max(now) as f32 * 2.0;
    (top < 0.5 * extra).then_some(f)
}
