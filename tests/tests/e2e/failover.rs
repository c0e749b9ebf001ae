//! Several controllers (issue 17): two real `rblfleet serve` processes, each
//! with its own sled store and its own server certificate from the same CA
//! (issued with `rblfleet ca issue --controller`), and the real
//! `rblfleet-agent run` given both URLs. Controller A is killed with SIGKILL;
//! the agent's next reports are acknowledged by B, the switch is logged
//! once and shown by `rblfleet-agent doctor`, and no report is lost.
//!
//! Each URL's host must match its controller's certificate: A's names only
//! `localhost`, B's only `127.0.0.1`, and the agent reaches them as
//! `https://localhost:PORT` and `https://127.0.0.1:PORT`.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rblfleet_agent::doctor::{self, Status};
use rblfleet_agent::store::outbox::Outbox;
use rblfleet_controller::store::{Store, StoreOptions};
use rblfleet_tests::Pki;
use rblfleet_tests::procs::{Proc, binary, free_port, log_tail};

const HOST: &str = "web61.example";

/// Runs an `rblfleet` command in this process; returns stdout.
async fn rblfleet(args: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec!["rblfleet".to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let mut out = Vec::new();
    rblfleet_controller::cli::run_args(argv, &mut out).await?;
    Ok(String::from_utf8(out)?)
}

/// One controller: its directory (certificate, config, store, log) and ports.
struct Ctl {
    dir: PathBuf,
    agent: SocketAddr,
    admin: SocketAddr,
    proc: Option<Proc>,
}

impl Ctl {
    /// Issues the controller certificate for `name` with the CLI and moves
    /// it into `dir` (the CLI always writes CA_DIR/controller.{crt,key}).
    async fn issue(ca: &Path, dir: &Path, name: &str) -> Ctl {
        std::fs::create_dir_all(dir).unwrap();
        let ca_dir = ca.to_str().unwrap();
        rblfleet(&["ca", "issue", "--dir", ca_dir, "--controller", name, "--force"]).await.unwrap();
        for file in ["controller.crt", "controller.key"] {
            std::fs::rename(ca.join(file), dir.join(file)).unwrap();
        }
        let agent = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let toml = format!(
            "data_dir = {data:?}\n\
             [agent_api]\nlisten = \"{agent}\"\n\
             [admin_api]\nlisten = \"{admin}\"\n\
             [tls]\nca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\n\
             [store]\ncache_mib = 16\n\
             [dnsbl]\nenabled = false\n\
             [metrics]\nenabled = false\n",
            data = dir.join("data").display().to_string(),
            ca = ca.join("ca.crt").display().to_string(),
            cert = dir.join("controller.crt").display().to_string(),
            key = dir.join("controller.key").display().to_string(),
        );
        std::fs::write(dir.join("controller.toml"), toml).unwrap();
        Ctl { dir: dir.to_path_buf(), agent, admin, proc: None }
    }

    fn start(&mut self) {
        let bin = binary("rblfleet", "RBLFLEET_BIN").unwrap();
        let config = self.dir.join("controller.toml");
        let args = ["serve", "--config", config.to_str().unwrap()];
        let mut proc = Proc::spawn("rblfleet serve", &bin, &args, &self.dir.join("controller.log")).unwrap();
        let start = Instant::now();
        while !(connects(self.agent) && connects(self.admin)) {
            assert!(proc.exited().is_none(), "rblfleet serve exited\n{}", proc.log_tail(30));
            assert!(start.elapsed() < Duration::from_secs(60), "rblfleet serve did not listen\n{}", proc.log_tail(30));
            std::thread::sleep(Duration::from_millis(20));
        }
        self.proc = Some(proc);
    }

    /// Reports stored for HOST, from `rblfleet host` against this controller.
    async fn stored(&self) -> u64 {
        let url = format!("http://{}", self.admin);
        match rblfleet(&["host", HOST, "--format", "json", "--controller", &url]).await {
            Ok(text) => serde_json::from_str::<serde_json::Value>(&text).unwrap()["reports_stored"].as_u64().unwrap(),
            Err(_) => 0, // not known before its first report
        }
    }

    /// The (epoch, seq) of every report of HOST in this controller's store
    /// (the controller must be stopped).
    fn seqs(&self) -> Vec<(u64, u64)> {
        let store = Store::open(&self.dir.join("data"), &StoreOptions::default()).unwrap();
        store.host_reports(HOST).unwrap().iter().map(|r| (r.epoch, r.seq)).collect()
    }
}

fn connects(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Polls `check` every 100 ms until it is true, for at most two minutes.
async fn until<F: std::future::Future<Output = bool>>(what: &str, log: &Path, mut check: impl FnMut() -> F) {
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < Duration::from_secs(120), "timed out waiting for {what}\n{}", log_tail(log, 30));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn agent_config(pki: &Pki, urls: &[String], dir: &Path) -> PathBuf {
    std::fs::write(dir.join("mail.log"), "").unwrap();
    let path = dir.join("agent.toml");
    let toml = rblfleet_tests::failover_agent_toml(pki, HOST, "203.0.113.61", urls, dir);
    std::fs::write(&path, toml).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_controller_fails_over_to_the_other_and_no_report_is_lost() {
    let agent_bin = binary("rblfleet-agent", "RBLFLEET_AGENT_BIN").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let ca = dir.join("ca");
    rblfleet(&["ca", "init", "--dir", ca.to_str().unwrap()]).await.unwrap();
    let pki = Pki { dir: ca.clone() };
    let mut a = Ctl::issue(&ca, &dir.join("a"), "localhost").await;
    let mut b = Ctl::issue(&ca, &dir.join("b"), "127.0.0.1").await;
    a.start();
    b.start();
    let (url_a, url_b) =
        (format!("https://localhost:{}", a.agent.port()), format!("https://127.0.0.1:{}", b.agent.port()));
    let config = agent_config(&pki, &[url_a.clone(), url_b.clone()], dir);
    let log = dir.join("agent.log");
    let mut agent = Proc::spawn("agent", &agent_bin, &["run", "--config", config.to_str().unwrap()], &log).unwrap();

    // The first URL that works is used: A.
    until("three reports on A", &log, || async { a.stored().await >= 3 }).await;
    assert_eq!(b.stored().await, 0, "nothing goes to B while A answers");

    a.proc.take().unwrap().kill9();
    until("three reports on B", &log, || async { b.stored().await >= 3 }).await;
    let text = std::fs::read_to_string(&log).unwrap();
    let switches: Vec<&str> = text.lines().filter(|l| l.contains("switched controller")).collect();
    assert_eq!(switches.len(), 1, "the switch is logged once\n{text}");
    assert!(switches[0].contains(&url_b) && switches[0].contains(&url_a), "{}", switches[0]);
    eprintln!("switch logged: {}", switches[0]);

    // The doctor shows the controller in use; A down is a warning, since B answers.
    let options =
        doctor::Options { config: config.clone(), insecure: false, timeout: Duration::from_secs(20), lines: 10 };
    let report = doctor::run(&options).await;
    let row = |check: &str, url: &str| {
        report
            .checks
            .iter()
            .find(|c| c.check == check && c.detail.contains(url))
            .unwrap_or_else(|| panic!("{report:?}"))
    };
    let in_use = row("controller_in_use", &url_b);
    assert!(in_use.detail.contains(&format!("switched from {url_a}")), "{in_use:?}");
    assert_eq!(row("controller", &url_b).status, Status::Ok);
    assert_eq!(row("controller", &url_a).status, Status::Warning);

    agent.terminate(Duration::from_secs(30)).unwrap();
    b.proc.take().unwrap().terminate(Duration::from_secs(30)).unwrap();

    // Count: every seq the agent made is on A, on B or still in its outbox.
    let (on_a, on_b) = (a.seqs(), b.seqs());
    let mut outbox = Outbox::open(&dir.join("outbox"), 1000).unwrap();
    let epoch = outbox.epoch();
    let mut waiting = Vec::new();
    while let Some(report) = outbox.peek_oldest().unwrap() {
        waiting.push(report.seq);
        outbox.ack(report.seq).unwrap();
    }
    assert_eq!((outbox.dropped().unwrap(), outbox.rejected().unwrap()), (0, 0));
    assert!(on_a.iter().chain(&on_b).all(|(e, _)| *e == epoch), "one epoch: {on_a:?} {on_b:?}");
    let a_set: BTreeSet<u64> = on_a.iter().map(|(_, s)| *s).collect();
    let b_set: BTreeSet<u64> = on_b.iter().map(|(_, s)| *s).collect();
    assert_eq!(a_set.len(), on_a.len(), "A stored a seq twice");
    assert_eq!(b_set.len(), on_b.len(), "B stored a seq twice");
    let all: BTreeSet<u64> = a_set.iter().chain(&b_set).chain(&waiting).copied().collect();
    let last = *all.last().unwrap();
    assert_eq!(all, (1..=last).collect::<BTreeSet<u64>>(), "a report was lost: A {a_set:?} B {b_set:?} {waiting:?}");
    // A's reports come first, B's after: the agent never went back to A.
    let (a_last, b_first) = (*a_set.last().unwrap(), *b_set.first().unwrap());
    assert!(b_first >= a_last, "A {a_set:?} B {b_set:?}");
    // The only report that can be on both is the one in flight when A died:
    // A stored it, its ack was lost with the process, and the agent resent
    // it to B (on a shared store the (host, epoch, seq) check makes that a
    // duplicate; on two sled stores both keep it).
    let both: Vec<u64> = a_set.intersection(&b_set).copied().collect();
    assert!(both.is_empty() || both == [a_last], "on both: {both:?}");
    eprintln!(
        "failover: A stored {} (last {a_last}), B stored {} (first {b_first}), on both {both:?}, waiting {}",
        a_set.len(),
        b_set.len(),
        waiting.len()
    );
}
