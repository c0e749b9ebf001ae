#![allow(clippy::unwrap_used)]

use super::*;

fn outcome(status: Status) -> Outcome {
    Outcome {
        target: crate::catalog::Target::Ip("192.0.2.1".parse().unwrap()),
        zone: "zen.example".into(),
        zone_id: "zen".into(),
        status,
        codes: if status == Status::Listed { vec!["127.0.0.2".into()] } else { vec![] },
        meanings: vec![],
        txt: None,
        error: (status == Status::Error).then(|| "SERVFAIL".into()),
        reason: None,
    }
}

#[test]
fn a_listing_opens_extends_and_closes_after_consecutive_cleans() {
    let c = Cadence::default();
    let (s1, e1) = apply(None, None, &outcome(Status::Listed), 1000, &c);
    let e1 = e1.unwrap();
    assert_eq!((s1.listed_since_ms, e1.first_seen_ms, e1.cleared_ms), (1000, 1000, 0));
    let (s2, e2) = apply(Some(&s1), Some(e1), &outcome(Status::Listed), 2000, &c);
    let e2 = e2.unwrap();
    assert_eq!((e2.first_seen_ms, e2.last_seen_ms), (1000, 2000));
    // An error in between changes nothing about the episode.
    let (s3, e3) = apply(Some(&s2), Some(e2.clone()), &outcome(Status::Error), 3000, &c);
    assert!(e3.is_none());
    assert_eq!(s3.listed_since_ms, 1000);
    let (s4, e4) = apply(Some(&s3), Some(e2.clone()), &outcome(Status::Clean), 4000, &c);
    assert!(e4.is_none(), "one clean answer must not close the episode");
    assert_eq!(s4.next_due_ms, 4000 + 3_600_000);
    let (s5, e5) = apply(Some(&s4), Some(e2), &outcome(Status::Clean), 5000, &c);
    assert_eq!(e5.unwrap().cleared_ms, 5000);
    assert_eq!(s5.listed_since_ms, 0);
    // Listed again: a new episode.
    let (_, e6) = apply(Some(&s5), None, &outcome(Status::Listed), 6000, &c);
    assert_eq!(e6.unwrap().first_seen_ms, 6000);
}

#[test]
fn errors_back_off_exponentially_up_to_the_cap() {
    let c = Cadence::default();
    let mut state = None;
    let mut delays = vec![];
    for i in 0..8 {
        let (s, _) = apply(state.as_ref(), None, &outcome(Status::Error), i * 10, &c);
        delays.push((s.next_due_ms - i * 10) / 1000);
        state = Some(s);
    }
    assert_eq!(delays, [300, 600, 1200, 2400, 4800, 7200, 7200, 7200]);
}
