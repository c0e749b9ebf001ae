//! `kill -9` the controller again and again while agents report: every
//! report acknowledged before a kill is still there after the restart, none
//! is stored twice, and the agents' outboxes drain.
//!
//! The controller is a real `rblfleet serve` process. The agents are the
//! agent library in this process, with real sled outboxes, driven by
//! `tick` (record a report into the outbox) and `flush` (send the outbox
//! oldest-first; a report leaves the outbox only after its ack). So an
//! agent's acknowledged reports are exactly seqs `1..=generated - backlog`,
//! and reading that before a kill gives a lower bound of what the
//! controller has promised to keep. After every kill, before the restart,
//! `rblfleet verify` checks the crashed store's consistency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rblfleet_agent::{Agent, Config as AgentConfig, RunOptions};
use rblfleet_controller::store::{Store, StoreOptions};
use rblfleet_tests::procs::{ControllerProc, preserve};
use rblfleet_tests::{Pki, agent_toml};

use crate::form;

/// How hard to push.
struct Plan {
    agents: usize,
    kills: usize,
    /// Pause of an agent between two reports.
    pace: Duration,
    /// Time between a restart and the next kill, at random in this range (ms).
    between_kills_ms: std::ops::Range<u64>,
}

impl Plan {
    fn new() -> Plan {
        if form::long() {
            Plan { agents: 100, kills: 20, pace: Duration::from_millis(200), between_kills_ms: 1000..4000 }
        } else {
            Plan { agents: 10, kills: 3, pace: Duration::from_millis(50), between_kills_ms: 500..1500 }
        }
    }
}

/// What one agent did, shared with the test's main task.
#[derive(Default)]
struct Ledger {
    epoch: AtomicU64,
    /// Highest seq recorded into the outbox.
    generated: AtomicU64,
    /// Every seq up to this one was acknowledged (left the outbox).
    acked: AtomicU64,
    /// Acks that said "already stored": a resend after a lost ack.
    duplicates: AtomicU64,
}

/// One row of `rblfleet hosts --format json`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Stored {
    epoch: u64,
    last_seq: u64,
    reports: u64,
    gaps: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn controller_kill9_during_ingest_loses_and_duplicates_nothing() {
    let plan = Plan::new();
    let mut rng = form::rng("controller kill");
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let mut controller = ControllerProc::new(&pki, &tmp.path().join("controller")).unwrap();
    let first_start = controller.start(Duration::from_secs(60)).await.unwrap();
    let started = Instant::now();

    let producing = Arc::new(AtomicBool::new(true));
    let ledgers: Vec<Arc<Ledger>> = (0..plan.agents).map(|_| Arc::new(Ledger::default())).collect();
    let no_log = tmp.path().join("empty-maillog");
    std::fs::write(&no_log, "").unwrap();
    let mut tasks = Vec::new();
    for (i, ledger) in ledgers.iter().enumerate() {
        let host = host(i);
        let mut toml = agent_toml(&pki, &host, &controller.agent_url(), &tmp.path().join(format!("outbox-{i}")));
        toml.push_str(&format!("[logs]\npaths = [{:?}]\njournald = \"never\"\n[queue]\nmta = \"none\"\n", no_log));
        let config = AgentConfig::from_toml_str(&toml).unwrap();
        let agent = Agent::open(config, RunOptions::default()).await.unwrap();
        ledger.epoch.store(agent.epoch(), Ordering::SeqCst);
        tasks.push(tokio::spawn(drive(agent, ledger.clone(), producing.clone(), plan.pace, rng.u64(..))));
    }

    let mut restarts = Vec::new();
    for kill in 1..=plan.kills {
        tokio::time::sleep(Duration::from_millis(rng.u64(plan.between_kills_ms.clone()))).await;
        let acked_before: Vec<u64> = ledgers.iter().map(|l| l.acked.load(Ordering::SeqCst)).collect();
        controller.kill9();
        // The crashed store, as found: consistent before anything repairs it.
        if let Err(e) = controller.verify() {
            fail(&mut controller, &format!("the store after kill {kill}: {e:#}"));
        }
        tokio::time::sleep(Duration::from_millis(rng.u64(0..300))).await;
        let took = match controller.start(Duration::from_secs(60)).await {
            Ok(took) => took,
            Err(e) => fail(&mut controller, &format!("restart after kill {kill} failed: {e:#}")),
        };
        restarts.push(took);
        let stored = hosts(&controller).await;
        for (i, &acked) in acked_before.iter().enumerate() {
            check_prefix(&mut controller, &format!("after kill {kill}"), &host(i), &ledgers[i], acked, &stored);
        }
        let acked: u64 = acked_before.iter().sum();
        let total: u64 = stored.values().map(|s| s.reports).sum();
        println!("kill {kill}: {acked} reports acked before it, {total} stored after the restart ({took:?} to listen)");
    }

    // Stop recording; the agents deliver what their outboxes hold.
    producing.store(false, Ordering::SeqCst);
    let drain = Instant::now();
    for task in tasks {
        match tokio::time::timeout(Duration::from_secs(120), task).await {
            Ok(joined) => joined.unwrap().unwrap(),
            Err(_) => fail(&mut controller, "an agent's outbox did not drain within 120 s"),
        }
    }
    let drained_in = drain.elapsed();
    let stored = hosts(&controller).await;
    for (i, ledger) in ledgers.iter().enumerate() {
        let generated = ledger.generated.load(Ordering::SeqCst);
        check_prefix(&mut controller, "at the end", &host(i), ledger, generated, &stored);
        let got = stored.get(&host(i)).map_or(0, |s| s.reports);
        if got != generated {
            fail(&mut controller, &format!("{}: {got} reports stored, {generated} generated", host(i)));
        }
    }
    controller.stop().unwrap();
    controller.verify().unwrap();
    let elapsed = started.elapsed();

    // On disk: each host's reports are seqs 1..=generated of its epoch, each
    // once, and the hourly roll-ups counted each report once.
    let store = Store::open(&controller.data_dir, &StoreOptions::default())
        .unwrap_or_else(|e| panic!("the store does not reopen after a clean stop: {e}"));
    let (mut total, mut duplicates) = (0, 0);
    for (i, ledger) in ledgers.iter().enumerate() {
        let host = host(i);
        let generated = ledger.generated.load(Ordering::SeqCst);
        let epoch = ledger.epoch.load(Ordering::SeqCst);
        let keys: Vec<(u64, u64)> = store.host_reports(&host).unwrap().iter().map(|r| (r.epoch, r.seq)).collect();
        let expected: Vec<(u64, u64)> = (1..=generated).map(|seq| (epoch, seq)).collect();
        assert_eq!(keys, expected, "{host}: stored (epoch, seq) differ from what the agent generated");
        let rolled: u64 = store.rollups(&host, 0, i64::MAX).unwrap().iter().map(|r| r.reports).sum();
        assert_eq!(rolled, generated, "{host}: the hourly roll-ups count {rolled} reports, {generated} were stored");
        total += generated;
        duplicates += ledger.duplicates.load(Ordering::SeqCst);
    }
    println!(
        "controller kill -9: {} agents, {} kills, {total} reports stored exactly once, {duplicates} resent after a \
         lost ack (answered duplicate), restart to listening {:?} first / {:?} max, outboxes drained in {drained_in:?}, \
         {elapsed:?} in all",
        plan.agents,
        plan.kills,
        first_start,
        restarts.iter().max().copied().unwrap_or_default(),
    );
}

fn host(i: usize) -> String {
    format!("soak{i:03}.example")
}

/// One agent: record a report, send the outbox, note what was acked; after
/// `producing` turns false, only send until the outbox is empty.
async fn drive(
    mut agent: Agent,
    ledger: Arc<Ledger>,
    producing: Arc<AtomicBool>,
    pace: Duration,
    seed: u64,
) -> anyhow::Result<()> {
    let mut rng = fastrand::Rng::with_seed(seed);
    loop {
        let producing = producing.load(Ordering::SeqCst);
        if !producing && agent.backlog() == 0 {
            break;
        }
        if producing {
            let seq = agent.tick()?;
            ledger.generated.store(seq, Ordering::SeqCst);
        }
        let outcome = agent.flush().await;
        if outcome.rejected > 0 {
            anyhow::bail!("{}: the controller refused {} reports: {:?}", agent.host_id(), outcome.rejected, outcome);
        }
        let generated = ledger.generated.load(Ordering::SeqCst);
        let backlog = u64::try_from(agent.backlog())?;
        ledger.acked.store(generated - backlog, Ordering::SeqCst);
        ledger.duplicates.fetch_add(outcome.duplicates as u64, Ordering::SeqCst);
        // Unhurried after a failure (the controller is down), jittered always
        // so the agents do not move in lockstep.
        let pause = if outcome.last_error.is_some() { pace * 2 } else { pace };
        tokio::time::sleep(pause.mul_f64(0.5 + rng.f64())).await;
    }
    anyhow::ensure!(agent.dropped()? == 0, "{}: the outbox dropped reports (full)", agent.host_id());
    Ok(())
}

/// Every host as the controller's admin API lists it.
async fn hosts(controller: &ControllerProc) -> BTreeMap<String, Stored> {
    let json = controller.cli(&["hosts", "--format", "json"]).await.unwrap();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
    let field = |row: &serde_json::Value, name: &str| row[name].as_u64().unwrap_or_else(|| panic!("{name} in {row}"));
    rows.iter()
        .map(|row| {
            let host = row["host_id"].as_str().unwrap().to_string();
            let stored = Stored {
                epoch: field(row, "epoch"),
                last_seq: field(row, "last_seq"),
                reports: field(row, "reports_stored"),
                gaps: field(row, "seq_gaps"),
            };
            (host, stored)
        })
        .collect()
}

/// The controller holds seqs 1..=`through` of the agent's epoch: as many
/// reports as its last seq, no gap, last seq at least `through`.
fn check_prefix(
    controller: &mut ControllerProc,
    when: &str,
    host: &str,
    ledger: &Ledger,
    through: u64,
    stored: &BTreeMap<String, Stored>,
) {
    if through == 0 {
        return;
    }
    let epoch = ledger.epoch.load(Ordering::SeqCst);
    let Some(&s) = stored.get(host) else {
        fail(controller, &format!("{when}: {host} had {through} reports acked, the controller knows no such host"))
    };
    if s.epoch != epoch || s.last_seq < through || s.gaps != 0 || s.reports != s.last_seq {
        fail(
            controller,
            &format!("{when}: {host} had seqs 1..={through} of epoch {epoch} acked; the controller holds {s:?}"),
        );
    }
}

/// Stops the controller, keeps its data directory for a post-mortem and
/// fails the test with `message` and the controller's last log lines.
fn fail(controller: &mut ControllerProc, message: &str) -> ! {
    controller.kill9();
    let kept = match preserve(&controller.data_dir, "controller-kill") {
        Ok(dir) => format!("data directory kept in {}", dir.display()),
        Err(e) => format!("could not keep the data directory: {e:#}"),
    };
    panic!("{message}\n{kept}\n{}", controller.log_tail(40));
}
