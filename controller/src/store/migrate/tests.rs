#![allow(clippy::unwrap_used)]

//! `migrate_from_sled`: a populated sled store into a throwaway PostgreSQL,
//! compared through the store's own API on both sides; the refusals.

use std::collections::BTreeMap;
use std::path::Path;

use super::{MigrateError, Migrated, migrate_from_sled};
use crate::store::fixture::{self, LISTED_IP};
use crate::store::{PgOptions, Store, StoreError, StoreOptions, TestDb};

fn options() -> StoreOptions {
    StoreOptions { cache_bytes: 1 << 20, ..StoreOptions::default() }
}

/// Runs `f` until the sled directory this process just closed is free:
/// sled releases its file lock asynchronously (at most 5 s).
fn when_unlocked<T>(mut f: impl FnMut() -> Result<T, MigrateError>) -> Result<T, MigrateError> {
    for _ in 0..100 {
        match f() {
            Err(MigrateError::InUse { .. }) => std::thread::sleep(std::time::Duration::from_millis(50)),
            other => return other,
        }
    }
    f()
}

fn open_sled(dir: &Path) -> Store {
    for _ in 0..100 {
        match Store::open(dir, &options()) {
            Err(StoreError::Open { cause, .. }) if cause.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other.unwrap(),
        }
    }
    panic!("{} stayed locked", dir.display());
}

/// Everything the API reads, side by side.
fn same_through_the_api(sled: &Store, pg: &Store, hosts: usize) {
    assert_eq!(sled.list_hosts().unwrap(), pg.list_hosts().unwrap());
    for i in 1..=hosts {
        let id = fixture::host_id(i);
        assert_eq!(sled.host_reports(&id).unwrap(), pg.host_reports(&id).unwrap(), "{id}");
        assert_eq!(sled.get_host(&id).unwrap(), pg.get_host(&id).unwrap(), "{id}");
        assert_eq!(sled.rollups(&id, 0, i64::MAX).unwrap(), pg.rollups(&id, 0, i64::MAX).unwrap(), "{id}");
        assert_eq!(sled.host_domains(&id).unwrap(), pg.host_domains(&id).unwrap(), "{id}");
        assert_eq!(sled.warnings_of(&id).unwrap(), pg.warnings_of(&id).unwrap(), "{id}");
        assert_eq!(sled.outbreak_state(&id).unwrap(), pg.outbreak_state(&id).unwrap(), "{id}");
        assert_eq!(sled.actions(Some(&id)).unwrap(), pg.actions(Some(&id)).unwrap(), "{id}");
        let domain = format!("example{i}.test");
        assert_eq!(sled.sending_of(&domain).unwrap(), pg.sending_of(&domain).unwrap(), "{domain}");
    }
    assert_eq!(sled.all_cases().unwrap(), pg.all_cases().unwrap());
    assert_eq!(sled.case_for(LISTED_IP, "zen").unwrap(), pg.case_for(LISTED_IP, "zen").unwrap());
    assert_eq!(sled.ip_episodes(LISTED_IP).unwrap(), pg.ip_episodes(LISTED_IP).unwrap());
    assert_eq!(sled.all_checks().unwrap(), pg.all_checks().unwrap());
    assert_eq!(sled.all_receiver_states().unwrap(), pg.all_receiver_states().unwrap());
    assert_eq!(sled.all_warnings().unwrap(), pg.all_warnings().unwrap());
    assert_eq!(sled.zone_usage("zen", 20_792).unwrap(), pg.zone_usage("zen", 20_792).unwrap());
    let watched = |s: &Store| s.watched_domains(str::to_string).unwrap().into_iter().collect::<BTreeMap<_, _>>();
    assert_eq!(watched(sled), watched(pg));
}

fn counts(migrated: &Migrated) -> BTreeMap<&str, (u64, u64)> {
    migrated.tables.iter().map(|t| (t.table.as_str(), (t.sled, t.postgres))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_populated_sled_store_is_copied_verified_and_not_copied_twice() {
    let Some(db) =
        TestDb::create_or_skip("store::migrate::tests::a_populated_sled_store_is_copied_verified_and_not_copied_twice")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let hosts = 4;
    {
        let store = Store::open(dir.path(), &options()).unwrap();
        fixture::populate(&store, hosts, 6).await;
    }
    let target = db.options();
    let source = dir.path().to_path_buf();
    let migrated = tokio::task::spawn_blocking(move || when_unlocked(|| migrate_from_sled(&source, &target)))
        .await
        .unwrap()
        .unwrap();

    let counts = counts(&migrated);
    for (table, (sled, postgres)) in &counts {
        assert_eq!(sled, postgres, "{table}");
        assert!(*sled > 0, "the fixture leaves {table} empty");
    }
    assert_eq!(counts.len(), 16);
    assert_eq!(counts["hosts"], (4, 4));
    assert_eq!(counts["reports"], (24, 24));
    assert_eq!(counts["rollups"], (24, 24), "one report per hour");
    assert_eq!(counts["episodes"], (2, 2));
    assert_eq!(counts["cases"], (2, 2));
    assert_eq!(counts["case_history"], (6, 6));
    assert_eq!(migrated.rows, counts.values().map(|(_, n)| n).sum::<u64>());
    assert_eq!((migrated.cases_compared, migrated.episodes_compared, migrated.hosts_compared), (2, 2, 4));
    assert!(migrated.skipped_trees.is_empty(), "{:?}", migrated.skipped_trees);

    let pg = Store::open_postgres(&db.options(), &options()).unwrap();
    let sled = open_sled(dir.path());
    same_through_the_api(&sled, &pg, hosts);
    // New cases continue after the copied ones, as they would on sled.
    assert_eq!(pg.next_case_id().unwrap(), 3);
    assert_eq!(sled.next_case_id().unwrap(), 3);
    drop(sled);

    // Again into the same (now non-empty) database: refused, nothing added.
    let (source, target) = (dir.path().to_path_buf(), db.options());
    let err = tokio::task::spawn_blocking(move || when_unlocked(|| migrate_from_sled(&source, &target)))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(&err, MigrateError::TargetNotEmpty { tables } if tables.contains(&("hosts".into(), 4))), "{err}");
    let text = err.to_string();
    assert!(text.contains("already holds rblfleet data") && text.contains("reports: 24 rows"), "{text}");
    assert_eq!(pg.host_reports(&fixture::host_id(1)).unwrap().len(), 6);
}

/// Every refusal that needs no database: the source is checked first.
#[test]
fn a_missing_foreign_corrupt_or_busy_source_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let target = PgOptions { url: format!("postgresql://rblfleet@127.0.0.1:{port}/x"), pool_size: 1, password: None };
    let base = tempfile::tempdir().unwrap();

    let missing = base.path().join("missing");
    let err = migrate_from_sled(&missing, &target).unwrap_err();
    assert!(matches!(err, MigrateError::NoStore { .. }), "{err}");
    assert!(err.to_string().contains("holds no rblfleet store") && err.to_string().contains("missing"), "{err}");
    assert!(!missing.exists(), "nothing is created");

    let foreign = base.path().join("foreign");
    {
        let db = sled::open(&foreign).unwrap();
        db.open_tree("something").unwrap().insert(b"k", b"v").unwrap();
        db.flush().unwrap();
    }
    let err = when_unlocked(|| migrate_from_sled(&foreign, &target)).unwrap_err();
    assert!(matches!(err, MigrateError::NotRblfleet { .. }), "{err}");

    let corrupt = base.path().join("corrupt");
    std::fs::create_dir(&corrupt).unwrap();
    std::fs::write(corrupt.join("conf"), b"not sled's configuration").unwrap();
    std::fs::write(corrupt.join("db"), vec![0xa5; 64 * 1024]).unwrap();
    let err = migrate_from_sled(&corrupt, &target).unwrap_err();
    assert!(
        matches!(err, MigrateError::Source { .. } | MigrateError::NotRblfleet { .. }),
        "a corrupt store is refused as such: {err}"
    );
    assert!(err.to_string().contains(&corrupt.display().to_string()), "{err}");

    let busy = base.path().join("busy");
    let store = Store::open(&busy, &options()).unwrap();
    let err = migrate_from_sled(&busy, &target).unwrap_err();
    assert!(matches!(err, MigrateError::InUse { .. }), "{err}");
    assert!(err.to_string().contains("stop the controller first"), "{err}");
    drop(store);

    // A real store, an unreachable database: the target's own error.
    let err = when_unlocked(|| migrate_from_sled(&busy, &target)).unwrap_err();
    assert!(matches!(&err, MigrateError::Target(_)) && err.to_string().contains("cannot connect"), "{err}");
}
