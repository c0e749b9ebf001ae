//! Alerts end to end: a real controller (daemon, engine, store) watching a
//! test DNS zone server, delivering to a real HTTP server and a real SMTP
//! server on loopback.

mod smtp;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rblfleet_controller::alerts::config::{RouteConfig, RouteKind, SmtpConfig, SmtpTls};
use rblfleet_controller::alerts::event::Severity;
use rblfleet_controller::alerts::{self, Sources};
use rblfleet_controller::config::Config;
use rblfleet_controller::daemon::{Daemon, build_catalog};
use rblfleet_controller::dnsbl::engine::Engine;
use rblfleet_controller::dnsbl::zone_server::ZoneServer;
use rblfleet_proto::v1::agent_service_client::AgentServiceClient;
use rblfleet_proto::v1::{HostIp, HostReport};
use rblfleet_tests::http_sink::HttpSink;
use rblfleet_tests::{
    Pki, controller_config, enable_dnsbl, hijacked_mailbox, only_zones, raw_agent_client, test_zone_server,
    valid_report,
};
use serde_json::Value;
use tonic::transport::Channel;

const HOST: &str = "web11.example";
const KEY: &str = "k3ysecret42";
const LIMIT: Duration = Duration::from_secs(30);

/// A controller config checking zone `bl` and a keyed zone `dqs`
/// ("{key}.dqs.test", key `KEY`) through `dns`; every pass re-checks.
fn config(pki: &Pki, data: &Path, dns: &ZoneServer) -> Config {
    let mut config = controller_config(pki, data, 0, false);
    enable_dnsbl(&mut config, dns);
    only_zones(&mut config, &["bl"]);
    let keyed = Config::from_toml_str(&format!(
        r#"
[[dnsbl.catalog.extra]]
id = "dqs"
name = "Test keyed zone"
zone = "{{key}}.dqs.test"
kind = "ip"
ipv4 = true
ipv6 = false
needs_key = true
enabled = true
budget = {{ per_second = 1000 }}
delist = {{ kind = "form", url = "https://dqs.test/remove" }}
codes = [{{ code = "127.0.0.2", meaning = "test keyed listing" }}]
[dnsbl.catalog.zone.dqs]
key = "{KEY}"
"#
    ))
    .unwrap();
    config.dnsbl.catalog.extra = keyed.dnsbl.catalog.extra;
    config.dnsbl.catalog.zone.extend(keyed.dnsbl.catalog.zone);
    config.dnsbl.listed_interval = Duration::from_millis(1);
    config.dnsbl.clean_interval = Duration::from_millis(1);
    config.dnsbl.error_retry_min = Duration::from_millis(1);
    config.dnsbl.error_retry_max = Duration::from_millis(1);
    // A busy 2-core machine can be slow to answer; a timed-out lookup is an
    // error, not a listing, so be generous.
    config.dnsbl.timeout = Duration::from_secs(2);
    config.metrics.enabled = false;
    config.alerts.poll_interval = Duration::from_millis(50);
    config.alerts.window = Duration::from_millis(300);
    config
}

fn route(name: &str, kind: RouteKind, url: &str) -> RouteConfig {
    RouteConfig {
        name: name.into(),
        kind,
        url: Some(url.into()),
        to: vec![],
        from: None,
        min_severity: Default::default(),
        lists: vec![],
        hosts: vec![],
    }
}

/// A report carrying `ips` with a mailbox that sprays mail (the suspect).
fn report(seq: u64, ips: &[&str]) -> HostReport {
    let mut r = valid_report(HOST, 1, seq);
    r.ips = ips
        .iter()
        .map(|ip| HostIp { address: ip.to_string(), public: true, sends_mail: true, ..HostIp::default() })
        .collect();
    r.sources = vec![hijacked_mailbox(r.period_start_ms, r.period_end_ms)];
    r
}

async fn agent(pki: &Pki, daemon: &Daemon) -> AgentServiceClient<Channel> {
    let (cert, key) = pki.agent(HOST);
    let url = format!("https://127.0.0.1:{}", daemon.servers.agent_addr.port());
    raw_agent_client(&url, &pki.ca_cert(), Some((&cert, &key))).await.unwrap()
}

async fn zone_server() -> ZoneServer {
    let dns = test_zone_server().await;
    dns.add_zone(&format!("{KEY}.dqs.test")).unwrap();
    dns
}

/// Runs blocklist passes until `done` (a lookup that failed on a busy machine
/// is simply checked again at the next pass).
async fn pass_until(engine: &Engine, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LIMIT;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "not done after {LIMIT:?} of passes");
        engine.pass().await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn kinds(body: &Value) -> Vec<String> {
    body["events"].as_array().unwrap().iter().map(|e| format!("{} {}", e["kind"], e["title"])).collect()
}

#[tokio::test]
async fn webhooks_get_generic_slack_and_teams_bodies_and_the_known_state_is_not_alerted() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let dns = zone_server().await;
    let listed = [Ipv4Addr::new(127, 0, 0, 2)];

    // Before alerts exist: 203.0.113.41 is listed and known.
    let mut config = config(&pki, &tmp.path().join("data"), &dns);
    let daemon = Daemon::start_with(&config, false, false).await.unwrap();
    agent(&pki, &daemon).await.report(report(1, &["203.0.113.41", "203.0.113.42"])).await.unwrap();
    dns.list("bl.test", ip("203.0.113.41"), &listed, None).unwrap();
    let store = daemon.store.clone();
    let known = move || store.ip_checks("203.0.113.41").unwrap().iter().any(|c| c.listed_since_ms != 0);
    pass_until(daemon.engine.as_ref().unwrap(), known).await;
    daemon.shutdown().await.unwrap();

    // Restart with three webhook routes: the known listing is the baseline.
    let sink = HttpSink::start().await;
    config.alerts.route = vec![
        route("generic", RouteKind::Webhook, &sink.url("/generic")),
        route("slack", RouteKind::Slack, &sink.url("/slack")),
        route("teams", RouteKind::Teams, &sink.url("/teams")),
    ];
    // Long enough that both listings land in one window even if a lookup
    // has to be repeated on a busy machine.
    config.alerts.window = Duration::from_secs(3);
    let daemon = Daemon::start_with(&config, false, false).await.unwrap();
    let engine = daemon.engine.clone().unwrap();
    engine.pass().await.unwrap();

    // Two new listings in one pass: one message per route, listing both.
    dns.list("bl.test", ip("203.0.113.42"), &listed, Some("trap hits")).unwrap();
    dns.list(&format!("{KEY}.dqs.test"), ip("203.0.113.42"), &listed, Some(&format!("see {KEY}.dqs.test"))).unwrap();
    let store = daemon.store.clone();
    let listed_on = move || {
        let checks = store.ip_checks("203.0.113.42").unwrap();
        checks.iter().filter(|c| c.listed_since_ms != 0).count()
    };
    pass_until(&engine, || listed_on() == 2).await;
    let generic = sink.wait_for("/generic", 1, LIMIT).await;
    let body = generic[0].json();
    assert_eq!(generic[0].method, "POST");
    assert_eq!(generic[0].header("content-type"), Some("application/json"));
    assert_eq!(
        kinds(&body),
        ["\"listed\" \"203.0.113.42 listed on bl.test\"", "\"listed\" \"203.0.113.42 listed on <key>.dqs.test\""],
        "{body}"
    );
    let bl = &body["events"][0]["listing"];
    assert_eq!(bl["hosts"], serde_json::json!([HOST]));
    assert_eq!(
        (bl["delist"]["kind"].as_str(), bl["delist"]["expiry_secs"].as_u64()),
        (Some("auto_expire"), Some(86_400))
    );
    assert_eq!(bl["top_suspect"]["id"], "info@shop.example", "{bl}");
    assert!(bl["case_id"].as_u64().unwrap() > 0);
    assert_eq!(body["events"][1]["listing"]["delist"]["url"], "https://dqs.test/remove");

    let slack = sink.wait_for("/slack", 1, LIMIT).await[0].json();
    assert!(slack["text"].as_str().unwrap().starts_with("rblfleet: 2 warning"), "{slack}");
    let section = slack["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(
        section.contains("*203.0.113.42 listed on bl.test*")
            && section.contains("top suspect: mailbox info@shop.example")
    );
    let teams = sink.wait_for("/teams", 1, LIMIT).await[0].json();
    let card = &teams["attachments"][0];
    assert_eq!(card["contentType"], "application/vnd.microsoft.card.adaptive");
    assert!(card["content"]["body"].to_string().contains("[WARNING] 203.0.113.42 listed on <key>.dqs.test"), "{teams}");

    // The listing clears (two clean checks), then returns: two more messages.
    dns.unlist("bl.test", ip("203.0.113.42")).unwrap();
    pass_until(&engine, || sink.requests_to("/generic").len() >= 2).await;
    let cleared = sink.wait_for("/generic", 2, LIMIT).await[1].json();
    assert_eq!(kinds(&cleared), ["\"cleared\" \"203.0.113.42 no longer listed on bl.test\""]);
    dns.list("bl.test", ip("203.0.113.42"), &listed, None).unwrap();
    pass_until(&engine, || sink.requests_to("/generic").len() >= 3).await;
    let relisted = sink.wait_for("/generic", 3, LIMIT).await[2].json();
    assert_eq!(kinds(&relisted), ["\"relisted\" \"203.0.113.42 listed again on bl.test (relisting within 30 days)\""]);

    // Never a key, never the listing that was known at start-up.
    for request in sink.requests() {
        assert!(!request.body.to_ascii_lowercase().contains(KEY), "{}", request.body);
        assert!(!request.body.contains("203.0.113.41"), "{}", request.body);
    }
    daemon.shutdown().await.unwrap();
}

/// Accepts connections and never answers: a webhook that hangs.
async fn black_hole() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

#[tokio::test]
async fn failing_webhooks_are_retried_and_never_stall_checks_or_ingest() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let dns = zone_server().await;
    let mut config = config(&pki, &tmp.path().join("data"), &dns);
    let daemon = Daemon::start_with(&config, false, false).await.unwrap();
    let engine = daemon.engine.clone().unwrap();
    let mut client = agent(&pki, &daemon).await;
    client.report(report(1, &["203.0.113.51"])).await.unwrap();
    engine.pass().await.unwrap();

    let down = HttpSink::scripted(&[], 500).await;
    let flaky = HttpSink::scripted(&[500, 503], 200).await;
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let hang = black_hole().await;
    config.alerts.route = vec![
        route("down", RouteKind::Webhook, &down.url("/")),
        route("flaky", RouteKind::Slack, &flaky.url("/")),
        route("refused", RouteKind::Teams, &format!("http://{refused}/")),
        route("hang", RouteKind::Webhook, &format!("http://{hang}/")),
    ];
    config.alerts.retry.attempts = 3;
    config.alerts.retry.initial = Duration::from_millis(20);
    config.alerts.retry.max = Duration::from_millis(100);
    // The hanging endpoint holds its first attempt for the whole test.
    config.alerts.retry.timeout = Duration::from_secs(600);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let sources = Sources {
        store: daemon.store.clone(),
        catalog: build_catalog(&config).unwrap(),
        engine: Some(engine.clone()),
        tls: None,
    };
    let alerts = alerts::start(&config.alerts, sources, stopped).await.unwrap();

    // A listing: every route gets a message; the hanging one never answers.
    dns.list("bl.test", ip("203.0.113.51"), &[Ipv4Addr::new(127, 0, 0, 2)], None).unwrap();
    pass_until(&engine, || !flaky.requests().is_empty()).await;
    let tries = flaky.wait_for("/", 3, LIMIT).await;
    assert_eq!(tries[0].body, tries[2].body, "the same message, tried again");

    // Meanwhile checks and ingest go on, and the next event still goes out.
    for seq in 2..=6 {
        client.report(report(seq, &["203.0.113.51"])).await.unwrap();
        engine.pass().await.unwrap();
    }
    dns.unlist("bl.test", ip("203.0.113.51")).unwrap();
    pass_until(&engine, || flaky.requests().len() >= 4).await;
    let cleared = flaky.wait_for("/", 4, LIMIT).await[3].json();
    assert!(cleared["text"].as_str().unwrap().contains("no longer listed"), "{cleared}");

    // Bounded attempts: each failing route gives up after 3 tries per message.
    let deadline = tokio::time::Instant::now() + LIMIT;
    while alerts.stats.failed.load(Ordering::Relaxed) < 4 {
        assert!(tokio::time::Instant::now() < deadline, "{:?}", alerts.stats);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(down.requests().len(), 6, "3 tries for each of 2 messages");
    let stats = &alerts.stats;
    assert_eq!(stats.failed.load(Ordering::Relaxed), 4, "down and refused, 2 messages each: {stats:?}");
    assert_eq!(stats.delivered.load(Ordering::Relaxed), 2, "flaky: both messages: {stats:?}");
    assert_eq!(stats.retries.load(Ordering::Relaxed), 2 + 4 + 4, "{stats:?}");
    assert_eq!(stats.dropped.load(Ordering::Relaxed), 0, "{stats:?}");
    drop(stop);
    daemon.shutdown().await.unwrap();
}

#[tokio::test]
async fn e_mail_goes_through_the_smtp_relay() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let dns = zone_server().await;
    let relay = smtp::SmtpServer::start().await;
    let mut config = config(&pki, &tmp.path().join("data"), &dns);
    config.alerts.smtp = Some(SmtpConfig {
        host: "127.0.0.1".into(),
        port: relay.addr.port(),
        tls: SmtpTls::None,
        username: None,
        password_file: None,
    });
    config.alerts.route = vec![RouteConfig {
        name: "noc-mail".into(),
        kind: RouteKind::Email,
        url: None,
        to: vec!["noc@example.net".into(), "oncall@example.net".into()],
        from: Some("rblfleet <rblfleet@example.net>".into()),
        min_severity: Severity::Warning,
        lists: vec![],
        hosts: vec![],
    }];
    config.alerts.thresholds.case_waiting = Duration::from_millis(1);
    // The hijacked mailbox also raises an early warning; at "info" this
    // route (warning and up) leaves it out, so the mail holds the listing.
    config.alerts.thresholds.outbreak_severity = Severity::Info;
    let daemon = Daemon::start_with(&config, false, false).await.unwrap();
    let engine = daemon.engine.clone().unwrap();
    agent(&pki, &daemon).await.report(report(1, &["203.0.113.61"])).await.unwrap();
    dns.list("bl.test", ip("203.0.113.61"), &[Ipv4Addr::new(127, 0, 0, 2)], Some("trap hits")).unwrap();
    pass_until(&engine, || !relay.received().is_empty()).await;

    let mail = &relay.wait_for(1).await[0];
    assert_eq!(mail.from, "rblfleet@example.net");
    assert_eq!(mail.to, ["noc@example.net", "oncall@example.net"]);
    assert!(mail.data.contains("Subject: rblfleet: 1 warning: 203.0.113.61 listed on bl.test"), "{}", mail.data);
    for line in [
        "[WARNING] 203.0.113.61 listed on bl.test",
        "    hosts: web11.example",
        "    list says: trap hits",
        "    top suspect: mailbox info@shop.example on web11.example, shop.example",
        "    delisting: expires by itself after about 24 h",
    ] {
        assert!(mail.data.contains(line), "{line:?} missing in\n{}", mail.data);
    }

    // The NOC requests removal; the case waits longer than the threshold.
    let admin = format!("http://127.0.0.1:{}", daemon.servers.admin_addr.port());
    let mut out = Vec::new();
    let argv = ["rblfleet", "cases", "--format", "json", "--controller", &admin];
    rblfleet_controller::cli::run_args(argv, &mut out).await.unwrap();
    let cases: Value = serde_json::from_slice(&out).unwrap();
    let id = cases[0]["id"].as_u64().unwrap().to_string();
    let argv = ["rblfleet", "case", &id, "requested", "--ref", "BL-1", "--controller", &admin];
    rblfleet_controller::cli::run_args(argv, &mut Vec::new()).await.unwrap();
    let mail = &relay.wait_for(2).await[1];
    assert!(mail.data.contains("waiting on delisting"), "{}", mail.data);
    assert!(mail.data.contains(&format!("case {id} (203.0.113.61 on bl.test)")), "{}", mail.data);
    daemon.shutdown().await.unwrap();
}

#[tokio::test]
async fn alerts_test_sends_one_test_alert_through_each_route() {
    let tmp = tempfile::tempdir().unwrap();
    let sink = HttpSink::start().await;
    let refused = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let path = tmp.path().join("controller.toml");
    let text = format!(
        r#"
[tls]
ca = "ca.crt"
cert = "controller.crt"
key = "controller.key"
[alerts.retry]
timeout = "10s"
[[alerts.route]]
name = "chat"
kind = "slack"
url = "{}"
min_severity = "critical"
[[alerts.route]]
name = "gone"
kind = "webhook"
url = "http://{refused}/hook"
"#,
        sink.url("/chat")
    );
    std::fs::write(&path, text).unwrap();
    let config = path.to_str().unwrap();

    let mut out = Vec::new();
    let argv = ["rblfleet", "alerts", "test", "--config", config, "--route", "chat", "--note", "from the e2e test"];
    rblfleet_controller::cli::run_args(argv, &mut out).await.unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "chat (slack): delivered\n");
    let body = sink.wait_for("/chat", 1, LIMIT).await[0].json();
    assert!(body["blocks"].to_string().contains("test alert from rblfleet"), "{body}");
    assert!(body["blocks"].to_string().contains("from the e2e test"), "{body}");

    let mut out = Vec::new();
    let err = rblfleet_controller::cli::run_args(["rblfleet", "alerts", "test", "--config", config], &mut out)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(err, "1 of 2 routes failed");
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("chat (slack): delivered\ngone (webhook): FAILED: cannot reach the endpoint"), "{out}");
    let err = rblfleet_controller::cli::run_args(
        ["rblfleet", "alerts", "test", "--config", config, "--route", "x"],
        &mut Vec::new(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.ends_with("no [[alerts.route]] is named \"x\""), "{err}");
}
