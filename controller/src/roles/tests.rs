//! The runner on sled (always leading) and on a real throwaway cluster
//! with two controllers contending.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_postgres::NoTls;

use super::Roles;
use crate::store::{LeadTiming, Role, Store, StoreOptions, TestDb};

const PATIENCE: Duration = Duration::from_secs(60);

const FAST: LeadTiming = LeadTiming {
    retry: Duration::from_millis(100),
    check: Duration::from_millis(300),
    timeout: Duration::from_secs(2),
    settle: Duration::from_secs(2),
};

/// Counts the role's tasks running at once, over both controllers.
#[derive(Debug, Default)]
struct Tally {
    active: AtomicUsize,
    most: AtomicUsize,
    starts: AtomicUsize,
    stopped_when_told: AtomicUsize,
}

/// A role's task: counted while it runs, until told to stop.
fn task(tally: Arc<Tally>) -> impl FnMut(watch::Receiver<bool>) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    move |mut stop| {
        let tally = tally.clone();
        Box::pin(async move {
            let _running = Running::enter(tally.clone());
            let _ = stop.wait_for(|s| *s).await;
            tally.stopped_when_told.fetch_add(1, Ordering::SeqCst);
        })
    }
}

struct Running(Arc<Tally>);

impl Running {
    fn enter(tally: Arc<Tally>) -> Running {
        tally.starts.fetch_add(1, Ordering::SeqCst);
        let now = tally.active.fetch_add(1, Ordering::SeqCst) + 1;
        tally.most.fetch_max(now, Ordering::SeqCst);
        Running(tally)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "{what}: not after {PATIENCE:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[allow(clippy::unwrap_used)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_sled_the_task_runs_at_once_and_stops_when_told() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
    let tally = Arc::new(Tally::default());
    let roles = Roles::default();
    let (stop, stopped) = watch::channel(false);
    let runner = roles.run(store.leadership(Role::Retention).unwrap(), stopped, task(tally.clone()));
    until("started", || tally.starts.load(Ordering::SeqCst) == 1).await;
    assert_eq!(roles.states(), vec![(Role::Retention, true)]);
    stop.send(true).unwrap();
    tokio::time::timeout(PATIENCE, runner).await.unwrap().unwrap();
    assert_eq!(tally.stopped_when_told.load(Ordering::SeqCst), 1);
    assert_eq!(tally.active.load(Ordering::SeqCst), 0);
    assert_eq!(roles.states(), vec![(Role::Retention, false)]);
}

#[allow(clippy::unwrap_used)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_runs_on_one_controller_and_moves_when_the_leaders_session_is_killed() {
    let Some(db) = TestDb::create_or_skip("roles::tests::the_task_runs_on_one_controller") else { return };
    let open = || Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
    let (a, b) = (open(), open());
    let tally = Arc::new(Tally::default());
    let (stop, stopped) = watch::channel(false);
    let controllers = [Roles::default(), Roles::default()];
    let runners = [
        controllers[0].run(a.leadership_at(Role::Alerts, FAST).unwrap(), stopped.clone(), task(tally.clone())),
        controllers[1].run(b.leadership_at(Role::Alerts, FAST).unwrap(), stopped.clone(), task(tally.clone())),
    ];
    let leading = |c: &Roles| c.states() == vec![(Role::Alerts, true)];
    until("one controller runs alerts", || controllers.iter().any(leading)).await;
    let old = usize::from(!leading(&controllers[0]));
    assert!(!leading(&controllers[1 - old]));

    let (admin, connection) = tokio_postgres::connect(&db.url, NoTls).await.unwrap();
    tokio::spawn(connection);
    let terminated: i64 = admin
        .query_one(
            "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted AND a.application_name = 'rblfleet-lead-alerts'
                AND a.datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(terminated, 1);
    until("the other controller runs alerts", || leading(&controllers[1 - old])).await;
    assert!(!leading(&controllers[old]));
    assert_eq!(tally.starts.load(Ordering::SeqCst), 2);
    assert_eq!(tally.most.load(Ordering::SeqCst), 1, "two controllers ran alerts at once");
    // The task that lost its leadership was told to stop, and did.
    assert_eq!(tally.stopped_when_told.load(Ordering::SeqCst), 1);

    stop.send(true).unwrap();
    for runner in runners {
        tokio::time::timeout(PATIENCE, runner).await.unwrap().unwrap();
    }
    assert_eq!(tally.active.load(Ordering::SeqCst), 0);
}

#[allow(clippy::unwrap_used)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rider_is_shown_led_exactly_while_its_carriers_task_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
    let tally = Arc::new(Tally::default());
    let roles = Roles::default();
    let (stop, stopped) = watch::channel(false);
    let leadership = store.leadership(Role::Engine).unwrap();
    let runner = roles.run_with(leadership, &[Role::Alerts], stopped, task(tally.clone()));
    until("started", || tally.starts.load(Ordering::SeqCst) == 1).await;
    assert_eq!(roles.states(), vec![(Role::Engine, true), (Role::Alerts, true)].into_iter().sorted());
    stop.send(true).unwrap();
    tokio::time::timeout(PATIENCE, runner).await.unwrap().unwrap();
    assert_eq!(roles.states(), vec![(Role::Engine, false), (Role::Alerts, false)].into_iter().sorted());
}

/// Sorted the way `Roles::states` sorts.
trait Sorted {
    fn sorted(self) -> Vec<(Role, bool)>;
}

impl<I: Iterator<Item = (Role, bool)>> Sorted for I {
    fn sorted(self) -> Vec<(Role, bool)> {
        let mut all: Vec<_> = self.collect();
        all.sort();
        all
    }
}
