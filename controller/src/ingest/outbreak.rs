//! Each stored report goes through the outbreak detector (issue 15), and
//! its warnings become records the alerts, the report and the cases read.
//!
//! The detector ([`crate::outbreak`]) is pure; this is the glue. Each host's
//! state lives in memory ([`Detectors`]) and is saved to the store when a
//! warning opens or closes, and otherwise every [`SAVE_EVERY_MS`] (when an
//! active warning's `last_seen` is refreshed too):
//! a state is a few kilobytes, and writing every host's at every report
//! would cost the store more than the report itself. A restart resumes from
//! the saved state, losing at most those minutes of observations.

use std::collections::HashMap;
use std::sync::Mutex;

use rblfleet_proto::v1::{HostReport, OutbreakWarning, SourceKind};

use crate::outbreak::{Event, HostState, Subject};
use crate::store::{Store, StoreError};

/// A host's state is saved at least this often while it reports.
pub const SAVE_EVERY_MS: i64 = 5 * 60_000;
/// A host silent this long (report time) leaves memory, saved first; its
/// next report loads it again. Bounds memory to the hosts reporting now
/// (a state is up to ~130 KB): a decommissioned or renamed host, or a
/// fleet that churns, no longer grows the map for the process's lifetime.
pub const EVICT_AFTER_MS: i64 = 6 * 3_600_000;
/// How often (report time) the map is swept for silent hosts: a sweep
/// walks every cached host, so not at every report.
pub const SWEEP_EVERY_MS: i64 = 10 * 60_000;

/// The detector states of the hosts that reported recently.
#[derive(Debug, Default)]
pub struct Detectors {
    hosts: Mutex<Hosts>,
}

#[derive(Debug, Default)]
struct Hosts {
    map: HashMap<String, Cached>,
    /// Report time of the last sweep.
    swept_ms: i64,
}

#[derive(Debug)]
struct Cached {
    state: HostState,
    /// When the state was last saved (report time, ms); 0: never.
    saved_ms: i64,
    /// The host's last report (report time, ms).
    seen_ms: i64,
}

/// A subject as the warning records key it: (source kind, source id); the
/// host itself is (UNSPECIFIED, "").
fn subject_key(subject: &Subject) -> (i32, &str) {
    match subject {
        Subject::Host => (SourceKind::Unspecified as i32, ""),
        Subject::Source { kind, id, .. } => (*kind as i32, id.as_str()),
    }
}

/// Whether a warning about the envelope sender `subject` adds nothing: the
/// agent counts a message under every source it can name (the mailbox that
/// logged in, the script, the sender address), so one hijacked mailbox also
/// makes its own address warn as a sender. The more specific source on the
/// same host speaks for it.
fn folded(state: &HostState, subject: &Subject) -> bool {
    matches!(subject, Subject::Source { kind: SourceKind::Sender, .. })
        && state.sources().iter().any(|s| s.is_warned() && s.source_kind() != SourceKind::Sender)
}

/// Whether the detector still has `(kind, id)` warned.
fn still_warned(state: &HostState, kind: i32, id: &str) -> bool {
    if kind == SourceKind::Unspecified as i32 && id.is_empty() {
        return state.is_warned();
    }
    state.sources().iter().any(|s| s.kind == kind && s.id == id && s.is_warned())
}

/// The host's state from the store, or a fresh one. Unreadable stored state
/// (corrupt, or from another version) is replaced and said in the log: it
/// is derived data, rebuilt from the reports that follow.
fn load(store: &Store, host: &str) -> Result<(HostState, i64), StoreError> {
    Ok(match store.outbreak_state(host)?.map(|raw| HostState::from_bytes(&raw)) {
        None => (HostState::new(host), 0),
        Some(Ok(state)) => (state, 0),
        Some(Err(error)) => {
            tracing::warn!(host, %error, "outbreak detector state unreadable; starting again from the priors");
            (HostState::new(host), 0)
        }
    })
}

impl Detectors {
    /// Feeds `report` (already stored) to its host's detector; returns the
    /// warning records written (new, refreshed or cleared), empty when the
    /// host is calm.
    pub fn observe(&self, store: &Store, report: &HostReport) -> Result<Vec<OutbreakWarning>, StoreError> {
        let host = report.host_id.as_str();
        let at = report.period_end_ms;
        // One lock for the map: observing is microseconds, and a save (a
        // few per second fleet-wide) is one small sled transaction.
        let mut guard = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        let hosts = &mut *guard;
        if at - hosts.swept_ms >= SWEEP_EVERY_MS {
            hosts.swept_ms = at;
            evict_silent(store, &mut hosts.map, at)?;
        }
        if !hosts.map.contains_key(host) {
            let (state, saved_ms) = load(store, host)?;
            hosts.map.insert(host.to_string(), Cached { state, saved_ms, seen_ms: at });
        }
        let Some(cached) = hosts.map.get_mut(host) else { return Ok(Vec::new()) };
        cached.seen_ms = cached.seen_ms.max(at);
        let events = cached.state.observe(report);
        let state = &cached.state;
        // A warning's last_seen is refreshed with the periodic save, not at
        // every report: a warned host would otherwise write its whole state
        // each minute.
        let due = at - cached.saved_ms >= SAVE_EVERY_MS;
        let warned = state.is_warned() || state.sources().iter().any(|s| s.is_warned());
        if events.is_empty() && !due {
            return Ok(Vec::new());
        }
        let records = if events.is_empty() && !warned { Vec::new() } else { records(store, state, events, at)? };
        store.save_outbreak(host, &state.to_bytes(), &records)?;
        cached.saved_ms = at;
        Ok(records)
    }
}

impl Detectors {
    /// Hosts whose state is in memory now.
    pub fn cached(&self) -> usize {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner()).map.len()
    }
}

/// Saves (when changed since) and drops the states of hosts silent for
/// [`EVICT_AFTER_MS`] before `at`.
fn evict_silent(store: &Store, map: &mut HashMap<String, Cached>, at: i64) -> Result<(), StoreError> {
    let silent: Vec<String> =
        map.iter().filter(|(_, c)| at - c.seen_ms >= EVICT_AFTER_MS).map(|(h, _)| h.clone()).collect();
    for host in silent {
        if let Some(c) = map.get(&host) {
            if c.saved_ms < c.seen_ms {
                store.save_outbreak(&host, &c.state.to_bytes(), &[])?;
            }
            map.remove(&host);
        }
    }
    Ok(())
}

/// The host's warning records after `events`: new episodes opened, cleared
/// ones closed, the rest of the active ones refreshed.
fn records(store: &Store, state: &HostState, events: Vec<Event>, at: i64) -> Result<Vec<OutbreakWarning>, StoreError> {
    let host = state.host_id.as_str();
    let mut active: Vec<OutbreakWarning> = store.warnings_of(host)?.into_iter().filter(|w| w.cleared_ms == 0).collect();
    for event in events {
        match event {
            Event::Cleared(cleared) => {
                let (kind, id) = subject_key(&cleared.subject);
                for w in active.iter_mut().filter(|w| w.source_kind == kind && w.source_id == id) {
                    w.cleared_ms = at;
                    w.last_seen_ms = at;
                }
            }
            Event::Warning(warning) if folded(state, &warning.subject) => {}
            Event::Warning(warning) => {
                let (kind, id) = subject_key(&warning.subject);
                // An episode the detector forgot (reset state) ends here.
                for w in active.iter_mut().filter(|w| w.source_kind == kind && w.source_id == id) {
                    w.cleared_ms = at;
                }
                let subscription = match &warning.subject {
                    Subject::Source { subscription, .. } => subscription.clone(),
                    Subject::Host => String::new(),
                };
                active.push(OutbreakWarning {
                    host_id: warning.host_id,
                    ips: warning.ips,
                    source_kind: kind,
                    source_id: id.to_string(),
                    score: f64::from(warning.score),
                    reasons: warning.reasons,
                    first_step: warning.first_step,
                    first_seen_ms: warning.at_ms,
                    last_seen_ms: warning.at_ms,
                    cleared_ms: 0,
                    leads: Vec::new(),
                    subscription,
                });
            }
        }
    }
    for w in &mut active {
        if w.cleared_ms == 0 {
            if still_warned(state, w.source_kind, &w.source_id) {
                w.last_seen_ms = w.last_seen_ms.max(at);
            } else {
                // Evicted or reset without a Cleared event: closed, not left open.
                w.cleared_ms = at;
            }
        }
    }
    Ok(active)
}

#[cfg(test)]
mod tests;
