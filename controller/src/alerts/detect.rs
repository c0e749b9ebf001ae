//! The detector's decisions: two snapshots of fleet state in, events out.
//! Pure (no store, no clock), so every rule is unit-tested.
//!
//! Conditions that depend on time (a silent agent, a long wait on a case)
//! are evaluated at each snapshot's own `at_ms`, and an event fires when a
//! condition turns true between two snapshots: once per crossing, not once
//! per sweep. The first snapshot after start-up is the baseline and is
//! never diffed against nothing, so a restart does not re-announce what
//! was already known.

use crate::dnsbl::engine::ZoneState as ServiceState;
use std::collections::BTreeMap;

use super::config::Thresholds;
use super::event::{Delist, Event, EventKind, ListingInfo, OutbreakInfo, Severity};

/// An open listing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Listed {
    pub info: ListingInfo,
    /// The case says this listing came back within 30 days of a resolution.
    pub relisting: bool,
    /// The report's severity (3 big receivers, 2 some, 1 policy only).
    pub severity: u32,
}

/// What the detector knows about a host.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostState {
    pub last_report_ms: i64,
    /// The agent's report interval (its latest report's period); 0 = unknown.
    pub interval_ms: i64,
    /// Messages in the queue at the latest report; None without a queue collector.
    pub queue: Option<u64>,
}

/// A blocklist zone's service state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneState {
    pub zone: String,
    pub state: ServiceState,
    pub reason: String,
}

/// A case waiting on the list operator (delist_requested).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CaseWait {
    pub ip: String,
    pub list_id: String,
    pub list: String,
    /// When the removal was (last) requested.
    pub since_ms: i64,
    pub delist: Delist,
}

/// Fleet state at one sweep.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub at_ms: i64,
    /// By (ip, list id).
    pub listings: BTreeMap<(String, String), Listed>,
    pub hosts: BTreeMap<String, HostState>,
    pub zones: BTreeMap<String, ZoneState>,
    /// Cases in delist_requested, by id.
    pub waiting: BTreeMap<u64, CaseWait>,
    /// Active early warnings, by (host, source kind, source, first seen).
    pub warnings: BTreeMap<(String, String, String, i64), OutbreakInfo>,
    /// Certificate expiries (agents, the controller, its CAs).
    pub certs: super::certs::Certs,
}

/// Used when an agent's interval is unknown (its reports carry no period).
pub const DEFAULT_INTERVAL_MS: i64 = 60_000;

fn secs(ms: i64) -> u64 {
    u64::try_from(ms.max(0) / 1000).unwrap_or(0)
}

impl HostState {
    fn silent_for(&self, at_ms: i64, intervals: u32) -> Option<i64> {
        let interval = if self.interval_ms > 0 { self.interval_ms } else { DEFAULT_INTERVAL_MS };
        let silent = at_ms - self.last_report_ms;
        (silent > interval.saturating_mul(i64::from(intervals))).then_some(silent)
    }

    fn queue_high(&self, threshold: u64) -> bool {
        self.queue.is_some_and(|q| q > threshold)
    }
}

/// The events between `prev` and `cur`, in a stable order: listings, then
/// cases, hosts, early warnings, certificates and zones, each by key.
pub fn diff(prev: &Snapshot, cur: &Snapshot, t: &Thresholds) -> Vec<Event> {
    let mut events = Vec::new();
    let mut push = |severity, kind| events.push(Event { severity, at_ms: cur.at_ms, kind });
    let listed_for = |l: &Listed| secs(cur.at_ms - l.info.since_ms);

    for (key, now) in &cur.listings {
        let before = prev.listings.get(key);
        if let Some(old) = before {
            if old.info.since_ms == now.info.since_ms {
                continue;
            }
            // Cleared and listed again between two sweeps: two events.
            push(Severity::Info, EventKind::Cleared { listing: old.info.clone(), listed_for_secs: listed_for(old) });
        }
        let severity = Severity::of_listing(now.severity, now.relisting);
        let listing = now.info.clone();
        push(severity, if now.relisting { EventKind::Relisted { listing } } else { EventKind::Listed { listing } });
    }
    for (key, old) in &prev.listings {
        if !cur.listings.contains_key(key) {
            push(Severity::Info, EventKind::Cleared { listing: old.info.clone(), listed_for_secs: listed_for(old) });
        }
    }

    let case_waiting_ms = crate::clock::millis(t.case_waiting);
    let over = |s: &Snapshot, c: &CaseWait| s.at_ms - c.since_ms > case_waiting_ms;
    for (id, case) in &cur.waiting {
        let was_over = prev.waiting.get(id).is_some_and(|old| old.since_ms == case.since_ms && over(prev, old));
        if over(cur, case) && !was_over {
            push(
                Severity::Warning,
                EventKind::CaseWaiting {
                    case_id: *id,
                    ip: case.ip.clone(),
                    list_id: case.list_id.clone(),
                    list: case.list.clone(),
                    waiting_secs: secs(cur.at_ms - case.since_ms),
                    delist: case.delist.clone(),
                },
            );
        }
    }

    for (host, now) in &cur.hosts {
        let old = prev.hosts.get(host);
        if now.queue_high(t.queue_messages) && !old.is_some_and(|o| o.queue_high(t.queue_messages)) {
            let messages = now.queue.unwrap_or(0);
            push(Severity::Warning, EventKind::QueueHigh { host: host.clone(), messages, threshold: t.queue_messages });
        }
        let was_silent = old.is_some_and(|o| o.silent_for(prev.at_ms, t.silent_intervals).is_some());
        if let (Some(silent), false) = (now.silent_for(cur.at_ms, t.silent_intervals), was_silent) {
            let interval = if now.interval_ms > 0 { now.interval_ms } else { DEFAULT_INTERVAL_MS };
            push(
                Severity::Warning,
                EventKind::AgentSilent {
                    host: host.clone(),
                    last_report_ms: now.last_report_ms,
                    silent_secs: secs(silent),
                    interval_secs: secs(interval),
                },
            );
        }
    }

    // A warning episode is announced once, when it appears; a restart's
    // first snapshot is the baseline, so it is not announced again.
    for (key, warning) in &cur.warnings {
        if !prev.warnings.contains_key(key) {
            push(t.outbreak_severity, EventKind::Outbreak { warning: warning.clone() });
        }
    }

    for e in super::certs::diff(&prev.certs, prev.at_ms, &cur.certs, cur.at_ms, t.certificate_expiry) {
        push(e.severity, e.kind);
    }

    for (id, now) in &cur.zones {
        let was_out = prev.zones.get(id).is_some_and(|o| o.state == ServiceState::OutOfService);
        if now.state == ServiceState::OutOfService && !was_out {
            push(
                Severity::Warning,
                EventKind::ZoneOutOfService { zone_id: id.clone(), zone: now.zone.clone(), reason: now.reason.clone() },
            );
        }
    }
    events
}

#[cfg(test)]
mod tests;
