//! Each stored report goes through the outbreak detector (issue 15), and
//! its warnings become records the alerts, the report and the cases read.
//!
//! The detector ([`crate::outbreak`]) is pure; this is the glue. Each host's
//! state lives in memory ([`Detectors`]) and is saved to the store when a
//! warning opens or closes, and otherwise every [`SAVE_EVERY_MS`] (when an
//! active warning's `last_seen` is refreshed too), each host at its own
//! phase of that cycle; a new host's starting state is not saved before it
//! is due or an event changes it:
//! a state is a few kilobytes, and writing every host's at every report
//! would cost the store more than the report itself. A restart resumes from
//! the saved state, losing at most those minutes of observations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

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
///
/// The map's lock is held only to find or insert a host's entry: loading,
/// saving and reading warnings go to the store under the host's own lock,
/// so one host's save (a committed transaction, milliseconds on
/// PostgreSQL) does not hold up every other host's report.
#[derive(Debug, Default)]
pub struct Detectors {
    hosts: Mutex<Hosts>,
}

#[derive(Debug, Default)]
struct Hosts {
    map: HashMap<String, Arc<Mutex<Cached>>>,
    /// Report time of the last sweep.
    swept_ms: i64,
}

#[derive(Debug)]
struct Cached {
    state: HostState,
    /// When the state was last saved, or the phase its periodic saves
    /// keep (report time, ms).
    saved_ms: i64,
    /// The host's last report (report time, ms).
    seen_ms: i64,
    /// Observed since the last save: eviction saves it first.
    dirty: bool,
}

/// Where in the [`SAVE_EVERY_MS`] cycle `host`'s periodic saves fall, so
/// that a fleet whose hosts all appear at once (a controller start, a
/// load test) does not save every state in the same second five minutes
/// later. FNV-1a: stable across processes and releases.
fn phase(host: &str) -> i64 {
    let hash = host.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    // SAVE_EVERY_MS is positive and small: the remainder fits an i64.
    i64::try_from(hash % SAVE_EVERY_MS.unsigned_abs()).unwrap_or(0)
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

/// The host's state from the store, or a fresh one, and whether it must be
/// saved now. A fresh state or a calm one read back is what the store
/// already holds (or what a restart would start from anyway), so it is not
/// saved until it is due or changes: a fleet of new hosts costs no transaction each at its
/// first report. Unreadable stored state (corrupt, or from another
/// version) is replaced at once and said in the log: it is derived data,
/// rebuilt from the reports that follow.
fn load(store: &Store, host: &str) -> Result<(HostState, bool), StoreError> {
    Ok(match store.outbreak_state(host)?.map(|raw| HostState::from_bytes(&raw)) {
        None => (HostState::new(host), false),
        // A warned host's episodes are refreshed (last_seen) at once.
        Some(Ok(state)) => {
            let warned = state.is_warned() || state.sources().iter().any(|s| s.is_warned());
            (state, warned)
        }
        Some(Err(error)) => {
            tracing::warn!(host, %error, "outbreak detector state unreadable; starting again from the priors");
            (HostState::new(host), true)
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
        if self.sweep_due(at) {
            self.evict_silent(store, at)?;
        }
        let cached = match self.cached_host(host) {
            Some(cached) => cached,
            None => {
                // Loaded without the map's lock; a concurrent first report
                // of the same host keeps whichever entry was inserted first.
                let (state, replace) = load(store, host)?;
                let saved_ms = if replace { at - SAVE_EVERY_MS } else { at - phase(host) };
                let fresh = Cached { state, saved_ms, seen_ms: at, dirty: false };
                let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
                Arc::clone(hosts.map.entry(host.to_string()).or_insert_with(|| Arc::new(Mutex::new(fresh))))
            }
        };
        // The host's own lock: its reports are observed and saved in order.
        let mut cached = cached.lock().unwrap_or_else(|p| p.into_inner());
        cached.seen_ms = cached.seen_ms.max(at);
        let events = cached.state.observe(report);
        cached.dirty = true;
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
        cached.dirty = false;
        Ok(records)
    }

    /// Hosts whose state is in memory now.
    pub fn cached(&self) -> usize {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner()).map.len()
    }

    fn cached_host(&self, host: &str) -> Option<Arc<Mutex<Cached>>> {
        self.hosts.lock().unwrap_or_else(|p| p.into_inner()).map.get(host).cloned()
    }

    /// Whether the map is due a sweep for silent hosts at `at`; claims it.
    fn sweep_due(&self, at: i64) -> bool {
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        if at - hosts.swept_ms < SWEEP_EVERY_MS {
            return false;
        }
        hosts.swept_ms = at;
        true
    }

    /// Saves (when changed since) and drops the states of hosts silent for
    /// [`EVICT_AFTER_MS`] before `at`. The saves run without the map's
    /// lock; a host is dropped only if it is still silent after its save
    /// (a report in between keeps it, with its state, in memory).
    fn evict_silent(&self, store: &Store, at: i64) -> Result<(), StoreError> {
        let silent = |c: &Cached| at - c.seen_ms >= EVICT_AFTER_MS;
        let candidates: Vec<(String, Arc<Mutex<Cached>>)> = {
            let hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            hosts
                .map
                .iter()
                // A host whose lock is taken is reporting now: not silent.
                .filter(|(_, c)| c.try_lock().is_ok_and(|c| silent(&c)))
                .map(|(h, c)| (h.clone(), Arc::clone(c)))
                .collect()
        };
        for (host, entry) in candidates {
            {
                let mut c = entry.lock().unwrap_or_else(|p| p.into_inner());
                if !silent(&c) {
                    continue;
                }
                if c.dirty {
                    store.save_outbreak(&host, &c.state.to_bytes(), &[])?;
                    c.saved_ms = at;
                    c.dirty = false;
                }
            }
            let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            let still =
                hosts.map.get(&host).is_some_and(|c| Arc::ptr_eq(c, &entry) && c.try_lock().is_ok_and(|c| silent(&c)));
            if still {
                hosts.map.remove(&host);
            }
        }
        Ok(())
    }
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
