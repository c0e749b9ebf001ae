#![allow(clippy::unwrap_used)]

//! What only the PostgreSQL backend has: migrations and their version
//! check, credentials, day partitions. Behaviour shared with sled is tested
//! once for both in `store::tests`.

use rblfleet_proto::v1::HostReport;

use super::cluster::TestDb;
use super::schema::LATEST;
use super::{PgOptions, PgPassword};
use crate::store::{Store, StoreError, StoreOptions};

async fn client(db: &TestDb) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

#[tokio::test]
async fn migrations_apply_once_and_a_newer_schema_is_refused() {
    let Some(db) = TestDb::create_or_skip("store::pg::tests::migrations_apply_once_and_a_newer_schema_is_refused")
    else {
        return;
    };
    drop(Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap());
    // Reopening finds the schema current and changes nothing.
    drop(Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap());
    let sql = client(&db).await;
    let versions: Vec<i32> =
        sql.query("SELECT version FROM rblfleet_schema", &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, (1..=LATEST).collect::<Vec<_>>());

    sql.execute("INSERT INTO rblfleet_schema (version, description) VALUES ($1, 'from the future')", &[&(LATEST + 1)])
        .await
        .unwrap();
    let err = Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::SchemaNewer { found, expected } if found == LATEST + 1 && expected == LATEST));
    assert!(err.to_string().contains("upgrade rblfleet"), "{err}");
}

#[test]
fn a_password_never_shows_and_never_sits_in_the_url() {
    let options = PgOptions {
        url: "postgresql://rblfleet@db.example/rblfleet".into(),
        pool_size: 4,
        password: Some(PgPassword("s3cret-pw".into())),
    };
    let shown = format!("{options:?}");
    assert!(!shown.contains("s3cret-pw") && shown.contains("redacted"), "{shown}");
    let config = options.driver_config().unwrap();
    assert_eq!(config.get_password(), Some(&b"s3cret-pw"[..]));
    assert_eq!(config.get_connect_timeout(), Some(&std::time::Duration::from_secs(10)));
    let inline = PgOptions { url: "postgresql://rblfleet:s3cret-pw@db.example/rblfleet".into(), ..options };
    let err = inline.driver_config().unwrap_err().to_string();
    assert!(err.contains("password_file") && !err.contains("s3cret-pw"), "{err}");
}

/// Every connection probes an idle peer after 5 s and gives up on unacked
/// data after 10 s, unless the URL chose otherwise.
#[test]
fn connections_keep_alive_unless_the_url_says_otherwise() {
    use std::time::Duration;
    let options = |url: &str| PgOptions { url: url.into(), pool_size: 1, password: None };
    let config = options("postgresql://rblfleet@db.example/rblfleet").driver_config().unwrap();
    assert!(config.get_keepalives());
    assert_eq!(config.get_keepalives_idle(), Duration::from_secs(5));
    assert_eq!(config.get_keepalives_interval(), Some(Duration::from_secs(2)));
    assert_eq!(config.get_keepalives_retries(), Some(3));
    assert_eq!(config.get_tcp_user_timeout(), Some(&Duration::from_secs(10)));
    let chosen = options(
        "host=db.example user=rblfleet keepalives_idle=60 keepalives_interval=7 keepalives_retries=9 tcp_user_timeout=30",
    )
    .driver_config()
    .unwrap();
    assert_eq!(chosen.get_keepalives_idle(), Duration::from_secs(60));
    assert_eq!(chosen.get_keepalives_interval(), Some(Duration::from_secs(7)));
    assert_eq!(chosen.get_keepalives_retries(), Some(9));
    assert_eq!(chosen.get_tcp_user_timeout(), Some(&Duration::from_secs(30)));
    let off = options("host=db.example user=rblfleet keepalives=0").driver_config().unwrap();
    assert!(!off.get_keepalives());
}

/// A day partition dropped behind the store's back (retention in another
/// controller) after the batch statements were prepared: the batch fails
/// with the partition's error, not the aborted transaction's, the store
/// recreates the partition and stores the batch.
#[tokio::test]
async fn a_batch_whose_partition_was_dropped_is_stored_after_recreating_it() {
    let test = "store::pg::tests::a_batch_whose_partition_was_dropped_is_stored_after_recreating_it";
    let Some(db) = TestDb::create_or_skip(test) else { return };
    let store = Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
    let end = 20_792 * 86_400_000_i64 + 10;
    let report =
        |host: &str, seq| HostReport { host_id: host.into(), epoch: 1, seq, period_end_ms: end, ..Default::default() };
    // Both pooled connections prepare the batch statements.
    for host in ["web1", "web2", "web3", "web4"] {
        store.apply_report(&report(host, 1), end).await.unwrap();
    }
    let sql = client(&db).await;
    sql.batch_execute("DROP TABLE reports_20261205").await.unwrap();
    let applied = store.apply_report(&report("web1", 2), end).await.unwrap();
    assert!(matches!(applied, crate::store::Applied::Stored(_)), "{applied:?}");
    let seqs: Vec<u64> = store.host_reports("web1").unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [2], "the dropped partition took seq 1 with it");
}

#[tokio::test]
async fn an_unreachable_server_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let options = PgOptions { url: format!("postgresql://rblfleet@127.0.0.1:{port}/x"), pool_size: 1, password: None };
    let err = Store::open_postgres(&options, &StoreOptions::default()).unwrap_err().to_string();
    assert!(err.contains("cannot connect"), "{err}");
}

/// Reports land in the partition of their period's UTC day, created on
/// demand, and the read side sees one table.
#[tokio::test]
async fn reports_are_partitioned_by_day() {
    let Some(db) = TestDb::create_or_skip("store::pg::tests::reports_are_partitioned_by_day") else { return };
    let store = Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
    let day = 86_400_000_i64;
    // 2026-12-05 and the day after.
    let base = 20_792 * day;
    for (seq, end) in [(1, base + 10), (2, base + day + 10)] {
        let report = HostReport { host_id: "web1".into(), epoch: 1, seq, period_end_ms: end, ..Default::default() };
        store.apply_report(&report, end).await.unwrap();
    }
    let sql = client(&db).await;
    let rows = sql
        .query("SELECT tableoid::regclass::text, seq FROM reports ORDER BY seq", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get::<_, String>(0), r.get::<_, i64>(1)))
        .collect::<Vec<_>>();
    assert_eq!(rows, [("reports_20261205".to_string(), 1), ("reports_20261206".to_string(), 2)]);
    assert_eq!(store.host_reports("web1").unwrap().len(), 2);
}

/// The columns a NOC queries follow the records: case states and check
/// statuses as words, a case's history as rows.
#[tokio::test]
async fn cases_and_checks_are_readable_in_sql() {
    use rblfleet_proto::v1::{Case, CaseEvent, CaseState, CheckStatus, ZoneCheck};
    let Some(db) = TestDb::create_or_skip("store::pg::tests::cases_and_checks_are_readable_in_sql") else { return };
    let store = Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
    let event = |action: &str, from: CaseState, to: CaseState| CaseEvent {
        at_ms: 5,
        who: "rblfleet".into(),
        action: action.into(),
        from: from as i32,
        to: to as i32,
        ..Default::default()
    };
    let mut case = Case {
        id: store.next_case_id().unwrap(),
        ip: "192.0.2.1".into(),
        list_id: "zen".into(),
        state: CaseState::Open as i32,
        history: vec![event("opened", CaseState::Unspecified, CaseState::Open)],
        ..Default::default()
    };
    store.put_case(&case).unwrap();
    case.state = CaseState::Investigating as i32;
    case.history.push(event("investigate", CaseState::Open, CaseState::Investigating));
    store.put_case(&case).unwrap();
    let check = ZoneCheck {
        ip: "192.0.2.1".into(),
        zone_id: "zen".into(),
        status: CheckStatus::Listed as i32,
        ..Default::default()
    };
    store.record_check(&check, None).unwrap();

    let sql = client(&db).await;
    let state: String = sql.query_one("SELECT state FROM cases", &[]).await.unwrap().get(0);
    assert_eq!(state, "investigating");
    let history: Vec<(i32, String, String)> = sql
        .query("SELECT n, action, to_state FROM case_history ORDER BY n", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(history, [(0, "opened".into(), "open".into()), (1, "investigate".into(), "investigating".into())]);
    let status: String = sql.query_one("SELECT status FROM checks", &[]).await.unwrap().get(0);
    assert_eq!(status, "listed");
}

/// Two controllers on one database (two stores): both migrate at once
/// without tripping over each other, then both receive the same reports
/// (an agent failing over and resending): each is stored exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_stores_on_one_database_store_each_report_once() {
    let Some(db) = TestDb::create_or_skip("store::pg::tests::two_stores_on_one_database_store_each_report_once") else {
        return;
    };
    let open = |db: &TestDb| {
        let options = db.options();
        std::thread::spawn(move || Store::open_postgres(&options, &StoreOptions::default()))
    };
    let (a, b) = (open(&db), open(&db));
    let (a, b) = (a.join().unwrap().unwrap(), b.join().unwrap().unwrap());
    let send = |store: Store| {
        tokio::spawn(async move {
            let mut stored = Vec::new();
            for seq in 1..=30 {
                for host in ["web1", "web2"] {
                    let report = HostReport { host_id: host.into(), epoch: 1, seq, ..Default::default() };
                    match store.apply_report(&report, 1).await.unwrap() {
                        crate::store::Applied::Stored(_) => stored.push((host, seq)),
                        crate::store::Applied::Duplicate(_) => {}
                    }
                }
            }
            stored
        })
    };
    let (from_a, from_b) = (send(a.clone()), send(b));
    let mut stored = from_a.await.unwrap();
    stored.extend(from_b.await.unwrap());
    stored.sort();
    let expected: Vec<(&str, u64)> = (1..=30).flat_map(|s| [("web1", s), ("web2", s)]).collect();
    let mut expected = expected;
    expected.sort();
    assert_eq!(stored, expected, "every report Stored by exactly one of the two");
    for host in a.list_hosts().unwrap() {
        assert_eq!((host.reports_stored, host.last_seq, host.seq_gaps), (30, 30, 0), "{}", host.host_id);
        assert_eq!(a.host_reports(&host.host_id).unwrap().len(), 30);
    }
    let sql = client(&db).await;
    let versions: i64 = sql.query_one("SELECT count(*) FROM rblfleet_schema", &[]).await.unwrap().get(0);
    assert_eq!(versions, i64::from(LATEST));
}

/// A database restart or an administrator killing the sessions: the store
/// reconnects by itself, at the latest on the call after the one that saw
/// the connection break.
#[tokio::test]
async fn connections_killed_by_the_server_are_replaced() {
    let Some(db) = TestDb::create_or_skip("store::pg::tests::connections_killed_by_the_server_are_replaced") else {
        return;
    };
    let store = Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
    store
        .apply_report(&HostReport { host_id: "web1".into(), epoch: 1, seq: 1, ..Default::default() }, 1)
        .await
        .unwrap();
    let sql = client(&db).await;
    let killed: i64 = sql
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
              WHERE application_name = 'rblfleet' AND datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(killed, 2, "the pool's two connections");
    // pg_terminate_backend only signals: wait until both are gone, or a call
    // could still be answered by a dying connection and the next one fail.
    for _ in 0..500 {
        let left: i64 = sql
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                  WHERE application_name = 'rblfleet' AND datname = current_database() AND pid <> pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if left == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Each worker may answer one call with the broken connection's error.
    let answers: Vec<bool> = (0..4).map(|_| store.list_hosts().is_ok()).collect();
    assert!(answers[2..].iter().all(|ok| *ok), "{answers:?}");
    assert_eq!(store.list_hosts().unwrap().len(), 1);
    store
        .apply_report(&HostReport { host_id: "web1".into(), epoch: 1, seq: 2, ..Default::default() }, 2)
        .await
        .unwrap();
}

/// What the sled-only tests (backup, verify, free space) cover has no
/// PostgreSQL twin: the store says which PostgreSQL tool does it, and the
/// commands it gives work as written (run here against the test cluster:
/// a dump restored into a second database reads back the same through the
/// store; pg_amcheck finds nothing wrong). The database's size is its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_only_operations_say_what_to_use_instead_and_it_works() {
    let test = "store::pg::tests::sled_only_operations_say_what_to_use_instead_and_it_works";
    let Some(db) = TestDb::create_or_skip(test) else { return };
    let store = Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
    let backup = store.export_backup(&mut Vec::new()).unwrap_err().to_string();
    assert!(backup.starts_with(crate::store::PG_BACKUP), "{backup}");
    let name = db.url.trim_start_matches("postgresql://rblfleet@");
    assert!(backup.ends_with(&format!("this controller's database is {name}")), "{backup}");
    assert!(store.check_backup().is_err());
    assert!(!backup.contains("not yet supported"), "{backup}");
    let verify = store.verify().unwrap_err().to_string();
    assert_eq!(verify, crate::store::PG_VERIFY);
    assert!(store.space_status().unwrap_err().to_string().contains("monitoring"));
    store.check_space().unwrap();
    assert!(store.size_on_disk().unwrap() > 1024 * 1024, "an empty database still takes some MiB");

    crate::store::fixture::populate(&store, 3, 2).await;
    let dump = tempfile::tempdir().unwrap();
    let file = dump.path().join("rblfleet.dump");
    let Some(restored) = TestDb::create_or_skip(test) else { return };
    // The commands exactly as the messages give them, placeholders filled.
    let said = |text: &str, tool: &str| -> Vec<String> {
        let start = text.find(&format!("`{tool} ")).unwrap() + 1;
        let command = &text[start..start + text[start..].find('`').unwrap()];
        command
            .replace("postgresql://USER@HOST/NEWDB", &restored.url)
            .replace("postgresql://USER@HOST/DB", &db.url)
            .replace("rblfleet.dump", &file.display().to_string())
            .replace('\'', "")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    for (text, tool) in [(&backup, "pg_dump"), (&backup, "pg_restore"), (&verify, "pg_amcheck")] {
        let argv = said(text, tool);
        let out = std::process::Command::new(db.bin().join(&argv[0])).args(&argv[1..]).output().unwrap();
        assert!(out.status.success(), "{argv:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let copy = Store::open_postgres(&restored.options(), &StoreOptions::default()).unwrap();
    assert_eq!(copy.list_hosts().unwrap(), store.list_hosts().unwrap());
    assert_eq!(copy.all_cases().unwrap(), store.all_cases().unwrap());
    assert_eq!(copy.host_reports("web01").unwrap(), store.host_reports("web01").unwrap());
    assert_eq!(copy.next_case_id().unwrap(), 3, "the case id sequence comes along");
}
