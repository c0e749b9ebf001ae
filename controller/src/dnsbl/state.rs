//! What one check outcome does to the stored state of an (IP, zone).
//!
//! Pure: previous state + outcome + time → next state and the episode to
//! write. A listing opens an episode; it closes only after `clear_after`
//! consecutive clean answers (one clean answer between two listed ones is
//! usually a flapping mirror, not a delisting). An error neither opens nor
//! closes anything: it only makes the pair due again sooner, with backoff.

use std::time::Duration;

use crate::clock::millis;

use rblfleet_proto::v1::{CheckStatus, ListingEpisode, ZoneCheck};

use super::lookup::{Outcome, Status};

/// How often pairs are checked, by state.
#[derive(Debug, Clone)]
pub struct Cadence {
    /// A clean pair is checked again after this.
    pub clean: Duration,
    /// A listed pair (or one being confirmed clean) is checked again after this.
    pub listed: Duration,
    /// First retry after an error; doubles per consecutive error up to `error_max`.
    pub error_min: Duration,
    pub error_max: Duration,
    /// Consecutive clean answers that close a listing episode.
    pub clear_after: u32,
}

impl Default for Cadence {
    fn default() -> Self {
        Cadence {
            clean: Duration::from_secs(4 * 3600),
            listed: Duration::from_secs(3600),
            error_min: Duration::from_secs(300),
            error_max: Duration::from_secs(2 * 3600),
            clear_after: 2,
        }
    }
}

pub fn status_of(status: Status) -> CheckStatus {
    match status {
        Status::Listed => CheckStatus::Listed,
        Status::Clean => CheckStatus::Clean,
        Status::Error => CheckStatus::Error,
        Status::Skipped => CheckStatus::Skipped,
    }
}

/// Applies `outcome` at `now_ms`. `open` is the episode that `prev` says is
/// open (loaded by the caller). Returns the new check and the episode to store.
pub fn apply(
    prev: Option<&ZoneCheck>,
    open: Option<ListingEpisode>,
    outcome: &Outcome,
    now_ms: i64,
    cadence: &Cadence,
) -> (ZoneCheck, Option<ListingEpisode>) {
    let mut check = prev.cloned().unwrap_or_else(|| ZoneCheck {
        ip: outcome.target.to_string(),
        zone_id: outcome.zone_id.clone(),
        ..ZoneCheck::default()
    });
    check.zone = outcome.zone.clone();
    check.status = status_of(outcome.status) as i32;
    check.checked_ms = now_ms;
    check.codes = outcome.codes.clone();
    check.meanings = outcome.meanings.clone();
    // A listing whose TXT was not fetched this time (the zone's budget had
    // no room, or the TXT query failed) keeps the explanation it had.
    let kept = prev.filter(|p| outcome.status == Status::Listed && p.listed_since_ms != 0).map(|p| p.txt.clone());
    check.txt = outcome.txt.clone().or(kept).unwrap_or_default();
    check.error = outcome.error.clone().or_else(|| outcome.reason.clone()).unwrap_or_default();
    let mut episode = None;
    match outcome.status {
        Status::Listed => {
            check.consecutive_clean = 0;
            check.consecutive_errors = 0;
            let mut e = match open {
                Some(e) if check.listed_since_ms != 0 => e,
                _ => {
                    check.listed_since_ms = now_ms;
                    ListingEpisode {
                        ip: check.ip.clone(),
                        zone_id: check.zone_id.clone(),
                        first_seen_ms: now_ms,
                        ..ListingEpisode::default()
                    }
                }
            };
            e.zone = check.zone.clone();
            e.last_seen_ms = now_ms;
            e.codes = check.codes.clone();
            e.meanings = check.meanings.clone();
            e.txt = check.txt.clone();
            episode = Some(e);
            check.next_due_ms = now_ms + millis(cadence.listed);
        }
        Status::Clean => {
            check.consecutive_clean = check.consecutive_clean.saturating_add(1);
            check.consecutive_errors = 0;
            if check.listed_since_ms != 0 {
                if check.consecutive_clean >= cadence.clear_after {
                    if let Some(mut e) = open {
                        e.cleared_ms = now_ms;
                        episode = Some(e);
                    }
                    check.listed_since_ms = 0;
                    check.next_due_ms = now_ms + millis(cadence.clean);
                } else {
                    // Confirm the delisting at the listed cadence.
                    check.next_due_ms = now_ms + millis(cadence.listed);
                }
            } else {
                check.next_due_ms = now_ms + millis(cadence.clean);
            }
        }
        Status::Error => {
            check.consecutive_errors = check.consecutive_errors.saturating_add(1);
            let shift = check.consecutive_errors.saturating_sub(1).min(16);
            let delay = cadence.error_min.saturating_mul(1 << shift).min(cadence.error_max);
            check.next_due_ms = now_ms + millis(delay);
        }
        Status::Skipped => check.next_due_ms = now_ms + millis(cadence.clean),
    }
    (check, episode)
}

#[cfg(test)]
mod tests;
