//! Hostile log lines never stop an agent: a real controller and a real agent
//! following a log file into which a euro-sign Subject, invalid UTF-8, a
//! 1 MB line and NULs are appended keep reporting, the controller stores
//! the counts, and a restart resumes after the bad lines without reading
//! them again.

use std::io::Write as _;
use std::path::Path;

use rblfleet_agent::{Agent, Config as AgentConfig, RunOptions};
use rblfleet_tests::{Controller, Pki, agent_toml};
use serde_json::Value;

const HOST: &str = "web05.example";

/// One message from `user`, delivered once to `to` and removed.
fn message(qid: &str, user: &str, to: &str) -> Vec<u8> {
    format!(
        "Dec  4 10:00:00 web05 postfix/submission/smtpd[1]: {qid}: client=c.example[192.0.2.7], sasl_method=LOGIN, sasl_username={user}\n\
         Dec  4 10:00:00 web05 postfix/qmgr[2]: {qid}: from=<{user}>, size=900, nrcpt=1 (queue active)\n\
         Dec  4 10:00:01 web05 postfix/smtp[3]: {qid}: to=<{to}>, relay=mx.b.example[198.51.100.9]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 2.0.0 OK)\n\
         Dec  4 10:00:02 web05 postfix/qmgr[2]: {qid}: removed\n"
    )
    .into_bytes()
}

fn hostile() -> Vec<u8> {
    let mut bytes = Vec::new();
    // The line: a Subject with multi-byte characters in a header_checks WARN.
    bytes.extend_from_slice(
        "Dec  4 10:00:00 web05 postfix/cleanup[123]: 4AA091855DA0: warning: header Subject: Angebot 100 €€€ jetzt \
         from local; from=<a@b.example> to=<c@d.example>\n"
            .as_bytes(),
    );
    bytes.extend_from_slice(
        b"Dec  4 10:00:00 web05 postfix/smtp[3]: 5BB0: to=<\xff\xfe@x.example>, status=sent (\xc3(\n",
    );
    bytes.extend_from_slice(b"Dec  4 10:00:00 web05 postfix/smtp[3]: 6CC0: ");
    bytes.extend(std::iter::repeat_n(b'A', 1 << 20));
    bytes.push(b'\n');
    bytes.extend_from_slice(b"\0\0\0\0\0\0\n");
    bytes.extend_from_slice(b"Dec  4 10:00:00 web05 postfix/qmgr[2]: 7DD0: from=<\0>, size=\0, nrcpt=\0\n");
    bytes
}

fn append(log: &Path, bytes: &[u8]) {
    std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap().write_all(bytes).unwrap();
}

async fn open_agent(toml: &str) -> Agent {
    Agent::open(AgentConfig::from_toml_str(toml).unwrap(), RunOptions::default()).await.unwrap()
}

/// Reads the log, records a report and sends it; the report must be acknowledged.
async fn report(agent: &mut Agent) {
    agent.tick().unwrap();
    let outcome = agent.flush().await;
    assert_eq!((outcome.sent, outcome.rejected), (1, 0), "{outcome:?}");
}

async fn host(controller: &Controller) -> Value {
    serde_json::from_str(&controller.cli(&["host", HOST, "--format", "json"]).await.unwrap()).unwrap()
}

fn sent_24h(host: &Value) -> u64 {
    host["trend_24h"].as_array().unwrap().iter().map(|p| p["sent"].as_u64().unwrap()).sum()
}

#[tokio::test]
async fn hostile_lines_are_counted_and_skipped_and_a_restart_resumes_after_them() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let controller = Controller::start(&pki, &tmp.path().join("data"), 0, false).await;
    let log = tmp.path().join("mail.log");
    let mut toml = agent_toml(&pki, HOST, &controller.agent_url(), &tmp.path().join("outbox"));
    toml.push_str(&format!(
        "[logs]\npaths = [\"{}\"]\nread_existing = true\n[queue]\nmta = \"none\"\n[sources]\npasswd = \"{}\"\n",
        log.display(),
        tmp.path().join("passwd").display()
    ));

    append(&log, &message("AAAA1", "a@shop.example", "x@b.example"));
    let mut agent = open_agent(&toml).await;
    report(&mut agent).await;
    assert_eq!(sent_24h(&host(&controller).await), 1);

    // Hostile lines with a normal message after them: the report is
    // acknowledged, the message counted, the bad lines counted in the status.
    append(&log, &hostile());
    append(&log, &message("BBBB2", "b@shop.example", "y@b.example"));
    report(&mut agent).await;
    let stored = host(&controller).await;
    assert_eq!(sent_24h(&stored), 2, "{stored:#}");
    let lines = &stored["log_lines"];
    assert_eq!(lines["truncated"], 1, "{lines}");
    let unparsed: u64 = lines["unparsed"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert!(unparsed >= 1, "the NUL line at least: {lines}");
    // The parsers no longer panic on these lines; were one to, it would be
    // counted here instead of stopping the agent.
    let failed: u64 = lines["failed"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    assert_eq!(failed, 0, "{lines}");
    let table = controller.cli(&["host", HOST]).await.unwrap();
    assert!(table.contains("1 cut at 64 KiB"), "{table}");

    // The agent goes away without a clean stop (a crash); more lines, some
    // hostile, arrive meanwhile. The new agent resumes after what was
    // reported: nothing counted twice, the new lines counted once.
    drop(agent);
    append(&log, &hostile());
    append(&log, &message("CCCC3", "c@shop.example", "z@b.example"));
    let mut agent = open_agent(&toml).await;
    report(&mut agent).await;
    let stored = host(&controller).await;
    assert_eq!(sent_24h(&stored), 3, "{stored:#}");
    assert_eq!(stored["log_lines"]["truncated"], 1, "only the new 1 MB line: {}", stored["log_lines"]);

    // And it keeps going: an idle period, then one more message.
    report(&mut agent).await;
    assert_eq!(host(&controller).await["log_lines"]["truncated"], 0);
    append(&log, &message("DDDD4", "d@shop.example", "w@b.example"));
    report(&mut agent).await;
    let stored = host(&controller).await;
    assert_eq!(sent_24h(&stored), 4);
    assert_eq!(stored["reports_stored"], 5);
    drop(agent);
    controller.stop().await;
}
