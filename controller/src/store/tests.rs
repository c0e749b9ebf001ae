#![allow(clippy::unwrap_used)]

use rblfleet_proto::v1::{AgentInfo, HostReport};

use super::{Applied, SCHEMA_VERSION, Store, StoreError, StoreOptions};

fn report(host: &str, epoch: u64, seq: u64) -> HostReport {
    HostReport {
        host_id: host.into(),
        epoch,
        seq,
        period_start_ms: 1,
        period_end_ms: 2,
        agent: Some(AgentInfo { version: "0.1.0".into(), ..Default::default() }),
        ..Default::default()
    }
}

fn open(dir: &std::path::Path) -> Store {
    Store::open(dir, &StoreOptions { cache_bytes: 1 << 20, ..StoreOptions::default() }).unwrap()
}

#[tokio::test]
async fn reports_are_stored_once_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = open(dir.path());
        assert!(matches!(store.apply_report(&report("web1", 1, 1), 10).await.unwrap(), Applied::Stored(_)));
        assert!(matches!(store.apply_report(&report("web1", 1, 1), 11).await.unwrap(), Applied::Duplicate(_)));
        store.apply_report(&report("web10", 1, 1), 12).await.unwrap();
        store.apply_report(&report("web1", 1, 3), 13).await.unwrap();
    }
    let store = open(dir.path());
    // "web1" must not pick up "web10"'s reports.
    let seqs: Vec<u64> = store.host_reports("web1").unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 3]);
    let (summary, last) = store.get_host("web1").unwrap().unwrap();
    assert_eq!((summary.reports_stored, summary.seq_gaps, summary.last_seq), (2, 1, 3));
    assert_eq!((summary.first_seen_ms, summary.last_report_ms), (10, 13));
    assert_eq!(last.unwrap().seq, 3);
    assert_eq!(store.list_hosts().unwrap().len(), 2);
}

#[tokio::test]
async fn a_new_epoch_restarts_sequences_and_an_old_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.apply_report(&report("web1", 5, 9), 1).await.unwrap();
    store.apply_report(&report("web1", 6, 1), 2).await.unwrap();
    let err = store.apply_report(&report("web1", 5, 10), 3).await.unwrap_err();
    assert!(matches!(err, StoreError::StaleEpoch { current: 6, .. }), "{err}");
    let err = store.apply_report(&report("web1", 6, 1).clone_with_os("changed"), 3).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err}");
    assert_eq!(store.get_host("web1").unwrap().unwrap().0.reports_stored, 2);
}

trait WithOs {
    fn clone_with_os(&self, os: &str) -> Self;
}

impl WithOs for HostReport {
    fn clone_with_os(&self, os: &str) -> Self {
        let mut r = self.clone();
        r.agent.as_mut().unwrap().os = os.into();
        r
    }
}

#[tokio::test]
async fn a_store_from_another_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.open_tree("meta").unwrap().insert("schema_version", &(SCHEMA_VERSION + 1).to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let err = Store::open(dir.path(), &StoreOptions::default()).unwrap_err();
    assert!(err.to_string().contains(&format!("schema version {}", SCHEMA_VERSION + 1)), "{err}");
}

#[tokio::test]
async fn a_second_opener_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let _first = open(dir.path());
    let err = Store::open(dir.path(), &StoreOptions::default()).unwrap_err();
    assert!(err.to_string().contains("another `rblfleet serve`"), "{err}");
}

/// Many reporters at once: each report is answered once, the ones answered
/// `Stored` are all on disk after a reopen, and a full writer queue refuses
/// reports (`Overloaded`) without storing them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_reports_share_flushes_and_a_full_queue_sheds() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        dir.path(),
        &StoreOptions { cache_bytes: 1 << 20, max_pending_reports: 4, ..StoreOptions::default() },
    )
    .unwrap();
    let mut tasks = Vec::new();
    for host in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for seq in 1..=10 {
                let report = report(&format!("web{host}"), 1, seq);
                outcomes.push((seq, store.apply_report(&report, 5).await));
            }
            outcomes
        }));
    }
    let (mut stored, mut shed) = (std::collections::BTreeMap::new(), 0);
    for (host, task) in tasks.into_iter().enumerate() {
        for (seq, outcome) in task.await.unwrap() {
            match outcome {
                Ok(Applied::Stored(_)) => stored.entry(format!("web{host}")).or_insert_with(Vec::new).push(seq),
                Err(StoreError::Overloaded { pending: 4 }) => shed += 1,
                other => panic!("web{host} seq {seq}: unexpected {other:?}"),
            }
        }
    }
    assert!(shed > 0, "500 reports through a queue of 4 must shed some");
    drop(store);
    let store = open(dir.path());
    let mut on_disk = std::collections::BTreeMap::new();
    for host in store.list_hosts().unwrap() {
        let seqs: Vec<u64> = store.host_reports(&host.host_id).unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(host.reports_stored, seqs.len() as u64, "{}", host.host_id);
        on_disk.insert(host.host_id, seqs);
    }
    assert_eq!(on_disk, stored, "exactly the reports answered Stored are on disk");
}

/// One batch, one transaction: a refused report writes nothing and does not
/// undo the others; a duplicate inside the batch sees the earlier write.
#[tokio::test]
async fn a_refused_report_does_not_undo_its_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.apply_report(&report("web1", 2, 5), 1).await.unwrap();
    let (a, backwards, b, again) =
        (report("web2", 1, 1), report("web1", 2, 4), report("web1", 2, 6), report("web2", 1, 1));
    let batch = [(&a, 2), (&backwards, 2), (&b, 2), (&again, 2)];
    let outcomes = store.apply_batch_unflushed(&batch).unwrap();
    assert!(matches!(outcomes[0], Ok(Applied::Stored(_))), "{:?}", outcomes[0]);
    assert!(matches!(outcomes[1], Err(StoreError::SeqBackwards { last_seq: 5, .. })), "{:?}", outcomes[1]);
    assert!(matches!(outcomes[2], Ok(Applied::Stored(_))), "{:?}", outcomes[2]);
    assert!(matches!(outcomes[3], Ok(Applied::Duplicate(_))), "{:?}", outcomes[3]);
    let seqs: Vec<u64> = store.host_reports("web1").unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [5, 6]);
    assert_eq!(store.get_host("web2").unwrap().unwrap().0.reports_stored, 1);
}
