//! The detector glue on a real store: state kept across a restart,
//! unreadable state replaced, one warning per outbreak.
#![allow(clippy::unwrap_used)]

use rblfleet_proto::v1::{HostIp, HostReport, SourceKind, SourceStats};

use super::{Detectors, SAVE_EVERY_MS};
use crate::outbreak::HostState;
use crate::store::{Store, StoreOptions};

const HOST: &str = "web07.example";
const T0: i64 = 1_800_000_000_000;
const MIN: i64 = 60_000;

/// One minute's report from the mailbox (SASL user) and its sender address.
fn report(minute: i64, messages: u64, domains: u64, client_ips: u64, bounced: u64) -> HostReport {
    let source = |kind: SourceKind| SourceStats {
        kind: kind as i32,
        id: "info@shop.example".into(),
        messages,
        recipients: messages,
        recipient_domains: domains,
        sent: messages - bounced,
        bounced,
        client_ips: if kind == SourceKind::SaslUser { client_ips } else { 0 },
        ..Default::default()
    };
    HostReport {
        host_id: HOST.into(),
        period_start_ms: T0 + (minute - 1) * MIN,
        period_end_ms: T0 + minute * MIN,
        ips: vec![HostIp { address: "203.0.113.7".into(), public: true, sends_mail: true, ..Default::default() }],
        sources: vec![source(SourceKind::SaslUser), source(SourceKind::Sender)],
        ..Default::default()
    }
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, &StoreOptions::default()).unwrap()
}

#[test]
fn one_warning_per_outbreak_and_the_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let detectors = Detectors::default();
    // An hour of ordinary mail: nothing to say, state saved every few minutes.
    for minute in 1..=60 {
        assert!(detectors.observe(&store, &report(minute, 1, 1, 1, 0)).unwrap().is_empty());
    }
    let saved = HostState::from_bytes(&store.outbreak_state(HOST).unwrap().unwrap()).unwrap();
    assert_eq!(saved.sources().len(), 2);
    // The mailbox is hijacked: one warning (the mailbox; its own address as
    // a sender is folded into it), refreshed while it lasts.
    let mut opened = Vec::new();
    for minute in 61..=70 {
        let records = detectors.observe(&store, &report(minute, 400, 300, 40, 120)).unwrap();
        opened.extend(records.into_iter().filter(|w| w.first_seen_ms == w.last_seen_ms));
    }
    assert_eq!(opened.len(), 1, "{opened:?}");
    assert_eq!(
        (opened[0].source_kind, opened[0].source_id.as_str()),
        (SourceKind::SaslUser as i32, "info@shop.example")
    );
    let stored = store.warnings_of(HOST).unwrap();
    assert_eq!(stored.len(), 1);
    // Refreshed with the periodic save, not at every report.
    assert_eq!(stored[0].cleared_ms, 0);
    assert!(stored[0].last_seen_ms > stored[0].first_seen_ms && stored[0].last_seen_ms <= T0 + 70 * MIN, "{stored:?}");

    // A restart: the detector resumes from the saved state and the same
    // episode stays open (no second warning for the same outbreak).
    drop(detectors);
    let detectors = Detectors::default();
    let records = detectors.observe(&store, &report(71, 400, 300, 40, 120)).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!((records[0].first_seen_ms, records[0].last_seen_ms), (opened[0].first_seen_ms, T0 + 71 * MIN));
    assert_eq!(store.warnings_of(HOST).unwrap().len(), 1);
}

#[test]
fn unreadable_state_is_replaced_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.save_outbreak(HOST, b"\x09not a state", &[]).unwrap();
    let detectors = Detectors::default();
    assert!(detectors.observe(&store, &report(1, 1, 1, 1, 0)).unwrap().is_empty());
    // The first observation saves a fresh state over the unreadable one.
    let raw = store.outbreak_state(HOST).unwrap().unwrap();
    assert!(HostState::from_bytes(&raw).is_ok());
    // And it is saved again only after SAVE_EVERY_MS of quiet reports.
    let minutes = SAVE_EVERY_MS / MIN;
    for minute in 2..=minutes {
        detectors.observe(&store, &report(minute, 1, 1, 1, 0)).unwrap();
    }
    assert_eq!(store.outbreak_state(HOST).unwrap().unwrap(), raw, "not saved before {minutes} minutes");
    detectors.observe(&store, &report(minutes + 1, 1, 1, 1, 0)).unwrap();
    assert_ne!(store.outbreak_state(HOST).unwrap().unwrap(), raw);
}

#[test]
fn silent_hosts_leave_memory_saved_and_come_back_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let detectors = Detectors::default();
    // web07 reports for 3 minutes (not yet due for its periodic save).
    for minute in 1..=3 {
        detectors.observe(&store, &report(minute, 1, 1, 1, 0)).unwrap();
    }
    assert_eq!(detectors.cached(), 1);
    // Another host reports past EVICT_AFTER_MS later: web07 is saved and dropped.
    let later = 3 + super::EVICT_AFTER_MS / MIN + super::SWEEP_EVERY_MS / MIN;
    let mut other = report(later, 1, 1, 1, 0);
    other.host_id = "web08.example".into();
    detectors.observe(&store, &other).unwrap();
    assert_eq!(detectors.cached(), 1, "only web08 is in memory");
    let saved = HostState::from_bytes(&store.outbreak_state(HOST).unwrap().unwrap()).unwrap();
    assert_eq!(saved.sources().len(), 2, "web07's state was saved with its sources before it left");
    // web07's next report loads it again: its sources are still known.
    detectors.observe(&store, &report(later + 1, 1, 1, 1, 0)).unwrap();
    assert_eq!(detectors.cached(), 2);
}

#[test]
fn a_new_host_costs_no_save_until_due_and_a_changed_state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let detectors = Detectors::default();
    // The first report of a new host: nothing the store lacks, no save.
    detectors.observe(&store, &report(1, 1, 1, 1, 0)).unwrap();
    assert!(store.outbreak_state(HOST).unwrap().is_none(), "a new host's first report saved its state");
    // Within one SAVE_EVERY_MS (at the host's own phase) it is saved.
    for minute in 2..=1 + SAVE_EVERY_MS / MIN {
        detectors.observe(&store, &report(minute, 1, 1, 1, 0)).unwrap();
    }
    let saved = HostState::from_bytes(&store.outbreak_state(HOST).unwrap().unwrap()).unwrap();
    assert_eq!(saved.sources().len(), 2);
    // An outbreak changes the state: saved with its warning at once, and a
    // restarted detector continues the same episode.
    let mut opened = Vec::new();
    for minute in 10..=20 {
        opened.extend(detectors.observe(&store, &report(minute, 400, 300, 40, 120)).unwrap());
        if !opened.is_empty() {
            break;
        }
    }
    let first = opened.first().cloned().unwrap();
    let warned = HostState::from_bytes(&store.outbreak_state(HOST).unwrap().unwrap()).unwrap();
    assert!(warned.sources().iter().any(|s| s.is_warned()), "the warned state was saved at the event");
    drop(detectors);
    let detectors = Detectors::default();
    let records = detectors.observe(&store, &report(21, 400, 300, 40, 120)).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0].first_seen_ms, first.first_seen_ms, "the same episode, not a second warning");
}
