#![allow(clippy::unwrap_used)]

//! The serving lock on a real cluster: one holder, a refused second with
//! who holds it, shared against exclusive, migrations kept out, and a lost
//! connection noticed.

use std::time::Duration;

use super::super::cluster::TestDb;
use super::Share;
use crate::store::{Store, StoreError, StoreOptions};

fn open(db: &TestDb) -> Store {
    Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap()
}

fn refused(result: Result<Option<super::ServingLock>, StoreError>) -> (String, String) {
    match result {
        Err(StoreError::DatabaseInUse { database, holder }) => (database, holder),
        other => panic!("expected DatabaseInUse, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_holder_per_database_and_the_second_learns_who() {
    let Some(db) = TestDb::create_or_skip("store::pg::serving::tests::one_holder_per_database") else { return };
    let (first, second) = (open(&db), open(&db));
    let name = db.url.trim_start_matches("postgresql://rblfleet@").to_string();
    let held = first.take_serving_lock(Share::Exclusive).unwrap().unwrap();
    assert_eq!(held.database(), name);

    let (database, holder) = refused(second.take_serving_lock(Share::Exclusive));
    assert_eq!(database, name);
    let me = format!("\"rblfleet controller pid {}", std::process::id());
    assert!(holder.contains(&me) && holder.contains("127.0.0.1"), "{holder}");
    let message = refused(second.take_serving_lock(Share::Exclusive)).1;
    assert!(!message.is_empty());
    let shown = StoreError::DatabaseInUse { database, holder }.to_string();
    assert!(shown.contains("one controller per database") && shown.contains(&name), "{shown}");
    // A shared taker (several-controller mode) is refused by an exclusive
    // holder too, and a migration is kept out.
    refused(second.take_serving_lock(Share::Shared));
    let Store { backend: crate::store::Backend::Postgres(pg), .. } = &second else { unreachable!() };
    assert!(matches!(pg.check_not_served(), Err(StoreError::DatabaseInUse { .. })));

    // Released when dropped: the second takes it, shared holders coexist,
    // and an exclusive taker is refused by them, naming it shared.
    drop(held);
    let a = second.take_serving_lock(Share::Shared).unwrap().unwrap();
    let b = first.take_serving_lock(Share::Shared).unwrap().unwrap();
    let holder = refused(first.take_serving_lock(Share::Exclusive)).1;
    assert_eq!(holder.matches("shared, server pid").count(), 2, "{holder}");
    assert!(matches!(pg.check_not_served(), Err(StoreError::DatabaseInUse { .. })));
    drop((a, b));
    pg.check_not_served().unwrap();
}

/// The holder's connection killed by the database: `lost` says so (the
/// check runs every few seconds; the bound here is generous).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_is_noticed() {
    let Some(db) = TestDb::create_or_skip("store::pg::serving::tests::a_lost_connection_is_noticed") else { return };
    let store = open(&db);
    let mut held = store.take_serving_lock(Share::Exclusive).unwrap().unwrap();
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let killed = client
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_locks
              WHERE locktype = 'advisory' AND classid = 2 AND objid = 0 AND objsubid = 2
                AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(killed.get::<_, i64>(0), 1);
    let why = tokio::time::timeout(Duration::from_secs(60), held.lost()).await.expect("the loss went unnoticed");
    assert!(why.starts_with(&format!("the serving lock on {} is lost: ", held.database())), "{why}");
    // Nobody holds it any more: the next start takes it.
    drop(held);
    store.take_serving_lock(Share::Exclusive).unwrap().unwrap();
}
