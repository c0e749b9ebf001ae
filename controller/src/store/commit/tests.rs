#![allow(clippy::unwrap_used)]

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use rblfleet_proto::v1::HostReport;

use crate::store::backends::backends;
use crate::store::{Applied, StoreOptions, TestDb};

/// Awaits `calls`, first polling each once in the order given: a report
/// enters the writers' queue on its call's first poll.
async fn in_queue_order<F: Future>(calls: Vec<F>) -> Vec<F::Output> {
    let mut calls: Vec<Pin<Box<F>>> = calls.into_iter().map(Box::pin).collect();
    let mut early: Vec<Option<F::Output>> = calls.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        for (call, out) in calls.iter_mut().zip(early.iter_mut()) {
            if let Poll::Ready(answer) = call.as_mut().poll(cx) {
                *out = Some(answer);
            }
        }
        Poll::Ready(())
    })
    .await;
    let mut outputs = Vec::with_capacity(calls.len());
    for (call, out) in calls.into_iter().zip(early) {
        outputs.push(match out {
            Some(answer) => answer,
            None => call.await,
        });
    }
    outputs
}

fn report(host: &str, seq: u64) -> HostReport {
    HostReport { host_id: host.into(), epoch: 1, seq, period_start_ms: 1, period_end_ms: 2, ..Default::default() }
}

/// Reports queued back to back, several per host, however the writers cut
/// them into batches (one writer on sled, several transactions in flight on
/// PostgreSQL): each is stored once, each host's in the order queued, so
/// none is refused as out of sequence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_reports_of_a_host_are_stored_in_order() {
    for backing in backends("store::commit::tests::queued_reports_of_a_host_are_stored_in_order") {
        let store = backing.open_with(&StoreOptions {
            cache_bytes: 1 << 20,
            max_pending_reports: 1000,
            ..StoreOptions::default()
        });
        let reports: Vec<HostReport> =
            (1..=60).flat_map(|seq| (0..5).map(move |h| report(&format!("web{h}"), seq))).collect();
        let outcomes = in_queue_order(reports.iter().map(|r| store.apply_report(r, 5)).collect()).await;
        for (report, outcome) in reports.iter().zip(outcomes) {
            let applied = outcome.unwrap_or_else(|e| panic!("{} {}: {e}", backing.name(), report.seq));
            assert!(matches!(applied, Applied::Stored(_)), "{}: {applied:?}", backing.name());
        }
        for host in store.list_hosts().unwrap() {
            let seqs: Vec<u64> = store.host_reports(&host.host_id).unwrap().iter().map(|r| r.seq).collect();
            assert_eq!(seqs, (1..=60).collect::<Vec<_>>(), "{} {}", backing.name(), host.host_id);
            assert_eq!((host.last_seq, host.seq_gaps), (60, 0), "{}", backing.name());
        }
    }
}

/// PostgreSQL runs a second batch while the first waits: here the first is
/// held on a row lock the test takes (as a slow COMMIT would hold it), and
/// another host's report is stored and answered meanwhile. A later report of
/// the held host waits for the first (its batch queues on the host's lock)
/// and is stored after it, not refused as out of sequence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stores_another_batch_while_one_waits() {
    let Some(db) = TestDb::create_or_skip("store::commit::tests::postgres_stores_another_batch_while_one_waits") else {
        return;
    };
    let store = crate::store::Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
    store.apply_report(&report("held", 1), 5).await.unwrap();
    let (mut sql, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let blocker = sql.transaction().await.unwrap();
    blocker.execute("SELECT 1 FROM hosts WHERE host_id = 'held' FOR UPDATE", &[]).await.unwrap();

    let first = tokio::spawn({
        let store = store.clone();
        async move { store.apply_report(&report("held", 2), 6).await }
    });
    // Wait until its batch holds the host's lock and waits on the row.
    let (watch, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    loop {
        let waiting: i64 = watch
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'INSERT INTO hosts%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Another host goes through a second transaction and is answered. (With
    // one transaction at a time it would wait for the rollback below: the
    // bound turns that into a failure instead of a hung test.)
    let other_report = report("other", 1);
    let another = store.apply_report(&other_report, 7);
    let other = tokio::time::timeout(std::time::Duration::from_secs(120), another).await.unwrap().unwrap();
    assert!(matches!(other, Applied::Stored(_)), "{other:?}");
    assert!(!first.is_finished(), "the held batch cannot have committed");
    // The held host's next report queues behind its first.
    let second = tokio::spawn({
        let store = store.clone();
        async move { store.apply_report(&report("held", 3), 8).await }
    });
    blocker.rollback().await.unwrap();
    assert!(matches!(first.await.unwrap(), Ok(Applied::Stored(_))));
    assert!(matches!(second.await.unwrap(), Ok(Applied::Stored(_))));
    let seqs: Vec<u64> = store.host_reports("held").unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3]);
}
