//! Early warning end to end (issue 15): real agents follow Postfix logs; on
//! one host a mailbox is hijacked mid-run. The controller's detector warns
//! (an `outbreak` webhook) while the test zone still answers clean for the
//! host's IP; the zone then lists the IP, and the case links the warning
//! with its lead time. The other host, sending normally, never warns.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use rblfleet_agent::Agent;
use rblfleet_controller::alerts::config::{RouteConfig, RouteKind};
use rblfleet_controller::alerts::{self, Sources};
use rblfleet_controller::daemon::build_catalog;
use rblfleet_tests::http_sink::HttpSink;
use rblfleet_tests::{Controller, Pki, dnsbl_controller};
use serde_json::Value;

const CLEAN: &str = "web40.example";
const CLEAN_IP: &str = "203.0.113.140";
const HIJACKED: &str = "web41.example";
const HIJACKED_IP: &str = "203.0.113.141";
const MAILBOX: &str = "info@shop.example";
const LIMIT: Duration = Duration::from_secs(60);

async fn agent(pki: &Pki, host: &str, ip: &str, url: &str, dir: &Path, maillog: &Path) -> Agent {
    rblfleet_tests::log_agent(pki, host, ip, url, dir, maillog, "").await
}

/// `n` messages from `user`, each submitted from a client IP out of
/// `clients` and sent to a domain out of `domains`; every `bounce_every`th
/// one is refused with "user unknown" (0: none).
fn messages(log: &Path, next_qid: &mut u64, user: &str, n: u64, clients: u64, domains: u64, bounce_every: u64) {
    let mut out = String::new();
    for i in 0..n {
        *next_qid += 1;
        let qid = format!("{:X}", 0xC00000 + *next_qid);
        let client = format!("198.51.{}.{}", 100 + (i % clients) / 250, 1 + (i % clients) % 250);
        let domain = format!("d{}.example.net", i % domains);
        let _ = writeln!(
            out,
            "Dec  4 10:00:00 web postfix/submission/smtpd[1]: {qid}: client=c.example[{client}], sasl_method=LOGIN, sasl_username={user}"
        );
        let _ = writeln!(
            out,
            "Dec  4 10:00:00 web postfix/qmgr[2]: {qid}: from=<{user}>, size=900, nrcpt=1 (queue active)"
        );
        let tail = if bounce_every > 0 && i % bounce_every == 0 {
            format!(
                "dsn=5.1.1, status=bounced (host mx.{domain}[192.0.2.25] said: 550 5.1.1 <u{i}@{domain}>: Recipient address rejected: User unknown (in reply to RCPT TO command))"
            )
        } else {
            "dsn=2.0.0, status=sent (250 2.0.0 OK)".to_string()
        };
        let _ = writeln!(
            out,
            "Dec  4 10:00:01 web postfix/smtp[3]: {qid}: to=<u{i}@{domain}>, relay=mx.{domain}[192.0.2.25]:25, delay=1, delays=0/0/0/1, {tail}"
        );
        let _ = writeln!(out, "Dec  4 10:00:02 web postfix/qmgr[2]: {qid}: removed");
    }
    std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap().write_all(out.as_bytes()).unwrap();
}

async fn report(agent: &mut Agent) {
    agent.tick().unwrap();
    let outcome = agent.flush().await;
    assert_eq!((outcome.sent, outcome.rejected), (1, 0), "{outcome:?}");
}

async fn json(controller: &Controller, args: &[&str]) -> Value {
    serde_json::from_str(&controller.cli(args).await.unwrap()).unwrap()
}

/// The `outbreak` events the webhook received so far.
fn outbreaks(sink: &HttpSink) -> Vec<Value> {
    sink.requests_to("/hook")
        .iter()
        .flat_map(|r| r.json()["events"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["kind"] == "outbreak")
        .collect()
}

/// Whether the engine's last check of `ip` on bl.test said clean.
async fn clean_on_bl(controller: &Controller, ip: &str) -> bool {
    let view = json(controller, &["ip", ip, "--format", "json"]).await;
    view["checks"].as_array().unwrap().iter().any(|c| c["zone_id"] == "bl" && c["status"] == "clean")
}

#[tokio::test]
async fn a_hijacked_mailbox_is_warned_before_its_ip_is_listed_and_the_case_shows_the_lead() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = HttpSink::start().await;
    let (pki, dns, controller) = dnsbl_controller(tmp.path(), &["bl"], |config| {
        config.dnsbl.timeout = Duration::from_secs(2);
        config.dnsbl.listed_interval = Duration::from_millis(1);
        config.dnsbl.clean_interval = Duration::from_millis(1);
        config.alerts.poll_interval = Duration::from_millis(50);
        config.alerts.window = Duration::from_millis(200);
        config.alerts.route = vec![RouteConfig {
            name: "noc".into(),
            kind: RouteKind::Webhook,
            url: Some(sink.url("/hook")),
            to: vec![],
            from: None,
            min_severity: Default::default(),
            lists: vec![],
            hosts: vec![],
        }];
    })
    .await;
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let sources = Sources {
        store: controller.store.clone(),
        catalog: build_catalog(&controller.config).unwrap(),
        engine: controller.engine.clone(),
        tls: None,
    };
    let _alerts = alerts::start(&controller.config.alerts, sources, stopped).await.unwrap();

    let (clean_log, hijacked_log) = (tmp.path().join("clean.log"), tmp.path().join("hijacked.log"));
    let url = controller.agent_url();
    let mut clean = agent(&pki, CLEAN, CLEAN_IP, &url, tmp.path(), &clean_log).await;
    let mut hijacked = agent(&pki, HIJACKED, HIJACKED_IP, &url, tmp.path(), &hijacked_log).await;
    let (mut qid_clean, mut qid_hijacked) = (0, 1_000_000);

    // Normal business on both hosts: a few messages, one client, few domains.
    for _ in 0..3 {
        messages(&clean_log, &mut qid_clean, "office@clean.example", 20, 1, 5, 0);
        messages(&hijacked_log, &mut qid_hijacked, MAILBOX, 20, 1, 5, 0);
        report(&mut clean).await;
        report(&mut hijacked).await;
        controller.engine().pass().await.unwrap();
    }
    assert!(outbreaks(&sink).is_empty(), "normal mail warns nobody: {:?}", outbreaks(&sink));

    // The mailbox is hijacked: logins from 60 networks, mail to 400 domains,
    // a third of it bouncing. The clean host goes on as before.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while outbreaks(&sink).is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "no outbreak warning after {LIMIT:?}");
        messages(&clean_log, &mut qid_clean, "office@clean.example", 20, 1, 5, 0);
        messages(&hijacked_log, &mut qid_hijacked, MAILBOX, 500, 60, 400, 3);
        report(&mut clean).await;
        report(&mut hijacked).await;
        controller.engine().pass().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The warning came while the zone still answered clean for the IP.
    assert!(clean_on_bl(&controller, HIJACKED_IP).await, "checked and clean when the warning went out");
    let warned = outbreaks(&sink);
    // One warning: the mailbox, not also its own address as a sender.
    assert_eq!(warned.len(), 1, "{warned:?}");
    let w = &warned[0]["warning"];
    assert_eq!(
        (w["host"].as_str(), w["source_kind"].as_str(), w["source"].as_str()),
        (Some(HIJACKED), Some("mailbox"), Some(MAILBOX)),
        "{w}"
    );
    assert_eq!(w["ips"], serde_json::json!([HIJACKED_IP]), "{w}");
    assert!(!w["reasons"].as_array().unwrap().is_empty() && !w["first_step"].as_str().unwrap().is_empty(), "{w}");

    // The report's "at risk" section names it; the clean host is not there.
    let report_json = json(&controller, &["report", "--format", "json"]).await;
    let at_risk = report_json["at_risk"].as_array().unwrap();
    assert_eq!(at_risk.len(), 1, "{report_json}");
    assert_eq!((at_risk[0]["host"].as_str(), at_risk[0]["source"].as_str()), (Some(HIJACKED), Some(MAILBOX)));
    assert_eq!(report_json["summary"]["ips_at_risk"], 1, "{report_json}");
    let table = controller.cli(&["report"]).await.unwrap();
    assert!(table.contains("AT RISK") && table.contains(MAILBOX), "{table}");

    // The list catches up: the IP is listed; its case links the warning.
    dns.list("bl.test", HIJACKED_IP.parse().unwrap(), &[Ipv4Addr::new(127, 0, 0, 2)], Some("spam trap hits")).unwrap();
    let mut case = Value::Null;
    for _ in 0..200 {
        controller.engine().pass().await.unwrap();
        let cases = json(&controller, &["cases", "--format", "json"]).await;
        if let Some(c) = cases.as_array().and_then(|a| a.iter().find(|c| c["ip"] == HIJACKED_IP)) {
            case = json(&controller, &["case", &c["id"].to_string(), "--format", "json"]).await;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(case["warning"]["source"], MAILBOX, "{case}");
    let lead = case["lead_secs"].as_i64().unwrap();
    assert!(lead >= 0, "the warning came first: {case}");
    let text = controller.cli(&["case", &case["id"].to_string()]).await.unwrap();
    assert!(text.contains("before the listing"), "{text}");
    // The listing's alert says it was warned of.
    let deadline = tokio::time::Instant::now() + LIMIT;
    let listed = loop {
        let events: Vec<Value> = sink
            .requests_to("/hook")
            .iter()
            .flat_map(|r| r.json()["events"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["kind"] == "listed")
            .collect();
        if let Some(e) = events.into_iter().next() {
            break e;
        }
        assert!(tokio::time::Instant::now() < deadline, "no listed alert");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(listed["listing"]["warned"]["subject"], format!("mailbox {MAILBOX}"), "{listed}");

    // The host view: the warning with the listing that followed, and the
    // mailbox's baseline next to now.
    let host = json(&controller, &["host", HIJACKED, "--format", "json"]).await;
    let warning = &host["warnings"][0];
    assert_eq!(warning["listings_after"][0]["list_id"], "bl", "{host}");
    let row = host["baselines"].as_array().unwrap().iter().find(|b| b["source"] == MAILBOX).unwrap();
    assert_eq!(row["warned"], true, "{row}");
    assert!(row["last_30_min"]["client_ips"].as_f64().unwrap() > row["usual"]["client_ips"].as_f64().unwrap(), "{row}");

    // The clean host: no warning at any point.
    let clean_view = json(&controller, &["host", CLEAN, "--format", "json"]).await;
    assert!(clean_view["warnings"].as_array().unwrap().is_empty(), "{clean_view}");
    assert!(outbreaks(&sink).iter().all(|e| e["warning"]["host"] != CLEAN));
    controller.stop().await;
}
