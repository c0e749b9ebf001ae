//! The detector's rules on hand-made snapshots.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::{CaseWait, HostState, Listed, Snapshot, ZoneState, diff};
use crate::alerts::config::Thresholds;
use crate::alerts::event::{EventKind, ListingInfo, Severity};
use crate::dnsbl::engine::ZoneState as ServiceState;

const MIN: i64 = 60_000;

fn thresholds() -> Thresholds {
    Thresholds {
        case_waiting: Duration::from_secs(3600),
        queue_messages: 500,
        silent_intervals: 3,
        outbreak_severity: Severity::Warning,
        certificate_expiry: Duration::from_secs(30 * 86_400),
    }
}

fn listed(ip: &str, list: &str, since_ms: i64, severity: u32, relisting: bool) -> ((String, String), Listed) {
    let info = ListingInfo {
        ip: ip.into(),
        list_id: list.into(),
        list: format!("{list}.test"),
        hosts: vec!["web07".into()],
        since_ms,
        ..ListingInfo::default()
    };
    ((ip.into(), list.into()), Listed { info, relisting, severity })
}

fn at(ms: i64) -> Snapshot {
    Snapshot { at_ms: ms, ..Snapshot::default() }
}

fn kinds(events: &[crate::alerts::event::Event]) -> Vec<String> {
    events.iter().map(|e| format!("{}:{}", e.severity.as_str(), e.title())).collect()
}

#[test]
fn an_unchanged_fleet_says_nothing() {
    let mut a = at(10 * MIN);
    a.listings.extend([listed("203.0.113.7", "zen", MIN, 3, false)]);
    a.hosts.insert("web07".into(), HostState { last_report_ms: 10 * MIN, interval_ms: MIN, queue: Some(900) });
    a.zones.insert(
        "bl".into(),
        ZoneState { zone: "bl.test".into(), state: ServiceState::OutOfService, reason: "x".into() },
    );
    let mut b = a.clone();
    b.at_ms = 11 * MIN;
    b.hosts.get_mut("web07").unwrap().last_report_ms = 11 * MIN;
    assert!(diff(&a, &b, &thresholds()).is_empty(), "a known listing, queue or zone state is not news");
}

#[test]
fn new_listing_relisting_and_cleared() {
    let mut a = at(10 * MIN);
    a.listings.extend([listed("203.0.113.7", "zen", MIN, 3, false), listed("203.0.113.8", "pbl", MIN, 1, false)]);
    let mut b = at(11 * MIN);
    b.listings.extend([
        listed("203.0.113.8", "pbl", MIN, 1, false),
        listed("203.0.113.9", "sorbs", 11 * MIN, 2, false),
        listed("203.0.113.10", "pbl", 11 * MIN, 1, true),
    ]);
    let events = diff(&a, &b, &thresholds());
    assert_eq!(
        kinds(&events),
        [
            "warning:203.0.113.10 listed again on pbl.test (relisting within 30 days)",
            "warning:203.0.113.9 listed on sorbs.test",
            "info:203.0.113.7 no longer listed on zen.test",
        ],
        "a relisting is at least a warning, even on a policy list"
    );
    match &events[2].kind {
        EventKind::Cleared { listed_for_secs, .. } => assert_eq!(*listed_for_secs, 600),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_listing_that_cleared_and_returned_between_sweeps_is_two_events() {
    let mut a = at(10 * MIN);
    a.listings.extend([listed("203.0.113.7", "zen", MIN, 3, false)]);
    let mut b = at(20 * MIN);
    b.listings.extend([listed("203.0.113.7", "zen", 15 * MIN, 3, true)]);
    let events = diff(&a, &b, &thresholds());
    assert!(matches!(events[0].kind, EventKind::Cleared { .. }), "{events:?}");
    assert!(matches!(events[1].kind, EventKind::Relisted { .. }) && events[1].severity == Severity::Critical);
}

#[test]
fn case_waiting_fires_once_when_it_crosses_the_threshold() {
    let case = CaseWait {
        ip: "203.0.113.7".into(),
        list_id: "zen".into(),
        list: "zen".into(),
        since_ms: 0,
        ..Default::default()
    };
    let snap = |ms: i64, case: Option<CaseWait>| {
        let mut s = at(ms);
        s.waiting.extend(case.map(|c| (4, c)));
        s
    };
    let t = thresholds();
    assert!(diff(&snap(30 * MIN, Some(case.clone())), &snap(59 * MIN, Some(case.clone())), &t).is_empty());
    let events = diff(&snap(59 * MIN, Some(case.clone())), &snap(61 * MIN, Some(case.clone())), &t);
    assert_eq!(kinds(&events), ["warning:case 4 (203.0.113.7 on zen) waiting on delisting for 61 min"]);
    assert!(diff(&snap(61 * MIN, Some(case.clone())), &snap(90 * MIN, Some(case.clone())), &t).is_empty(), "once");
    // Requested again (a resubmission): the wait starts over.
    let again = CaseWait { since_ms: 80 * MIN, ..case.clone() };
    assert!(diff(&snap(79 * MIN, Some(case.clone())), &snap(81 * MIN, Some(again.clone())), &t).is_empty());
    assert_eq!(diff(&snap(81 * MIN, Some(again.clone())), &snap(141 * MIN, Some(again)), &t).len(), 1);
}

#[test]
fn queue_crossing_and_silent_agents() {
    let t = thresholds();
    let host = |last: i64, queue| HostState { last_report_ms: last, interval_ms: MIN, queue };
    let snap = |ms: i64, h: HostState| {
        let mut s = at(ms);
        s.hosts.insert("web07".into(), h);
        s
    };
    // Queue: alert when it goes above the threshold, not while it stays there.
    let events = diff(&snap(MIN, host(MIN, Some(500))), &snap(2 * MIN, host(2 * MIN, Some(501))), &t);
    assert_eq!(kinds(&events), ["warning:web07: mail queue at 501 messages (threshold 500)"]);
    assert!(diff(&snap(2 * MIN, host(2 * MIN, Some(501))), &snap(3 * MIN, host(3 * MIN, Some(9000))), &t).is_empty());
    assert_eq!(diff(&snap(3 * MIN, host(3 * MIN, Some(10))), &snap(4 * MIN, host(4 * MIN, Some(800))), &t).len(), 1);
    assert!(diff(&snap(MIN, host(MIN, None)), &snap(2 * MIN, host(2 * MIN, None)), &t).is_empty(), "no collector");

    // Silent: more than 3 intervals without a report, once.
    let last = 10 * MIN;
    assert!(diff(&snap(12 * MIN, host(last, None)), &snap(13 * MIN, host(last, None)), &t).is_empty(), "3 intervals");
    let events = diff(&snap(13 * MIN, host(last, None)), &snap(13 * MIN + 1000, host(last, None)), &t);
    assert_eq!(kinds(&events), ["warning:web07: agent silent for 3 min"]);
    assert!(diff(&snap(14 * MIN, host(last, None)), &snap(60 * MIN, host(last, None)), &t).is_empty(), "once");
    // It reports again, then goes silent again: a new alert.
    let back = 61 * MIN;
    assert!(diff(&snap(60 * MIN, host(last, None)), &snap(back, host(back, None)), &t).is_empty());
    assert_eq!(diff(&snap(back, host(back, None)), &snap(back + 4 * MIN, host(back, None)), &t).len(), 1);
    // An agent whose interval is unknown counts with the default minute.
    let unknown = HostState { last_report_ms: 0, interval_ms: 0, queue: None };
    assert_eq!(diff(&snap(MIN, unknown), &snap(4 * MIN, unknown), &t).len(), 1);
}

#[test]
fn a_zone_out_of_service_alerts_once() {
    let zone = |state: &str| ZoneState {
        zone: "<key>.dqs.test".into(),
        state: ServiceState::from_wire(state).unwrap(),
        reason: "lists 127.0.0.1".into(),
    };
    let snap = |ms: i64, state: &str| {
        let mut s = at(ms);
        s.zones.insert("dqs".into(), zone(state));
        s
    };
    let t = thresholds();
    let events = diff(&snap(MIN, "in_service"), &snap(2 * MIN, "out_of_service"), &t);
    assert_eq!(kinds(&events), ["warning:blocklist zone <key>.dqs.test out of service"]);
    assert_eq!(diff(&snap(MIN, "unchecked"), &snap(2 * MIN, "out_of_service"), &t).len(), 1);
    assert!(diff(&snap(2 * MIN, "out_of_service"), &snap(3 * MIN, "out_of_service"), &t).is_empty());
    assert!(diff(&snap(3 * MIN, "out_of_service"), &snap(4 * MIN, "in_service"), &t).is_empty());
}

#[test]
fn an_early_warning_is_announced_once_with_its_own_severity() {
    use crate::alerts::event::OutbreakInfo;
    let key = ("web07".to_string(), "mailbox".to_string(), "info@shop.example".to_string(), 5 * MIN);
    let info = OutbreakInfo {
        host: "web07".into(),
        ips: vec!["203.0.113.7".into()],
        source_kind: "mailbox".into(),
        source: "info@shop.example".into(),
        score: 4.0,
        reasons: vec!["logged in from 37 client IPs (usual 1)".into()],
        first_step: "suspend the mailbox".into(),
        since_ms: 5 * MIN,
        ..OutbreakInfo::default()
    };
    let (a, mut b) = (at(10 * MIN), at(11 * MIN));
    b.warnings.insert(key.clone(), info);
    let mut t = thresholds();
    t.outbreak_severity = Severity::Critical;
    let events = diff(&a, &b, &t);
    assert_eq!(
        kinds(&events),
        ["critical:web07: possible outbreak from mailbox info@shop.example, before any listing"]
    );
    let details = events[0].details();
    assert!(details.iter().any(|d| d == "IPs at risk (not listed yet): 203.0.113.7"), "{details:?}");
    assert!(details.iter().any(|d| d == "first step: suspend the mailbox"), "{details:?}");
    assert_eq!(events[0].hosts(), ["web07"]);
    // Still active at the next sweep: not news. Cleared: nothing either.
    let mut c = b.clone();
    c.at_ms = 12 * MIN;
    assert!(diff(&b, &c, &t).is_empty());
    assert!(diff(&c, &at(13 * MIN), &t).is_empty());
}
