//! Certificate expiry alerts: agents' client certificates (as last seen by
//! the agent API), the controller's own certificate and the CAs it trusts.
//!
//! A certificate is announced when it enters the warning window
//! (`alerts.thresholds.certificate_expiry`, 30 days by default) and again
//! at each reminder (14, 7, 3 and 1 days left, then expired): once per step
//! crossed between two sweeps, never on every sweep, and at most once a day
//! per certificate since no two steps are closer than a day.
//!
//! As everywhere in the detector, a certificate's first sighting is its
//! baseline: after a restart the agents' certificates come back with their
//! first reports and are not announced again for a step already crossed.
//! The next step, `/metrics` and the Prometheus rule cover what the
//! baseline hides (a host added with a certificate already inside the window).

use std::collections::BTreeMap;
use std::time::Duration;

use super::event::{Event, EventKind, Severity};
use crate::ca::expiry::{CertKind, OwnFiles, days_left, registry};

/// Reminders after the window opens, in days left; 0 is "expired".
const REMINDER_DAYS: [i64; 5] = [14, 7, 3, 1, 0];

const DAY_MS: i64 = 86_400_000;

/// notAfter (Unix ms) by (kind, name).
pub type Certs = BTreeMap<(CertKind, String), i64>;

/// Every certificate's expiry now: the agents' from the registry, the
/// controller's files read from disk (an unreadable file is left out and
/// logged at debug level: `/metrics` reports it as a failed collector and
/// `rblfleet doctor` names it).
pub fn collect(tls: Option<&OwnFiles>) -> Certs {
    let mut certs: Certs = BTreeMap::new();
    for e in registry().agents() {
        certs.insert((e.kind, e.name), e.not_after_ms);
    }
    match tls.map(OwnFiles::read) {
        Some(Ok(own)) => certs.extend(own.into_iter().map(|e| ((e.kind, e.name), e.not_after_ms))),
        Some(Err(error)) => tracing::debug!(%error, "alerts: cannot read the controller's certificate files"),
        None => {}
    }
    certs
}

/// How many steps (the window's start, then each reminder) a certificate
/// has passed at `at_ms`: 0 outside the window.
fn step(not_after_ms: i64, at_ms: i64, window: Duration) -> usize {
    let left = not_after_ms - at_ms;
    if left > crate::clock::millis(window) {
        return 0;
    }
    // Reminders at or beyond the window are the window's own step.
    let window_days = i64::try_from(window.as_secs() / 86_400).unwrap_or(i64::MAX);
    1 + REMINDER_DAYS.iter().filter(|&&d| d < window_days && left <= d * DAY_MS).count()
}

/// The events for certificates that passed a step between `prev` (at
/// `prev_at`) and `cur` (at `cur_at`). Pure, for the detector's `diff`.
pub fn diff(prev: &Certs, prev_at: i64, cur: &Certs, cur_at: i64, window: Duration) -> Vec<Event> {
    let mut events = Vec::new();
    for ((kind, name), &not_after_ms) in cur {
        // First sighting: the baseline.
        let Some(&before) = prev.get(&(*kind, name.clone())) else { continue };
        if step(not_after_ms, cur_at, window) <= step(before, prev_at, window) {
            continue;
        }
        let days = days_left(not_after_ms, cur_at);
        let severity = if days <= 7 { Severity::Critical } else { Severity::Warning };
        events.push(Event {
            severity,
            at_ms: cur_at,
            kind: EventKind::CertificateExpiring {
                certificate: kind.as_str().to_string(),
                name: name.clone(),
                not_after_ms,
                days_left: days,
            },
        });
    }
    events
}

#[cfg(test)]
mod tests;
