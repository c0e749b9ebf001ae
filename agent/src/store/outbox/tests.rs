#![allow(clippy::unwrap_used)]

use super::*;

fn report(host: &str) -> HostReport {
    HostReport { host_id: host.into(), ..HostReport::default() }
}

#[test]
fn fifo_order_and_ack() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = Outbox::open(dir.path(), 100).unwrap();
    assert!(ob.is_empty());
    assert_eq!(ob.peek_oldest().unwrap(), None);
    for i in 1..=3 {
        let mut r = report(&format!("h{i}"));
        assert_eq!(ob.push(&mut r).unwrap(), i);
        assert_eq!((r.epoch, r.seq), (ob.epoch(), i));
    }
    assert_eq!(ob.len(), 3);
    for i in 1..=3 {
        let r = ob.peek_oldest().unwrap().unwrap();
        assert_eq!((r.seq, r.host_id.as_str()), (i, format!("h{i}").as_str()));
        ob.ack(r.seq).unwrap();
    }
    assert!(ob.is_empty());
    assert_eq!(ob.peek_oldest().unwrap(), None);
    ob.ack(99).unwrap();
    assert_eq!(ob.len(), 0);
}

#[test]
fn persists_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let epoch = {
        let mut ob = Outbox::open(dir.path(), 100).unwrap();
        ob.push(&mut report("a")).unwrap();
        ob.push(&mut report("b")).unwrap();
        ob.ack(1).unwrap();
        ob.epoch()
    };
    let mut ob = Outbox::open(dir.path(), 100).unwrap();
    assert_eq!(ob.epoch(), epoch);
    assert_eq!(ob.len(), 1);
    assert_eq!(ob.peek_oldest().unwrap().unwrap().host_id, "b");
    assert_eq!(ob.push(&mut report("c")).unwrap(), 3);
}

#[test]
fn seq_continues_after_everything_is_acked() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut ob = Outbox::open(dir.path(), 100).unwrap();
        ob.push(&mut report("a")).unwrap();
        ob.ack(1).unwrap();
    }
    let mut ob = Outbox::open(dir.path(), 100).unwrap();
    assert_eq!(ob.push(&mut report("b")).unwrap(), 2);
}

#[test]
fn cap_drops_oldest_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = Outbox::open(dir.path(), 3).unwrap();
    for _ in 0..5 {
        ob.push(&mut report("h")).unwrap();
    }
    assert_eq!(ob.len(), 3);
    assert_eq!(ob.dropped().unwrap(), 2);
    assert_eq!(ob.peek_oldest().unwrap().unwrap().seq, 3);
    drop(ob);
    // A smaller cap after a restart drops the excess at the next push.
    let mut ob = Outbox::open(dir.path(), 1).unwrap();
    assert_eq!(ob.len(), 3);
    ob.push(&mut report("h")).unwrap();
    assert_eq!(ob.len(), 1);
    assert_eq!(ob.dropped().unwrap(), 5);
    assert_eq!(ob.peek_oldest().unwrap().unwrap().seq, 6);
}

#[test]
fn reject_removes_and_counts() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = Outbox::open(dir.path(), 10).unwrap();
    ob.push(&mut report("a")).unwrap();
    ob.push(&mut report("b")).unwrap();
    ob.reject(1).unwrap();
    assert_eq!(ob.rejected().unwrap(), 1);
    assert_eq!(ob.len(), 1);
    assert_eq!(ob.peek_oldest().unwrap().unwrap().seq, 2);
}

#[test]
fn second_open_of_the_same_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Outbox::open(dir.path(), 10).unwrap();
    let e = Outbox::open(dir.path(), 10).unwrap_err();
    assert!(matches!(e, OutboxError::Locked { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("in use by another rblfleet-agent"), "{msg}");
    assert!(msg.contains(&dir.path().display().to_string()), "{msg}");
}

#[test]
fn corrupt_entry_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut ob = Outbox::open(dir.path(), 10).unwrap();
    ob.push(&mut report("a")).unwrap();
    ob.reports.insert(1u64.to_be_bytes(), &[9u8, 1, 2][..]).unwrap();
    let e = ob.peek_oldest().unwrap_err();
    assert!(matches!(e, OutboxError::Corrupt { seq: Some(1), .. }), "{e}");
    assert!(e.to_string().contains("unknown entry version 9"));
    ob.reports.insert(1u64.to_be_bytes(), &[ENTRY_V1, 0xff, 0xff][..]).unwrap();
    assert!(matches!(ob.peek_oldest().unwrap_err(), OutboxError::Corrupt { seq: Some(1), .. }));
    ob.reject(1).unwrap();
    assert_eq!(ob.peek_oldest().unwrap(), None);
}

#[test]
fn unknown_store_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let ob = Outbox::open(dir.path(), 10).unwrap();
        ob.meta.insert(K_FORMAT, &[7u8][..]).unwrap();
        ob.flush().unwrap();
    }
    let e = Outbox::open(dir.path(), 10).unwrap_err().to_string();
    assert!(e.contains("format"), "{e}");
}

#[test]
fn drop_then_reopen_never_finds_the_lock_held() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..100 {
        let mut ob = Outbox::open(dir.path(), 10).unwrap();
        ob.push(&mut report("h")).unwrap();
    }
}
