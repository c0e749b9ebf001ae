//! Two controllers (two stores on one database) contend for every role on
//! a real throwaway cluster.

use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

use super::{LEAD_LOCK, Timing};
use crate::store::{Leadership, Role, Store, StoreOptions, TestDb};

/// Faster than production, with the same shape: settling (2 s) far longer
/// than a terminated leader needs to notice its closed connection.
const FAST: Timing = Timing {
    retry: Duration::from_millis(100),
    check: Duration::from_millis(300),
    timeout: Duration::from_secs(2),
    settle: Duration::from_secs(2),
};

/// Generous: only a broken election takes this long.
const PATIENCE: Duration = Duration::from_secs(60);

#[allow(clippy::unwrap_used)]
fn open(db: &TestDb) -> Store {
    Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap()
}

#[allow(clippy::unwrap_used)]
async fn admin(db: &TestDb) -> Client {
    let (client, connection) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// The backends holding `role`'s lock in this test's database (advisory
/// locks are per database), as the server sees them.
#[allow(clippy::unwrap_used)]
async fn holders(admin: &Client, role: Role) -> Vec<i32> {
    admin
        .query(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid::int8 = $1
               AND objid::int8 = $2 AND objsubid = 2 AND granted
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[&i64::from(LEAD_LOCK), &i64::from(role.key())],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Waits until exactly one of `pair` leads; its index.
async fn one_leader(pair: &[Leadership]) -> usize {
    let start = Instant::now();
    loop {
        match (pair[0].is_leader(), pair[1].is_leader()) {
            (true, false) => return 0,
            (false, true) => return 1,
            (true, true) => panic!("{:?}: two leaders", pair[0].role()),
            (false, false) => {}
        }
        assert!(start.elapsed() < PATIENCE, "{:?}: no leader after {PATIENCE:?}", pair[0].role());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Watches `pair` every 2 ms until `new` leads: never both at once.
/// Returns how long it took.
async fn handover(pair: &[Leadership], new: usize) -> Duration {
    let start = Instant::now();
    while !pair[new].is_leader() {
        assert!(!pair[1 - new].is_leader() || !pair[new].is_leader(), "two leaders at once");
        assert!(start.elapsed() < PATIENCE, "no takeover after {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(!pair[1 - new].is_leader(), "the old leader still leads after the takeover");
    start.elapsed()
}

#[allow(clippy::unwrap_used)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_has_one_leader_and_another_takes_over_when_its_session_is_killed() {
    let Some(db) = TestDb::create_or_skip("store::pg::lead::tests::each_role_has_one_leader") else { return };
    let (a, b) = (open(&db), open(&db));
    let admin = admin(&db).await;
    for role in Role::ALL {
        let pair = [a.leadership_at(role, FAST).unwrap(), b.leadership_at(role, FAST).unwrap()];
        let old = one_leader(&pair).await;
        let pid = pair[old].backend_pid().unwrap();
        assert_eq!(holders(&admin, role).await, vec![pid], "{role:?}: the server's holder is the leader's session");
        // The follower keeps trying and keeps failing: still one leader.
        tokio::time::sleep(FAST.retry * 5).await;
        assert!(pair[old].is_leader() && !pair[1 - old].is_leader());

        let killed: bool = admin.query_one("SELECT pg_terminate_backend($1)", &[&pid]).await.unwrap().get(0);
        assert!(killed);
        let took = handover(&pair, 1 - old).await;
        assert!(took >= FAST.settle, "{role:?}: led after {took:?}, before settling");
        let new_pid = pair[1 - old].backend_pid().unwrap();
        assert_ne!(new_pid, pid);
        assert_eq!(holders(&admin, role).await, vec![new_pid], "{role:?}");
        // The old leader reconnects and follows.
        tokio::time::sleep(FAST.retry * 5).await;
        assert!(!pair[old].is_leader());
    }
}

#[allow(clippy::unwrap_used)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_leader_hands_the_role_over_and_frees_its_lock() {
    let Some(db) = TestDb::create_or_skip("store::pg::lead::tests::dropping_the_leader_hands_the_role_over") else {
        return;
    };
    let (a, b) = (open(&db), open(&db));
    let admin = admin(&db).await;
    let mut pair = vec![a.leadership_at(Role::Engine, FAST).unwrap(), b.leadership_at(Role::Engine, FAST).unwrap()];
    let old = one_leader(&pair).await;
    let leader = pair.remove(old);
    let follower = pair.remove(0);
    let follower_pid = follower.backend_pid().unwrap();
    // The other roles are free: each role is its own lock.
    let alerts = a.leadership_at(Role::Alerts, FAST).unwrap();
    // Dropping joins the election's thread (quick, but blocking).
    tokio::task::block_in_place(|| drop(leader));
    let start = Instant::now();
    tokio::time::timeout(PATIENCE, follower.watch().wait_for(|l| *l)).await.unwrap().unwrap();
    assert!(start.elapsed() >= FAST.settle.saturating_sub(FAST.retry));
    assert_eq!(holders(&admin, Role::Engine).await, vec![follower_pid]);
    tokio::time::timeout(PATIENCE, alerts.watch().wait_for(|l| *l)).await.unwrap().unwrap();
}

#[allow(clippy::unwrap_used)]
#[test]
fn a_sled_store_always_leads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
    for role in Role::ALL {
        let leadership = store.leadership(role).unwrap();
        assert!(leadership.is_leader());
        assert_eq!(leadership.backend_pid(), None);
    }
}

/// The server takes the lock connection's keepalive settings, and with
/// them the takeover after a silent leader stays within the 30 s.
#[allow(clippy::unwrap_used)]
#[tokio::test]
async fn the_server_drops_a_silent_leaders_session_soon_enough() {
    let Some(db) = TestDb::create_or_skip("store::pg::lead::tests::the_server_drops_a_silent_leaders_session") else {
        return;
    };
    let admin = admin(&db).await;
    for set in super::SERVER_KEEPALIVE {
        admin.batch_execute(set).await.unwrap();
    }
    let show = |name: &'static str| {
        let admin = &admin;
        async move { admin.query_one(&format!("SHOW {name}"), &[]).await.unwrap().get::<_, String>(0) }
    };
    let seconds = |text: String| text.trim_end_matches('s').parse::<u64>().unwrap();
    let idle = seconds(show("tcp_keepalives_idle").await);
    let interval = seconds(show("tcp_keepalives_interval").await);
    let count: u64 = show("tcp_keepalives_count").await.parse().unwrap();
    let user_timeout_ms: u64 = show("tcp_user_timeout").await.trim_end_matches("ms").parse().unwrap();
    let dropped_after = Duration::from_secs(idle + interval * count).max(Duration::from_millis(user_timeout_ms));
    let timing = Timing::default();
    let takeover = dropped_after + timing.retry + timing.settle;
    assert!(takeover <= Duration::from_secs(30), "{takeover:?}");
    // The silent leader stops before the server frees its lock.
    assert!(
        timing.check + timing.timeout < Duration::from_millis(user_timeout_ms.min((idle + interval * count) * 1000))
    );
}
