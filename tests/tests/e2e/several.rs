//! Several controllers on one PostgreSQL database (issue 17): two real
//! `rblfleet serve` processes with `[store] controllers = "several"`, a DNS
//! zone server and a webhook sink in the test, and three real
//! `rblfleet-agent run` processes given both controllers' URLs. The
//! controller that runs the blocklist engine (its `rblfleet_role_leader`
//! gauge) is killed with SIGKILL; the other takes the engine over within
//! 30 s (the time is printed), no report is lost or stored twice, the zone
//! with a small daily budget is never asked more than its budget (counted
//! at the DNS server), and no alert reaches the sink twice. Skipped with a
//! printed WARNING where PostgreSQL cannot run.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rblfleet_agent::store::outbox::Outbox;
use rblfleet_controller::dnsbl::zone_server::ZoneServer;
use rblfleet_controller::store::{Store, StoreOptions, TestDb};
use rblfleet_tests::http_sink::HttpSink;
use rblfleet_tests::procs::{Proc, binary, free_port, log_tail};
use rblfleet_tests::{Pki, test_catalog, test_zone_server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Queries a day zone `bl` may get, fleet-wide.
const BL_PER_DAY: u64 = 30;
const HOSTS: [(&str, &str); 3] =
    [("web71.example", "203.0.113.71"), ("web72.example", "203.0.113.72"), ("web73.example", "203.0.113.73")];
/// How long any one wait may take before the test gives up (never reached
/// when things work; the takeover itself is asserted against 30 s).
const LIMIT: Duration = Duration::from_secs(90);

/// One controller process: its directory, ports and process.
struct Ctl {
    name: &'static str,
    dir: PathBuf,
    agent: SocketAddr,
    admin: SocketAddr,
    metrics: SocketAddr,
    proc: Option<Proc>,
}

impl Ctl {
    fn new(name: &'static str, dir: &Path, pki: &Pki, db: &TestDb, dns: &ZoneServer, sink: &HttpSink) -> Ctl {
        let dir = dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let port = || SocketAddr::from(([127, 0, 0, 1], free_port()));
        let (agent, admin, metrics) = (port(), port(), port());
        let mut zones = String::new();
        for zone in ["servfail", "silent", "everything", "budget", "dbl", "uribl", "dombudget"] {
            zones.push_str(&format!("[dnsbl.catalog.zone.{zone}]\nenabled = false\n"));
        }
        let toml = format!(
            "data_dir = {data:?}\n\
             [agent_api]\nlisten = \"{agent}\"\n\
             [admin_api]\nlisten = \"{admin}\"\n\
             [tls]\nca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\n\
             [store]\nbackend = \"postgres\"\nurl = {url:?}\npool_size = 4\ncontrollers = \"several\"\n\
             [dnsbl]\nenabled = true\nnameservers = [\"{dns}\"]\ntimeout = \"2s\"\nretries = 0\n\
             clean_interval = \"1s\"\nlisted_interval = \"1s\"\nerror_retry_min = \"1s\"\nerror_retry_max = \"1s\"\n\
             [dnsbl.catalog]\nfile = {catalog:?}\n\
             [dnsbl.catalog.zone.bl]\nper_day = {BL_PER_DAY}\n{zones}\
             [metrics]\nlisten = \"{metrics}\"\n\
             [alerts]\npoll_interval = \"200ms\"\nwindow = \"300ms\"\n\
             [[alerts.route]]\nname = \"sink\"\nkind = \"webhook\"\nurl = {hook:?}\n",
            data = dir.join("data").display().to_string(),
            ca = pki.ca_cert().display().to_string(),
            cert = pki.dir.join("controller.crt").display().to_string(),
            key = pki.dir.join("controller.key").display().to_string(),
            url = db.url,
            dns = dns.addr(),
            catalog = test_catalog().display().to_string(),
            hook = sink.url("/hook"),
        );
        std::fs::write(dir.join("controller.toml"), toml).unwrap();
        Ctl { name, dir, agent, admin, metrics, proc: None }
    }

    fn start(&mut self) {
        let bin = binary("rblfleet", "RBLFLEET_BIN").unwrap();
        let config = self.dir.join("controller.toml");
        let args = ["serve", "--config", config.to_str().unwrap()];
        let mut proc = Proc::spawn(self.name, &bin, &args, &self.log()).unwrap();
        let start = Instant::now();
        while ![self.agent, self.admin, self.metrics].iter().all(connects) {
            assert!(proc.exited().is_none(), "controller {} exited\n{}", self.name, proc.log_tail(30));
            assert!(start.elapsed() < LIMIT, "controller {} did not listen\n{}", self.name, proc.log_tail(30));
            std::thread::sleep(Duration::from_millis(20));
        }
        self.proc = Some(proc);
    }

    fn log(&self) -> PathBuf {
        self.dir.join("controller.log")
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.agent.port())
    }

    /// The value of the sample `series` (name and labels as exposed).
    async fn metric(&self, series: &str) -> Option<f64> {
        let text = scrape(self.metrics).await.ok()?;
        text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// This controller's `rblfleet_role_leader` gauges, by role (empty
    /// while /metrics does not answer).
    async fn roles(&self) -> BTreeMap<String, bool> {
        let Ok(text) = scrape(self.metrics).await else { return BTreeMap::new() };
        text.lines()
            .filter_map(|l| l.strip_prefix("rblfleet_role_leader{role=\""))
            .filter_map(|l| l.split_once("\"} "))
            .map(|(role, value)| (role.to_string(), value.trim() == "1"))
            .collect()
    }
}

fn connects(addr: &SocketAddr) -> bool {
    TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok()
}

/// `GET /metrics` over plain HTTP/1.0; the body.
async fn scrape(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    stream.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").await?;
    let mut text = String::new();
    tokio::time::timeout(Duration::from_secs(5), stream.read_to_string(&mut text)).await??;
    Ok(text.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default())
}

/// Polls `check` every 100 ms until it is true, for at most [`LIMIT`].
async fn until<F: std::future::Future<Output = bool>>(what: &str, logs: &[PathBuf], mut check: impl FnMut() -> F) {
    let start = Instant::now();
    while !check().await {
        if start.elapsed() > LIMIT {
            let tails: Vec<String> = logs.iter().map(|l| log_tail(l, 25)).collect();
            panic!("timed out waiting for {what}\n{}", tails.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An agent for `host` sending from `ip`, reading a generated mail log,
/// trying `urls` in order.
fn agent(pki: &Pki, dir: &Path, host: &str, ip: &str, urls: &[String]) -> (Proc, PathBuf) {
    let dir = dir.join(host);
    std::fs::create_dir_all(&dir).unwrap();
    let log: String = (0..20)
        .map(|i| {
            format!(
                "Dec  6 03:00:{i:02} {host} postfix/smtp[3]: 4A{i:02}B: to=<u{i}@example.net>, \
                 relay=mx.example.net[192.0.2.25]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 OK)\n"
            )
        })
        .collect();
    std::fs::write(dir.join("mail.log"), log).unwrap();
    let toml = rblfleet_tests::failover_agent_toml(pki, host, ip, urls, &dir);
    std::fs::write(dir.join("agent.toml"), toml).unwrap();
    let bin = binary("rblfleet-agent", "RBLFLEET_AGENT_BIN").unwrap();
    let config = dir.join("agent.toml");
    let proc = Proc::spawn(host, &bin, &["run", "--config", config.to_str().unwrap()], &dir.join("agent.log")).unwrap();
    (proc, dir)
}

/// Every (kind, title) the sink received, with how many times.
fn alerts(sink: &HttpSink) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for request in sink.requests_to("/hook") {
        for event in request.json()["events"].as_array().cloned().unwrap_or_default() {
            *seen.entry(format!("{} {}", event["kind"], event["title"])).or_default() += 1;
        }
    }
    seen
}

fn listed(sink: &HttpSink, ip: &str, zone: &str) -> bool {
    let title = format!("\"{ip} listed on {zone}\"");
    alerts(sink).keys().any(|k| k.starts_with("\"listed\"") && k.ends_with(&title))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_moves_to_the_other_controller_after_kill_9_and_nothing_is_lost_doubled_or_overspent() {
    let test =
        "e2e::several::the_engine_moves_to_the_other_controller_after_kill_9_and_nothing_is_lost_doubled_or_overspent";
    let Some(db) = TestDb::create_or_skip(test) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pki = Pki::new(&dir.join("ca"));
    let dns = test_zone_server().await;
    let sink = HttpSink::start().await;
    let mut ctls = [Ctl::new("a", dir, &pki, &db, &dns, &sink), Ctl::new("b", dir, &pki, &db, &dns, &sink)];
    for ctl in &mut ctls {
        ctl.start();
    }
    let mut logs: Vec<PathBuf> = ctls.iter().map(Ctl::log).collect();
    let (url_a, url_b) = (ctls[0].url(), ctls[1].url());
    let mut agents = Vec::new();
    for (i, (host, ip)) in HOSTS.iter().enumerate() {
        // Two agents prefer A, one B: both controllers take reports.
        let urls = if i == 2 { [url_b.clone(), url_a.clone()] } else { [url_a.clone(), url_b.clone()] };
        let (proc, agent_dir) = agent(&pki, dir, host, ip, &urls);
        logs.push(agent_dir.join("agent.log"));
        agents.push((proc, agent_dir));
    }

    // Every role has exactly one leader among the two.
    let leaders = || async {
        let (a, b) = (ctls[0].roles().await, ctls[1].roles().await);
        let one_each = ["engine", "alerts", "retention"]
            .iter()
            .all(|r| a.contains_key(*r) && b.contains_key(*r) && a[*r] != b[*r]);
        one_each.then(|| usize::from(!a["engine"]))
    };
    until("one leader per role", &logs, || async { leaders().await.is_some() }).await;
    let engine_at = leaders().await.unwrap();
    // Alerts ride the engine's term: zone health is in the engine's memory.
    let led = ctls[engine_at].roles().await;
    assert!(led["alerts"], "alerts not led where the engine is: {led:?}");
    let survivor = 1 - engine_at;
    eprintln!(
        "engine led by controller {}; roles a {:?} b {:?}",
        ctls[engine_at].name,
        ctls[0].roles().await,
        ctls[1].roles().await
    );

    // A listing found by the engine reaches the sink once.
    let listed_code = [Ipv4Addr::new(127, 0, 0, 2)];
    dns.list("bl.test", HOSTS[0].1.parse::<IpAddr>().unwrap(), &listed_code, None).unwrap();
    until("the bl.test listing alert", &logs, || async { listed(&sink, HOSTS[0].1, "bl.test") }).await;

    let v4only_before = dns.queries("v4only.test");
    let killed_at = Instant::now();
    ctls[engine_at].proc.take().unwrap().kill9();
    let takeover = {
        let ctl = &ctls[survivor];
        until("the survivor leading the engine", &logs, || async { ctl.roles().await.get("engine") == Some(&true) })
            .await;
        killed_at.elapsed()
    };
    // The survivor's engine at work: its first query to a zone after the kill.
    until("a query after the takeover", &logs, || async { dns.queries("v4only.test") > v4only_before }).await;
    let first_query = killed_at.elapsed();
    eprintln!(
        "takeover: kill -9 of controller {} -> controller {} leads the engine after {:.1} s (gauge), \
         its first DNS query after {:.1} s",
        ctls[engine_at].name,
        ctls[survivor].name,
        takeover.as_secs_f64(),
        first_query.as_secs_f64()
    );
    assert!(takeover < Duration::from_secs(30), "takeover took {takeover:?}");
    let survivor_roles = ctls[survivor].roles().await;
    until("the survivor leading every role", &logs, || async {
        ctls[survivor].roles().await.values().all(|leads| *leads)
    })
    .await;
    eprintln!("survivor roles before/after settling: {survivor_roles:?}");
    // Gaining the engine is logged once on each side, in plain text.
    for ctl in &ctls {
        let log = std::fs::read_to_string(ctl.log()).unwrap();
        let lines: Vec<&str> = log.lines().filter(|l| l.contains("this controller leads engine")).collect();
        assert_eq!(lines.len(), 1, "controller {}: {lines:?}", ctl.name);
        assert!(!log.contains('\u{1b}'), "colour escapes in the log of controller {}", ctl.name);
    }

    // The survivor's engine and alerts: a new listing alerted once.
    dns.list("v4only.test", HOSTS[1].1.parse::<IpAddr>().unwrap(), &listed_code, None).unwrap();
    until("the v4only.test listing alert", &logs, || async { listed(&sink, HOSTS[1].1, "v4only.test") }).await;
    // Agents that preferred the killed controller report to the survivor.
    let stored = |host: &'static str| {
        let url = format!("http://{}", ctls[survivor].admin);
        async move {
            let mut out = Vec::new();
            let argv = ["rblfleet", "host", host, "--format", "json", "--controller", &url];
            match rblfleet_controller::cli::run_args(argv, &mut out).await {
                Ok(()) => serde_json::from_slice::<serde_json::Value>(&out).unwrap()["reports_stored"].as_u64(),
                Err(_) => None,
            }
        }
    };
    let before: Vec<u64> = futures_join(HOSTS.iter().map(|(h, _)| stored(h))).await;
    until("new reports from every agent on the survivor", &logs, || async {
        let now = futures_join(HOSTS.iter().map(|(h, _)| stored(h))).await;
        now.iter().zip(&before).all(|(n, b)| n >= &(b + 3))
    })
    .await;

    for (proc, _) in &mut agents {
        proc.terminate(Duration::from_secs(30)).unwrap();
    }
    // The survivor spends what is left of bl's day (it goes on checking
    // every second), then asks no more.
    let spent = "rblfleet_zone_budget_used_queries{zone=\"bl\"}";
    until("bl's budget spent", &logs, || async {
        ctls[survivor].metric(spent).await.is_some_and(|used| used >= BL_PER_DAY as f64)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut survivor_proc = ctls[survivor].proc.take().unwrap();
    let status = survivor_proc.terminate(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{status}\n{}", survivor_proc.log_tail(30));

    // Reports: every seq each agent made is stored exactly once, or still
    // waiting in its outbox (or both, when its ack was cut off).
    let store = Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
    for ((host, _), (_, agent_dir)) in HOSTS.iter().zip(&agents) {
        let stored: Vec<(u64, u64)> = store.host_reports(host).unwrap().iter().map(|r| (r.epoch, r.seq)).collect();
        let mut outbox = Outbox::open(&agent_dir.join("outbox"), 1000).unwrap();
        let epoch = outbox.epoch();
        let mut waiting = Vec::new();
        while let Some(report) = outbox.peek_oldest().unwrap() {
            waiting.push(report.seq);
            outbox.ack(report.seq).unwrap();
        }
        assert_eq!((outbox.dropped().unwrap(), outbox.rejected().unwrap()), (0, 0), "{host}");
        assert!(stored.iter().all(|(e, _)| *e == epoch), "{host}: one epoch: {stored:?}");
        let mut seqs: Vec<u64> = stored.iter().map(|(_, s)| *s).collect();
        seqs.sort_unstable();
        let distinct = seqs.len();
        seqs.dedup();
        assert_eq!(distinct, seqs.len(), "{host}: a report stored twice");
        // A report the controller stored while the agent was stopping is
        // both stored and still waiting (its ack never arrived); sending
        // it again is answered as a duplicate, so it is not lost or doubled.
        let mut all: Vec<u64> = seqs.iter().chain(&waiting).copied().collect();
        all.sort_unstable();
        all.dedup();
        let last = all.last().copied().unwrap_or(0);
        assert_eq!(
            all,
            (1..=last).collect::<Vec<u64>>(),
            "{host}: a report lost (stored {seqs:?}, waiting {waiting:?})"
        );
        eprintln!("{host}: {} reports made, {} stored once each, {} waiting", last, seqs.len(), waiting.len());
    }

    // Budgets are the fleet's: bl.test never got more than its day.
    let bl = dns.queries("bl.test");
    eprintln!("bl.test: {bl} queries at the DNS server, budget {BL_PER_DAY} a day");
    assert!(bl <= BL_PER_DAY, "bl.test asked {bl} times, over its daily budget of {BL_PER_DAY}");

    // No alert twice, whoever sent it.
    let seen = alerts(&sink);
    eprintln!("alerts at the sink: {seen:?}");
    assert!(seen.values().all(|n| *n == 1), "an alert reached the sink twice: {seen:?}");
}

/// Awaits each future in turn (a handful of CLI calls).
async fn futures_join<F: std::future::Future<Output = Option<u64>>>(futures: impl Iterator<Item = F>) -> Vec<u64> {
    let mut out = Vec::new();
    for future in futures {
        out.push(future.await.unwrap_or(0));
    }
    out
}
