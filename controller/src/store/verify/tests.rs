#![allow(clippy::unwrap_used)]

use std::path::Path;

use rblfleet_proto::v1::{AgentInfo, Case, CheckStatus, HostReport, ListingEpisode, ReceiverState, ZoneCheck};

use super::verify_dir;
use crate::store::encoding::{encode, report_key};
use crate::store::{Store, StoreError, StoreOptions};

pub(crate) fn report(host: &str, epoch: u64, seq: u64) -> HostReport {
    HostReport {
        host_id: host.into(),
        epoch,
        seq,
        period_start_ms: 3_600_000 * 10 + seq as i64,
        period_end_ms: 3_600_000 * 10 + seq as i64 + 1,
        agent: Some(AgentInfo { version: "0.1.0".into(), ..Default::default() }),
        ..Default::default()
    }
}

/// Opens the store in `dir`, waiting (at most 5 s) for a handle this
/// process just dropped: sled releases its file lock asynchronously.
pub(crate) fn open(dir: &Path) -> Store {
    for _ in 0..100 {
        match Store::open(dir, &StoreOptions { cache_bytes: 1 << 20, ..StoreOptions::default() }) {
            Err(StoreError::Open { cause, .. }) if cause.to_string().contains("could not acquire lock") => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other.unwrap(),
        }
    }
    panic!("{} stayed locked for 5 s", dir.display());
}

/// A store with something in every tree: reports of three hosts, an open
/// listing with its episode and case, a receiver state, zone usage.
pub(crate) async fn populate(store: &Store) {
    for host in ["web1", "web2", "web10"] {
        for seq in 1..=5 {
            store.apply_report(&report(host, 7, seq), 100 + seq as i64).await.unwrap();
        }
    }
    let episode = ListingEpisode {
        ip: "203.0.113.7".into(),
        zone_id: "bl".into(),
        zone: "bl.test".into(),
        first_seen_ms: 5000,
        last_seen_ms: 6000,
        ..Default::default()
    };
    let check = ZoneCheck {
        ip: "203.0.113.7".into(),
        zone_id: "bl".into(),
        zone: "bl.test".into(),
        status: CheckStatus::Listed as i32,
        listed_since_ms: 5000,
        checked_ms: 6000,
        ..Default::default()
    };
    store.record_check(&check, Some(&episode)).unwrap();
    let id = store.next_case_id().unwrap();
    store.put_case(&Case { id, ip: "203.0.113.7".into(), list_id: "bl".into(), ..Default::default() }).unwrap();
    store
        .put_receiver_state(&ReceiverState {
            ip: "203.0.113.8".into(),
            provider: "outlook".into(),
            ..Default::default()
        })
        .unwrap();
    store.add_zone_usage("bl", 20_000, 3).unwrap();
    store.flush().await.unwrap();
}

/// Opens the closed store in `dir` with sled itself, to plant what the
/// store's own API would never write.
fn plant(dir: &Path, tree: &str, key: &[u8], value: &[u8]) {
    let db = sled::Config::new().path(dir).open().unwrap();
    db.open_tree(tree).unwrap().insert(key, value).unwrap();
    db.flush().unwrap();
}

fn remove(dir: &Path, tree: &str, key: &[u8]) {
    let db = sled::Config::new().path(dir).open().unwrap();
    db.open_tree(tree).unwrap().remove(key).unwrap();
    db.flush().unwrap();
}

async fn clean_store() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let store = open(tmp.path());
    populate(&store).await;
    let report = store.verify().unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    drop(store);
    tmp
}

#[tokio::test]
async fn a_consistent_store_verifies_clean_with_every_tree_counted() {
    let tmp = clean_store().await;
    let report = verify_dir(tmp.path()).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    let count = |name: &str| report.trees.iter().find(|t| t.name == name).map(|t| t.records);
    assert_eq!(count("hosts"), Some(3));
    assert_eq!(count("reports"), Some(15));
    assert_eq!(count("cases"), Some(1));
    assert_eq!(count("case_index"), Some(1));
    assert_eq!(count("episodes"), Some(1));
    assert_eq!(count("meta"), Some(2), "schema version and next case id");
}

/// What is planted, how, and the (tree, reason) verify must report.
type Planted = (&'static str, Box<dyn Fn(&Path)>, &'static str, &'static str);

/// Each planted inconsistency is reported with its tree, key and reason.
#[tokio::test]
async fn planted_inconsistencies_are_named() {
    let cases: Vec<Planted> = vec![
        (
            "undecodable record",
            Box::new(|d| plant(d, "hosts", b"web1", b"\x01\xff\xff\xff")),
            "hosts",
            "does not decode",
        ),
        (
            "report of an unknown host",
            Box::new(|d| plant(d, "reports", &report_key("ghost", 1, 1), &encode(&report("ghost", 1, 1)))),
            "reports",
            "no summary in hosts",
        ),
        (
            "report newer than the summary",
            Box::new(|d| plant(d, "reports", &report_key("web2", 7, 9), &encode(&report("web2", 7, 9)))),
            "reports",
            "newer than the host's last accepted (7, 5)",
        ),
        (
            "key and record disagree",
            Box::new(|d| plant(d, "reports", &report_key("web2", 7, 2), &encode(&report("web2", 7, 3)))),
            "reports",
            "the key says (web2, 7, 2)",
        ),
        (
            "latest report missing",
            Box::new(|d| remove(d, "reports", &report_key("web10", 7, 5))),
            "hosts",
            "latest report",
        ),
        (
            "index points at a missing case",
            Box::new(|d| plant(d, "case_index", b"198.51.100.1\0bl", &99u64.to_be_bytes())),
            "case_index",
            "case 99, which is not stored",
        ),
        (
            "case without its index entry",
            Box::new(|d| remove(d, "case_index", b"203.0.113.7\0bl")),
            "cases",
            "case 1 is not",
        ),
        (
            "open listing without its episode",
            Box::new(|d| {
                let mut key = b"203.0.113.7\0bl\0".to_vec();
                key.extend_from_slice(&5000i64.to_be_bytes());
                remove(d, "episodes", &key)
            }),
            "checks",
            "listed since 5000 but that episode is not stored",
        ),
        (
            "schema version missing",
            Box::new(|d| remove(d, "meta", b"schema_version")),
            "meta",
            "schema version is missing",
        ),
        ("bad report key", Box::new(|d| plant(d, "reports", b"web1\0short", b"\x01")), "reports", "the key is not"),
    ];
    for (what, break_it, tree, reason) in cases {
        let tmp = clean_store().await;
        break_it(tmp.path());
        let report = verify_dir(tmp.path()).unwrap();
        assert!(!report.is_clean(), "{what}: not detected");
        assert!(
            report.problems.iter().any(|p| p.tree == tree && p.reason.contains(reason)),
            "{what}: expected a {tree} problem containing {reason:?}, got {:?}",
            report.problems
        );
        let counted = report.trees.iter().find(|t| t.name == tree).unwrap().problems;
        assert!(counted >= 1, "{what}: the {tree} row counts no problem");
    }
}

#[tokio::test]
async fn trees_this_version_does_not_know_are_noted_not_failed() {
    let tmp = clean_store().await;
    plant(tmp.path(), "alerts_sent", b"k", b"v");
    let report = verify_dir(tmp.path()).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert!(report.notes.iter().any(|n| n.contains("alerts_sent (1 records) is not checked")), "{:?}", report.notes);
}
