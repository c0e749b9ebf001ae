#![allow(clippy::unwrap_used)]

use super::*;

fn o(ip: &str, status: Status) -> Outcome {
    Outcome {
        target: crate::catalog::Target::Ip(ip.parse().unwrap()),
        zone: "z".into(),
        zone_id: "z".into(),
        status,
        codes: vec!["127.0.0.2".into()],
        meanings: vec![],
        txt: None,
        error: Some("SERVFAIL".into()),
        reason: None,
    }
}

#[test]
fn probes_detect_the_ways_a_zone_goes_bad() {
    assert!(judge(&o("127.0.0.2", Status::Listed), &o("127.0.0.1", Status::Clean)).is_ok());
    assert!(
        judge(&o("127.0.0.2", Status::Listed), &o("127.0.0.1", Status::Listed))
            .unwrap_err()
            .contains("lists everything")
    );
    assert!(
        judge(&o("127.0.0.2", Status::Clean), &o("127.0.0.1", Status::Clean)).unwrap_err().contains("lists nothing")
    );
    assert!(judge(&o("127.0.0.2", Status::Error), &o("127.0.0.1", Status::Clean)).unwrap_err().contains("SERVFAIL"));
}

#[test]
fn failures_back_off_and_a_good_probe_restores_service() {
    let p = HealthPolicy::default();
    let mut h = Health::default();
    h.probed(Err("lists nothing".into()), 0, &p);
    assert_eq!(h.next_probe_ms, 300_000);
    h.probed(Err("lists nothing".into()), 300_000, &p);
    assert_eq!(h.next_probe_ms, 900_000);
    assert!(matches!(h.state, State::OutOfService { since_ms: 0, failures: 2, .. }));
    h.probed(Ok(()), 900_000, &p);
    assert_eq!(h.state, State::InService { since_ms: 900_000 });
    for i in 0..5 {
        h.looked_up(&o("192.0.2.1", Status::Error), 1_000_000 + i, &p);
    }
    assert!(!h.in_service());
}
