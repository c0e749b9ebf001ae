#![allow(clippy::unwrap_used)]

//! The NOC views on data written through the store: each view's rows, with
//! the values the fixture put in, and the read-only role the documentation
//! tells a database team to create for Grafana.

use tokio_postgres::Client;

use crate::store::fixture::{self, BASE_MS, LISTED_IP, LISTED_SINCE_MS, period_end};
use crate::store::rollup::hour_of;
use crate::store::{Store, StoreOptions, TestDb};

async fn client(db: &TestDb) -> Client {
    let (client, connection) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// A timestamptz column as Unix milliseconds.
fn ms(column: &str) -> String {
    format!("(extract(epoch FROM {column}) * 1000)::bigint")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_noc_views_show_what_the_store_holds() {
    let Some(db) = TestDb::create_or_skip("store::pg::noc::tests::the_noc_views_show_what_the_store_holds") else {
        return;
    };
    let store = Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
    fixture::populate(&store, 3, 6).await;
    let sql = client(&db).await;

    // Listings in force: the open zen episode, on web01 (which sends from
    // the IP), with its check and case. The cleared bl episode is not one.
    let rows = sql
        .query(
            &format!("SELECT host_id, ip, zone, {}, check_status, case_id, case_state FROM noc_listings", ms("since")),
            &[],
        )
        .await
        .unwrap();
    let listings: Vec<(String, String, String, i64, String, i64, String)> =
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6))).collect();
    assert_eq!(
        listings,
        [("web01".into(), LISTED_IP.into(), "zen".into(), LISTED_SINCE_MS, "listed".into(), 1, "investigating".into())]
    );

    // Open cases: case 1 only (case 2 is resolved), opened at its first
    // event, with its last one.
    let row = sql
        .query_one(
            &format!(
                "SELECT case_id, ip, list, state, {}, last_action, last_by, hosts, (SELECT count(*) FROM noc_open_cases)
                   FROM noc_open_cases",
                ms("opened")
            ),
            &[],
        )
        .await
        .unwrap();
    let case: (i64, String, String, String, i64, String, String, String, i64) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4), row.get(5), row.get(6), row.get(7), row.get(8));
    assert_eq!(
        case,
        (
            1,
            LISTED_IP.into(),
            "zen".into(),
            "investigating".into(),
            LISTED_SINCE_MS,
            "investigate".into(),
            "noc@example".into(),
            "web01".into(),
            1
        )
    );
    let history: Vec<(i32, String)> = sql
        .query("SELECT n, to_state FROM noc_case_history WHERE case_id = 2 ORDER BY n", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let states = ["open", "remediated", "delist_requested", "resolved"];
    assert_eq!(history, states.iter().enumerate().map(|(n, s)| (n as i32, s.to_string())).collect::<Vec<_>>());

    // Hosts: reporting, IPs, listings, and the last 24 hours (the
    // fixture's hours that fall inside the window as of now).
    let now = crate::clock::now_ms();
    let recent: Vec<u64> = (1..=6).filter(|&s| hour_of(period_end(s)) >= now - 86_400_000).collect();
    let rows = sql
        .query(
            &format!(
                "SELECT host_id, reports_stored, {}, ips, listings, reports_24h::bigint, sent_24h::bigint,
                        bounced_24h::bigint, queue_max_24h
                   FROM noc_hosts ORDER BY host_id",
                ms("last_report")
            ),
            &[],
        )
        .await
        .unwrap();
    type HostRow = (String, i64, i64, String, i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>);
    let hosts: Vec<HostRow> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7), r.get(8)))
        .collect();
    let window = |f: fn(u64) -> i64| (!recent.is_empty()).then(|| recent.iter().map(|&s| f(s)).sum::<i64>());
    let expected = |i: usize, listings: i64| -> HostRow {
        (
            fixture::host_id(i),
            6,
            period_end(6) + 1000,
            format!("192.0.2.{i}"),
            listings,
            window(|_| 1),
            window(|_| 100),
            window(|s| s as i64),
            recent.iter().map(|&s| s as i64 * 10).max(),
        )
    };
    assert_eq!(hosts, [expected(1, 1), expected(2, 0), expected(3, 0)]);

    // Hourly evidence: one hour per report, with its figures.
    let rows = sql
        .query(
            &format!(
                "SELECT {}, reports, sent, bounced, blocklisted, queue_max FROM noc_host_hours
                  WHERE host_id = 'web02' ORDER BY hour",
                ms("hour")
            ),
            &[],
        )
        .await
        .unwrap();
    let hours: Vec<(i64, i64, i64, i64, i64, i64)> =
        rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5))).collect();
    let want: Vec<_> = (1..=6_i64).map(|s| (hour_of(period_end(s as u64)), 1, 100, s, 1, s * 10)).collect();
    assert_eq!(hours, want);

    let checks: Vec<(String, String, String)> = sql
        .query("SELECT ip, zone, status FROM noc_checks ORDER BY zone", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        checks,
        [(LISTED_IP.into(), "bl".into(), "clean".into()), (LISTED_IP.into(), "zen".into(), "listed".into())]
    );
    let usage = sql.query_one("SELECT zone, day::text, queries FROM noc_zone_usage", &[]).await.unwrap();
    assert_eq!(
        (usage.get::<_, String>(0), usage.get::<_, String>(1), usage.get::<_, i64>(2)),
        ("zen".into(), "2026-12-05".into(), 42)
    );

    // A host that moves to another IP leaves the listing behind.
    let mut moved = fixture::report(1, 7);
    moved.ips[0].address = "198.51.100.9".into();
    store.apply_report(&moved, BASE_MS + 8 * 3_600_000).await.unwrap();
    let ips: String = sql.query_one("SELECT ips FROM noc_hosts WHERE host_id = 'web01'", &[]).await.unwrap().get(0);
    assert_eq!(ips, "198.51.100.9");
    let host: Option<String> = sql.query_one("SELECT host_id FROM noc_listings", &[]).await.unwrap().get(0);
    assert_eq!(host, None, "no host sends from {LISTED_IP} any more");
}

/// The grants docs/operations.md gives for Grafana: the views read, the
/// tables (and their protobuf records) not.
#[tokio::test]
async fn a_grafana_role_reads_the_views_and_nothing_else() {
    let Some(db) = TestDb::create_or_skip("store::pg::noc::tests::a_grafana_role_reads_the_views_and_nothing_else")
    else {
        return;
    };
    drop(Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap());
    let sql = client(&db).await;
    sql.batch_execute(
        "CREATE ROLE grafana_reader;
         GRANT SELECT ON noc_listings, noc_open_cases, noc_case_history, noc_hosts, noc_host_hours, noc_checks,
                         noc_zone_usage TO grafana_reader;
         SET ROLE grafana_reader",
    )
    .await
    .unwrap();
    for view in [
        "noc_listings",
        "noc_open_cases",
        "noc_case_history",
        "noc_hosts",
        "noc_host_hours",
        "noc_checks",
        "noc_zone_usage",
    ] {
        sql.query(&format!("SELECT * FROM {view}"), &[]).await.unwrap();
    }
    let err = sql.query("SELECT * FROM hosts", &[]).await.unwrap_err();
    assert_eq!(err.code().map(|c| c.code()), Some("42501"), "{err}");
}
