//! Crash safety of containment (issue 16): `kill -9` the real
//! `rblfleet-agent` between receiving an action and reporting its result,
//! restart it, and the action has run exactly once (the fake `postsuper`
//! records every run) and its result reaches the controller and the case.
//!
//! The kill lands in its window by construction, not by timing:
//! - while the tool runs: the fake `postsuper` touches `started` and then
//!   waits for the test to remove `gate`; the test kills the agent once
//!   `started` exists (the result is "interrupted": it may have taken effect,
//!   and it is never run again);
//! - after the tool, before the report: the agent reports every hour, so
//!   after its first report (whose ack carries the action) nothing can carry
//!   the result until the next tick; the test kills it once the ledger's
//!   `<id>.done` exists, and restarts it only after the action expired, so
//!   the result must come from the ledger, not from a resend.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rblfleet_tests::procs::{Proc, binary};
use rblfleet_tests::{Controller, Pki, controller_config};
use serde_json::Value;

use super::{SENDER, json, script};

const HOST: &str = "web52.example";
const IP: &str = "203.0.113.52";
/// Short, so the second window can wait out an expiry.
const TTL: Duration = Duration::from_secs(30);

/// A mail log: five messages of the spammer, six of them refused by
/// Microsoft naming this host's IP (a receiver-side listing, with a case).
fn mail_log(path: &Path) {
    let mut out = String::new();
    for i in 0..6 {
        let qid = format!("B{i:04X}");
        out.push_str(&format!(
            "Dec  4 10:00:00 web postfix/qmgr[2]: {qid}: from=<{SENDER}>, size=900, nrcpt=1 (queue active)\n\
             Dec  4 10:00:01 web postfix/smtp[3]: {qid}: to=<u{i}@hotmail.com>, \
             relay=hotmail-com.olc.protection.outlook.com[104.47.66.33]:25, delay=0.7, delays=0/0/0.5/0.2, \
             dsn=5.7.1, status=bounced (host hotmail-com.olc.protection.outlook.com[104.47.66.33] said: 550 5.7.1 \
             Unfortunately, messages from [{IP}] weren't sent. Please contact your Internet service provider since \
             part of their network is on our block list (S3140). (in reply to MAIL FROM command))\n"
        ));
    }
    std::fs::write(path, out).unwrap();
}

/// Fake Postfix in `dir`: `postqueue -j` lists two messages of the spammer;
/// `postsuper` appends "args: …" and its stdin to `calls`, touches
/// `started`, and while `gate` exists waits (at most a minute).
fn fake_postfix(dir: &Path) -> (String, String) {
    let json = dir.join("queue.json");
    let mut listing = String::new();
    for id in ["4AB12C3D4E", "5BC23D4E5F"] {
        listing.push_str(&format!(
            r#"{{"queue_name": "active", "queue_id": "{id}", "arrival_time": 1700000000, "message_size": 900, "sender": "{SENDER}", "recipients": [{{"address": "x@example.net"}}]}}"#
        ));
        listing.push('\n');
    }
    std::fs::write(&json, listing).unwrap();
    let postqueue = dir.join("postqueue");
    script(&postqueue, &format!("cat {json:?}\n"));
    let postsuper = dir.join("postsuper");
    script(
        &postsuper,
        &format!(
            "echo \"args: $*\" >> {calls:?}\ncat >> {calls:?}\ntouch {started:?}\n\
             i=0\nwhile [ -e {gate:?} ] && [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done\n",
            calls = dir.join("calls"),
            started = dir.join("started"),
            gate = dir.join("gate"),
        ),
    );
    (postqueue.display().to_string(), postsuper.display().to_string())
}

/// How many times `postsuper -h` ran.
fn holds(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("calls")).unwrap_or_default().lines().filter(|l| l.starts_with("args: -h")).count()
}

/// Writes the agent's configuration (reporting every `interval`) and returns its path.
fn agent_config(pki: &Pki, url: &str, dir: &Path, interval: &str, actions: &str) -> PathBuf {
    let (cert, key) = pki.agent(HOST);
    let path = dir.join(format!("agent-{interval}.toml"));
    let toml = format!(
        "host_id = {HOST:?}\n\
         [controller]\nurl = {url:?}\nca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\ntimeout = \"5s\"\n\
         [report]\ninterval = {interval:?}\n\
         [outbox]\ndir = {outbox:?}\n\
         [retry]\ninitial = \"50ms\"\nmax = \"200ms\"\n\
         [ips]\nstatic = [{IP:?}]\nsending = [{IP:?}]\n\
         [logs]\npaths = [{log:?}]\njournald = \"never\"\nread_existing = true\n\
         [queue]\nmta = \"postfix\"\npostqueue = {postqueue:?}\n\
         {actions}",
        ca = pki.ca_cert().display().to_string(),
        cert = cert.display().to_string(),
        key = key.display().to_string(),
        outbox = dir.join("outbox").display().to_string(),
        log = dir.join("mail.log").display().to_string(),
        postqueue = dir.join("postqueue").display().to_string(),
    );
    std::fs::write(&path, toml).unwrap();
    path
}

/// Polls `check` every 50 ms until it returns Some, for at most a minute.
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    agent_log: &Path,
    mut check: impl FnMut() -> F,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if start.elapsed() > Duration::from_secs(60) {
            panic!("timed out waiting for {what}\n{}", rblfleet_tests::procs::log_tail(agent_log, 30));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the action `id` has left `from` and returns its record.
async fn settled(controller: &Controller, id: &str, from: &str, agent_log: &Path) -> Value {
    until(&format!("{id} to leave {from}"), agent_log, || async {
        let record = json(controller, &["contain", "show", id, "--format", "json"]).await;
        (record["state"] != from).then_some(record)
    })
    .await
}

/// The notes the containment steps left on case `case_id`.
async fn case_notes(controller: &Controller, case_id: &Value) -> Vec<String> {
    let case = json(controller, &["case", &case_id.to_string(), "--format", "json"]).await;
    case["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "contain")
        .map(|e| e["note"].as_str().unwrap_or_default().to_string())
        .collect()
}

async fn plan_ready(controller: &Controller, agent_log: &Path) -> String {
    let source = format!("sender:{SENDER}");
    let plan =
        json(controller, &["contain", "plan", HOST, &source, "hold_queue", "--wait", "0s", "--format", "json"]).await;
    let id = plan["id"].as_str().unwrap().to_string();
    let ready = settled(controller, &id, "planned", agent_log).await;
    assert_eq!(ready["state"], "plan_ready", "{ready}\n{}", rblfleet_tests::procs::log_tail(agent_log, 30));
    id
}

async fn apply(controller: &Controller, plan_id: &str) -> String {
    let args = ["contain", "apply", plan_id, "--reason", "hijacked mailbox", "--wait", "0s", "--format", "json"];
    let applied = json(controller, &args).await;
    assert_eq!(applied["state"], "approved", "{applied}");
    applied["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_between_receiving_and_reporting_runs_an_action_once_and_its_result_reaches_the_case() {
    let agent_bin = binary("rblfleet-agent", "RBLFLEET_AGENT_BIN").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let pki = Pki::new(&dir.join("ca"));
    let (postqueue, postsuper) = fake_postfix(dir);
    mail_log(&dir.join("mail.log"));
    let (key, public) = rblfleet_controller::ca::action_key(&dir.join("ca")).unwrap();
    let public: String = public.iter().map(|b| format!("{b:02x}")).collect();
    let mut config = controller_config(&pki, &dir.join("data"), 0, false);
    config.actions.key = Some(key);
    config.actions.ttl = TTL;
    let controller = Controller::start_with(config).await;
    let url = controller.agent_url();
    let actions = format!(
        "[actions]\nenabled = true\ncontroller_key = {public:?}\nallow = [\"hold_queue\", \"release_queue\"]\n\
         postsuper = {postsuper:?}\npostqueue = {postqueue:?}\n"
    );
    let fast = agent_config(&pki, &url, dir, "300ms", &actions);
    let hourly = agent_config(&pki, &url, dir, "1h", &actions);
    let log = dir.join("agent.log");
    let run = |config: &Path| Proc::spawn("agent", &agent_bin, &["run", "--config", config.to_str().unwrap()], &log);

    // The agent reports the spammer, and Microsoft's refusals open a case.
    let mut agent = run(&fast).unwrap();
    let case_id = until("a case for the host's IP", &log, || async {
        let report = json(&controller, &["report", "--format", "json"]).await;
        let rows = report["listings"].as_array().cloned().unwrap_or_default();
        rows.iter().find(|r| r["ip"] == IP).map(|r| r["case"]["id"].clone()).filter(|id| id.is_u64())
    })
    .await;

    // 1. Killed while postsuper runs.
    let plan_id = plan_ready(&controller, &log).await;
    std::fs::write(dir.join("gate"), "").unwrap();
    let first = apply(&controller, &plan_id).await;
    until("postsuper to start", &log, || async { dir.join("started").exists().then_some(()) }).await;
    agent.kill9();
    std::fs::remove_file(dir.join("gate")).unwrap(); // the orphaned postsuper finishes
    assert_eq!(json(&controller, &["contain", "show", &first, "--format", "json"]).await["state"], "approved");
    let mut agent = run(&fast).unwrap();
    let record = settled(&controller, &first, "approved", &log).await;
    assert_eq!(record["state"], "interrupted", "{record}");
    assert!(record["result"]["reason"].as_str().unwrap().contains("not run again"), "{record}");
    assert_eq!(record["case_id"], case_id, "{record}");
    // The controller no longer sends it; reports go on; it never runs again.
    let store = controller.store.clone();
    let count = move || store.get_host(HOST).ok().flatten().map_or(0, |(summary, _)| summary.reports_stored);
    let seen = count();
    until("three more reports", &log, || async { (count() >= seen + 3).then_some(()) }).await;
    assert_eq!(holds(dir), 1, "run once");

    // 2. Killed after postsuper, before a report carries the result, and
    // restarted only after the action expired.
    let plan_id = plan_ready(&controller, &log).await;
    agent.terminate(Duration::from_secs(30)).unwrap();
    let second = apply(&controller, &plan_id).await;
    let applied_at = std::time::SystemTime::now();
    let mut agent = run(&hourly).unwrap();
    let done_file = dir.join("outbox/actions").join(format!("{second}.done"));
    until("the ledger's done mark", &log, || async { done_file.exists().then_some(()) }).await;
    agent.kill9();
    assert_eq!(holds(dir), 2);
    assert_eq!(json(&controller, &["contain", "show", &second, "--format", "json"]).await["state"], "approved");
    let expired_at = applied_at + TTL + Duration::from_millis(200);
    if let Ok(wait) = expired_at.duration_since(std::time::SystemTime::now()) {
        tokio::time::sleep(wait).await;
    }
    let mut agent = run(&fast).unwrap();
    let record = settled(&controller, &second, "approved", &log).await;
    assert_eq!(record["state"], "done", "{record}");
    assert!(record["result"]["commands"][0].as_str().unwrap().contains("-h"), "{record}");
    let seen = count();
    until("three more reports", &log, || async { (count() >= seen + 3).then_some(()) }).await;
    assert_eq!(holds(dir), 2, "each action ran once");

    // Both outcomes are on the case, with the command that ran.
    let notes = case_notes(&controller, &case_id).await;
    assert!(notes.iter().any(|n| n.contains(&first) && n.contains("interrupted")), "{notes:?}");
    assert!(notes.iter().any(|n| n.contains(&second) && n.contains("done; ran:")), "{notes:?}");
    agent.terminate(Duration::from_secs(30)).unwrap();
    controller.stop().await;
}
