#![allow(clippy::unwrap_used)]

use super::*;
use crate::ca::{self, Subject};

const DAY: i64 = DAY_MS;
const WINDOW: Duration = Duration::from_secs(30 * 86_400);

/// The notAfter of a certificate issued by the CA code for `days`.
fn issued(dir: &std::path::Path, host: &str, days: i64) -> i64 {
    let certs = ca::issue(dir, &Subject::Agent { host_id: host.into() }, days, true).unwrap();
    crate::ca::expiry::read_pem_file(&certs.cert).unwrap()[0].not_after_ms
}

fn certs(entries: &[(CertKind, &str, i64)]) -> Certs {
    entries.iter().map(|(k, n, at)| ((*k, n.to_string()), *at)).collect()
}

/// What each sweep announced, as "severity:title".
fn titles(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| format!("{}:{}", e.severity.as_str(), e.title())).collect()
}

/// A real agent certificate issued for 40 days, watched by a sweep every
/// 30 seconds from 40 days before its expiry to 2 days after: announced on
/// entering the window, then at 14, 7, 3, 1 days and at expiry, never
/// twice for one step, never twice in a day.
#[test]
fn an_agent_certificate_is_announced_once_per_step_not_per_sweep() {
    let dir = tempfile::tempdir().unwrap();
    ca::init(dir.path(), "test CA", 3650).unwrap();
    let not_after = issued(dir.path(), "web07.example", 40);
    let cert = certs(&[(CertKind::Agent, "web07.example", not_after)]);

    let sweep = 30_000;
    let mut at = not_after - 40 * DAY;
    let mut announced: Vec<(i64, Event)> = Vec::new();
    while at < not_after + 2 * DAY {
        for e in diff(&cert, at, &cert, at + sweep, WINDOW) {
            announced.push((at + sweep, e));
        }
        at += sweep;
    }
    let days: Vec<i64> = announced
        .iter()
        .map(|(_, e)| match &e.kind {
            EventKind::CertificateExpiring { days_left, .. } => *days_left,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(days, [30, 14, 7, 3, 1, 0], "one event per step");
    for pair in announced.windows(2) {
        assert!(pair[1].0 - pair[0].0 >= DAY, "two events within a day: {:?}", titles(&[pair[0].1.clone()]));
    }
    let all: Vec<Event> = announced.into_iter().map(|(_, e)| e).collect();
    let titles = titles(&all);
    assert_eq!(titles[0], "warning:web07.example: agent certificate expires in 30 days");
    assert_eq!(titles[2], "critical:web07.example: agent certificate expires in 7 days");
    assert_eq!(titles[4], "critical:web07.example: agent certificate expires within a day");
    assert_eq!(titles[5], "critical:web07.example: agent certificate has expired");
    assert_eq!(all[0].hosts(), ["web07.example"], "routes filter agent alerts by host");
    let details = all[0].details().join("\n");
    assert!(details.contains("rblfleet ca renew --within 30d --host web07.example"), "{details}");
}

/// First sightings are baselines (a restart refills the registry without
/// re-announcing), a renewal takes a certificate out of the window without
/// an event, and the controller's and the CA's certificates have their own
/// titles and no host.
#[test]
fn first_sightings_and_renewals_are_quiet() {
    let dir = tempfile::tempdir().unwrap();
    ca::init(dir.path(), "test CA", 3650).unwrap();
    let short = issued(dir.path(), "web01", 10);
    let now = crate::clock::now_ms();
    let before = Certs::new();
    let after = certs(&[(CertKind::Agent, "web01", short)]);
    assert!(diff(&before, now - 30_000, &after, now, WINDOW).is_empty(), "first sighting");

    let renewed = issued(dir.path(), "web01", 825);
    let cur = certs(&[(CertKind::Agent, "web01", renewed)]);
    assert!(diff(&after, now, &cur, now + 30_000, WINDOW).is_empty(), "renewed: out of the window");

    let own_prev =
        certs(&[(CertKind::Controller, "c.example", now + 31 * DAY), (CertKind::Ca, "test CA", now + 8 * DAY)]);
    let own_cur =
        certs(&[(CertKind::Controller, "c.example", now + 31 * DAY), (CertKind::Ca, "test CA", now + 8 * DAY)]);
    // A day later: the controller's enters the window, the CA's passes 7 days.
    let events = diff(&own_prev, now, &own_cur, now + DAY, WINDOW);
    assert_eq!(
        titles(&events),
        [
            "warning:controller certificate (c.example) expires in 30 days",
            "critical:CA certificate \"test CA\" expires in 7 days",
        ]
    );
    assert!(events.iter().all(|e| e.hosts().is_empty()));
}

/// A shorter window: the reminders inside it still come, the ones beyond it
/// are the window's own step.
#[test]
fn a_seven_day_window_starts_at_seven_days() {
    let at = 1_000 * DAY;
    let window = Duration::from_secs(7 * 86_400);
    assert_eq!(step(at + 8 * DAY, at, window), 0);
    assert_eq!(step(at + 7 * DAY, at, window), 1);
    assert_eq!(step(at + 3 * DAY, at, window), 2);
    assert_eq!(step(at + DAY, at, window), 3);
    assert_eq!(step(at - 1, at, window), 4);
}
