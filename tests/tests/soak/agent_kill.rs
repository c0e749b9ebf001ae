//! `kill -9` agents while they follow a growing mail log that is rotated
//! again and again, by rename and by copytruncate: in the end the delivery
//! totals the controller stored per host equal an offline
//! `rblfleet-agent scan` of every line written to that host's log.
//!
//! The agents are real `rblfleet-agent run` processes; the controller runs
//! in the test process (it is not the one being killed here). The follower
//! documents one limit, inherent to rotation: a rotated file must be read
//! before the next rotation overwrites it. So before each rotation the test
//! waits until every agent has reported the lines written before the
//! previous one; a rotation may still happen while an agent is down or
//! behind on the current file.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rblfleet_tests::procs::{Proc, binary};
use rblfleet_tests::{Controller, Pki};
use serde_json::Value;

use crate::form;
use crate::maillog::{MailLog, Rotation};

/// How hard to push.
struct Plan {
    agents: usize,
    kills: usize,
    rotations: usize,
    /// Appends per round between two rotations.
    batches: usize,
}

impl Plan {
    fn new() -> Plan {
        if form::long() {
            Plan { agents: 2, kills: 20, rotations: 50, batches: 3 }
        } else {
            Plan { agents: 2, kills: 4, rotations: 6, batches: 3 }
        }
    }
}

/// Delivery counters, as `scan` prints them and as summed from reports.
type Totals = [u64; 4];
const COUNTERS: [&str; 4] = ["sent", "deferred", "bounced", "blocklisted"];

/// One host: its log and its agent process (None while killed).
struct Host {
    id: String,
    log: MailLog,
    config: PathBuf,
    agent_log: PathBuf,
    agent: Option<Proc>,
    /// Totals of every line written before the latest rotation.
    before_rotation: Totals,
}

impl Host {
    fn start(&mut self, bin: &Path) {
        let args = ["run", "--config", self.config.to_str().unwrap()];
        self.agent = Some(Proc::spawn(&format!("agent {}", self.id), bin, &args, &self.agent_log).unwrap());
    }

    fn kill9(&mut self) {
        if let Some(mut agent) = self.agent.take() {
            agent.kill9();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_kill9_across_rotations_matches_offline_scan() {
    let plan = Plan::new();
    let mut rng = form::rng("agent kill");
    let agent_bin = binary("rblfleet-agent", "RBLFLEET_AGENT_BIN").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let data = tmp.path().join("data");
    let controller = Controller::start(&pki, &data, 0, false).await;
    let started = Instant::now();

    let mut hosts: Vec<Host> = (0..plan.agents)
        .map(|i| {
            let id = format!("follow{i:02}.example");
            let dir = tmp.path().join(&id);
            let log = MailLog::create(&dir.join("log"), &id, rng.u64(..)).unwrap();
            let config = dir.join("agent.toml");
            std::fs::write(&config, agent_config(&pki, &id, &controller.agent_url(), &dir, log.path())).unwrap();
            Host { id, log, config, agent_log: dir.join("agent.log"), agent: None, before_rotation: [0; 4] }
        })
        .collect();
    for host in &mut hosts {
        host.start(&agent_bin);
    }

    // Each kill lands in a random round, either while lines are being
    // appended (restart soon after) or just before the rotation (restart
    // only after it, so the rotation happens while the agent is down).
    let mut kills: Vec<(usize, bool)> = (0..plan.kills).map(|_| (rng.usize(0..plan.rotations), rng.bool())).collect();
    kills.sort_unstable();
    let (mut killed, mut down_across) = (0, 0);
    for round in 0..plan.rotations {
        let mut during = kills.iter().filter(|&&(r, before)| r == round && !before).count();
        for batch in 0..plan.batches {
            for host in &mut hosts {
                host.log.append(rng.usize(2..25)).unwrap();
            }
            // Spread this round's kills over its batches.
            let now = if batch + 1 == plan.batches { during } else { usize::from(during > 0 && rng.bool()) };
            for _ in 0..now {
                tokio::time::sleep(Duration::from_millis(rng.u64(0..400))).await;
                let host = &mut hosts[rng.usize(0..plan.agents)];
                host.kill9();
                tokio::time::sleep(Duration::from_millis(rng.u64(0..300))).await;
                host.start(&agent_bin);
                killed += 1;
            }
            during -= now;
            tokio::time::sleep(Duration::from_millis(rng.u64(20..250))).await;
        }
        // The previous rotation's file must be read before it is replaced.
        for host in &hosts {
            wait_for(&controller, host, host.before_rotation, &started).await;
        }
        let mut down = BTreeSet::new();
        for _ in kills.iter().filter(|&&(r, before)| r == round && before) {
            let i = rng.usize(0..plan.agents);
            tokio::time::sleep(Duration::from_millis(rng.u64(0..300))).await;
            hosts[i].kill9();
            down.insert(i);
            killed += 1;
        }
        let how = if round % 2 == 0 { Rotation::Rename } else { Rotation::CopyTruncate };
        for host in &mut hosts {
            host.before_rotation = scan(&agent_bin, host.log.all_lines());
            host.log.rotate(how).unwrap();
            host.log.append(rng.usize(1..10)).unwrap();
        }
        for &i in &down {
            hosts[i].start(&agent_bin);
        }
        down_across += down.len();
    }
    assert_eq!(killed, plan.kills);

    // Everything written is read and reported, and nothing twice.
    let mut lines = 0;
    let mut expected_all = [0; 4];
    for host in &mut hosts {
        let expected = scan(&agent_bin, host.log.all_lines());
        wait_for(&controller, host, expected, &started).await;
        host.agent.take().unwrap().terminate(Duration::from_secs(30)).unwrap();
        let via_api = controller_totals(&controller, &host.id).await.unwrap();
        assert_eq!(via_api, expected, "{}: hourly totals at the controller vs scan {COUNTERS:?}", host.id);
        lines += host.log.lines();
        (0..4).for_each(|c| expected_all[c] += expected[c]);
    }
    controller.stop().await;
    let store = rblfleet_controller::store::Store::open(&data, &Default::default()).unwrap();
    for host in &hosts {
        let mut stored = [0; 4];
        let reports = store.host_reports(&host.id).unwrap();
        for d in reports.iter().filter_map(|r| r.deliveries) {
            let add = [d.sent, d.deferred, d.bounced, d.blocklisted];
            (0..4).for_each(|c| stored[c] += add[c]);
        }
        let expected = scan(&agent_bin, host.log.all_lines());
        assert_eq!(stored, expected, "{}: sum over stored reports vs scan {COUNTERS:?}", host.id);
        println!("{}: {} reports stored, totals {expected:?} {COUNTERS:?}", host.id, reports.len());
    }
    println!(
        "agent kill -9: {} agents, {killed} kills ({down_across} across a rotation), {} rotations (rename and \
         copytruncate alternately), {lines} lines, totals {expected_all:?} {COUNTERS:?} equal at the controller and \
         in the offline scan, {:?} in all",
        plan.agents,
        plan.rotations,
        started.elapsed()
    );
}

/// The agent's configuration: report every 300 ms, read the log from its
/// first line, no journal, no queue tool.
fn agent_config(pki: &Pki, host: &str, url: &str, dir: &Path, maillog: &Path) -> String {
    let (cert, key) = pki.agent(host);
    format!(
        "host_id = {host:?}\n\
         [controller]\nurl = {url:?}\nca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\ntimeout = \"5s\"\n\
         [report]\ninterval = \"300ms\"\n\
         [outbox]\ndir = {outbox:?}\n\
         [retry]\ninitial = \"50ms\"\nmax = \"500ms\"\n\
         [ips]\nstatic = [\"203.0.113.10\"]\n\
         [logs]\npaths = [{maillog:?}]\njournald = \"never\"\nread_existing = true\npoll_interval = \"100ms\"\n\
         [queue]\nmta = \"none\"\n",
        ca = pki.ca_cert().display().to_string(),
        cert = cert.display().to_string(),
        key = key.display().to_string(),
        outbox = dir.join("outbox").display().to_string(),
        maillog = maillog.display().to_string(),
    )
}

/// `rblfleet-agent scan --format json FILE`: its delivery totals.
fn scan(bin: &Path, file: &Path) -> Totals {
    let out = std::process::Command::new(bin).args(["scan", "--format", "json"]).arg(file).output().unwrap();
    assert!(out.status.success(), "scan {}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    COUNTERS.map(|c| json["totals"][c].as_u64().unwrap_or_else(|| panic!("totals.{c} in the scan output")))
}

/// The host's delivery totals at the controller: the hourly roll-ups of the
/// last 24 hours (`rblfleet host NAME --format json`), summed. An error
/// while the host has not reported yet ("not found").
async fn controller_totals(controller: &Controller, host: &str) -> anyhow::Result<Totals> {
    let json = controller.cli(&["host", host, "--format", "json"]).await?;
    let value: Value = serde_json::from_str(&json)?;
    let mut totals = [0; 4];
    let hours = value["trend_24h"].as_array().ok_or_else(|| anyhow::anyhow!("no trend_24h in {value}"))?;
    for hour in hours {
        for (c, name) in COUNTERS.iter().enumerate() {
            totals[c] += hour[name].as_u64().ok_or_else(|| anyhow::anyhow!("no {name} in {hour}"))?;
        }
    }
    Ok(totals)
}

/// Waits until the controller holds at least `expected` for `host` (the
/// agent read and reported those lines); fails after a minute with both
/// figures and the agent's log.
async fn wait_for(controller: &Controller, host: &Host, expected: Totals, started: &Instant) {
    if expected == [0; 4] {
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = controller_totals(controller, &host.id).await;
        if let Ok(got) = &got
            && (0..4).all(|c| got[c] >= expected[c])
        {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "{}: after {:?} the controller holds {got:?}, the lines written hold {expected:?} {COUNTERS:?}\n{}",
                host.id,
                started.elapsed(),
                rblfleet_tests::procs::log_tail(&host.agent_log, 30)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
