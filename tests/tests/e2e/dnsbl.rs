//! Blocklist checks against a real DNS server on 127.0.0.1: the ad-hoc
//! `check` command and the controller's engine.

use std::net::IpAddr;

use rblfleet_controller::cli::run_args;
use rblfleet_controller::dnsbl::engine::PassStats;
use rblfleet_proto::v1::{BlocklistEvidence, HostIp, HostReport};
use rblfleet_tests::{
    Controller, check_json, dnsbl_controller, raw_agent_client, test_catalog, test_zone_server, valid_report,
};
use serde_json::Value;
use std::net::Ipv4Addr;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Runs `rblfleet check` in-process; returns the JSON and the exit status.
async fn check(dns: &rblfleet_controller::dnsbl::zone_server::ZoneServer, args: &[&str]) -> (Vec<Value>, u8) {
    check_json(dns.addr(), &test_catalog(), args).await
}

#[tokio::test]
async fn check_reports_listed_clean_error_and_skipped_correctly() {
    let dns = test_zone_server().await;
    let c2 = Ipv4Addr::new(127, 0, 0, 2);
    let c3 = Ipv4Addr::new(127, 0, 0, 3);
    dns.list("bl.test", ip("192.0.2.10"), &[c2, c3], Some("listed for testing, see https://bl.test/192.0.2.10"))
        .unwrap();
    dns.list("bl.test", ip("2001:db8::10"), &[c2], None).unwrap();
    dns.list("bl.test", ip("192.0.2.66"), &[Ipv4Addr::new(127, 255, 255, 254)], None).unwrap();
    dns.list("bl.test", ip("192.0.2.99"), &[Ipv4Addr::new(10, 0, 0, 1)], None).unwrap();

    // Listed with several A records, every one kept and decoded, TXT attached.
    let (rows, code) = check(&dns, &["192.0.2.10", "--zones=bl"]).await;
    assert_eq!(code, 2);
    assert_eq!(rows[0]["status"], "listed");
    assert_eq!(rows[0]["codes"], serde_json::json!(["127.0.0.2", "127.0.0.3"]));
    assert_eq!(rows[0]["meanings"], serde_json::json!(["test listing", "second test code"]));
    assert_eq!(rows[0]["txt"], "listed for testing, see https://bl.test/192.0.2.10");
    assert_eq!(rows[0]["zone"], "bl.test");
    assert_eq!(rows[0]["error"], Value::Null);

    // Clean: NXDOMAIN.
    let (rows, code) = check(&dns, &["192.0.2.11", "--zones=bl.test"]).await;
    assert_eq!((code, rows[0]["status"].as_str()), (0, Some("clean")));
    assert_eq!(rows[0]["codes"], serde_json::json!([]));

    // IPv6: reversed nibbles on a zone with IPv6; skipped on a v4-only zone.
    let (rows, _) = check(&dns, &["2001:db8::10", "--zones=bl,v4only"]).await;
    assert_eq!(rows[0]["status"], "listed");
    assert_eq!(rows[1]["status"], "skipped");
    assert_eq!(dns.queries("v4only.test"), 0, "a v4-only zone was asked about IPv6");

    // A documented error code and an answer outside 127/8 are errors, never listings.
    let (rows, code) = check(&dns, &["192.0.2.66", "192.0.2.99", "--zones=bl"]).await;
    assert_eq!(code, 3);
    assert_eq!(rows[0]["status"], "error");
    assert!(rows[0]["error"].as_str().unwrap().contains("refuses public resolvers"), "{}", rows[0]);
    assert_eq!(rows[1]["status"], "error");
    assert!(rows[1]["error"].as_str().unwrap().contains("127.0.0.0/8"), "{}", rows[1]);

    // SERVFAIL and a server that never answers: errors, never clean.
    let (rows, code) = check(&dns, &["192.0.2.11", "--zones=servfail,silent"]).await;
    assert_eq!(code, 3);
    assert!(rows[0]["error"].as_str().unwrap().contains("SERVFAIL"), "{}", rows[0]);
    assert!(rows[1]["error"].as_str().unwrap().contains("timed out"), "{}", rows[1]);

    // A dead zone is refused by name with its date.
    let mut out = Vec::new();
    let catalog = test_catalog();
    let argv = ["rblfleet", "check", "192.0.2.1", "--zones=dead.test", "--catalog", catalog.to_str().unwrap()];
    let err = run_args(argv, &mut out).await.unwrap_err().to_string();
    assert!(err.contains("dead") && err.contains("2024-06"), "{err}");
}

/// A report from `host` carrying `ips` (public, sending mail).
fn report_with(host: &str, seq: u64, ips: &[&str]) -> HostReport {
    let mut report = valid_report(host, 1, seq);
    report.ips = ips
        .iter()
        .map(|a| HostIp {
            address: a.to_string(),
            interface: "eth0".into(),
            public: true,
            sends_mail: true,
            ..HostIp::default()
        })
        .collect();
    report
}

async fn pass(controller: &Controller) -> PassStats {
    controller.engine().pass().await.unwrap()
}

#[tokio::test]
async fn engine_dedups_decodes_stores_episodes_and_reports_zones() {
    let tmp = tempfile::tempdir().unwrap();
    let (pki, dns, controller) =
        dnsbl_controller(tmp.path(), &["bl", "v4only", "servfail", "everything"], |_| {}).await;

    // Two hosts share 203.0.113.7; one also has a private address.
    for (host, ips) in [("web01.example", vec!["203.0.113.7", "203.0.113.8"]), ("web02.example", vec!["203.0.113.7"])] {
        let (cert, key) = pki.agent(host);
        let mut client = raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await.unwrap();
        let mut report = report_with(host, 1, &ips);
        report.ips.push(HostIp { address: "10.1.2.3".into(), public: false, ..HostIp::default() });
        client.report(report).await.unwrap();
    }
    dns.list("bl.test", ip("203.0.113.7"), &[Ipv4Addr::new(127, 0, 0, 2)], Some("spam trap hits")).unwrap();

    // One pass probes the zones, then checks with the healthy ones (bl,
    // v4only): both IPs once each. The broken zones are out of service.
    let stats = pass(&controller).await;
    assert_eq!(stats.watched_ips, 2, "{stats:?}");
    assert_eq!(stats.probes, 4, "bl, v4only, servfail, everything probed: {stats:?}");
    assert_eq!((stats.checks, stats.listed), (4, 1), "{stats:?}");
    // Two probe queries plus one per distinct IP: the shared IP was asked once.
    assert_eq!(dns.queries("bl.test"), 2 + 2 + 1, "A for both IPs + TXT for the listed one + 2 probes");
    assert_eq!(dns.queries("v4only.test"), 2 + 2);
    assert_eq!(dns.queries("everything.test"), 2, "an out-of-service zone must not be asked about real IPs");
    // Nothing is due on a third pass.
    assert_eq!(pass(&controller).await.checks, 0);

    let out = controller.cli(&["ip", "203.0.113.7", "--format", "json"]).await.unwrap();
    let ip_view: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(ip_view["hosts"], serde_json::json!(["web01.example", "web02.example"]));
    let bl = ip_view["checks"].as_array().unwrap().iter().find(|c| c["zone_id"] == "bl").unwrap();
    assert_eq!((bl["status"].as_str(), bl["txt"].as_str()), (Some("listed"), Some("spam trap hits")));
    assert_eq!(ip_view["episodes"].as_array().unwrap().len(), 1);
    assert_eq!(ip_view["episodes"][0]["cleared_at"], Value::Null);
    let gaps: Vec<String> =
        ip_view["not_covered"].as_array().unwrap().iter().map(|n| format!("{} {}", n["zone"], n["reason"])).collect();
    assert!(gaps.iter().any(|g| g.contains("everything.test") && g.contains("lists everything")), "{gaps:?}");
    assert!(gaps.iter().any(|g| g.contains("servfail.test") && g.contains("SERVFAIL")), "{gaps:?}");
    // Never "clean" from a zone that is out of service.
    assert!(
        ip_view["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["zone_id"] != "everything" && c["zone_id"] != "servfail")
    );

    let zones: Value =
        serde_json::from_str(&controller.cli(&["zones", "--all", "--format", "json"]).await.unwrap()).unwrap();
    let state = |id: &str| zones["zones"].as_array().unwrap().iter().find(|z| z["id"] == id).unwrap()["state"].clone();
    assert_eq!(
        (state("bl"), state("everything"), state("budget")),
        ("in_service".into(), "out_of_service".into(), "disabled".into())
    );
    controller.stop().await;
}

#[tokio::test]
async fn daily_budget_caps_the_queries_a_zone_receives() {
    let tmp = tempfile::tempdir().unwrap();
    let (pki, dns, controller) = dnsbl_controller(tmp.path(), &["budget"], |_| {}).await;
    let (cert, key) = pki.agent("web05.example");
    let mut client = raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await.unwrap();
    let ips: Vec<String> = (1..=6).map(|i| format!("198.51.100.{i}")).collect();
    let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
    client.report(report_with("web05.example", 1, &ips)).await.unwrap();

    // budget.test allows 3 queries a day: one probe (2 queries, 1 token) + 2 checks.
    for _ in 0..3 {
        pass(&controller).await;
    }
    let seen = dns.queries("budget.test");
    assert!(seen <= 4, "the zone received {seen} queries; its budget allows 3 checks (a probe is 2 queries)");
    let zones: Value = serde_json::from_str(&controller.cli(&["zones", "--format", "json"]).await.unwrap()).unwrap();
    let budget = &zones["zones"].as_array().unwrap().iter().find(|z| z["id"] == "budget").unwrap();
    assert!(budget["reason"].as_str().unwrap().contains("daily budget spent"), "{budget}");
    controller.stop().await;
}

#[tokio::test]
async fn a_blocklist_bounce_triggers_an_immediate_recheck() {
    let tmp = tempfile::tempdir().unwrap();
    let (pki, dns, controller) = dnsbl_controller(tmp.path(), &["bl"], |_| {}).await;
    let (cert, key) = pki.agent("web06.example");
    let mut client = raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await.unwrap();
    client.report(report_with("web06.example", 1, &["203.0.113.50"])).await.unwrap();
    // Probe, then a clean check; the next one is hours away.
    assert_eq!(pass(&controller).await.checks, 1);

    // The IP gets listed; its next scheduled check is hours away.
    dns.list("bl.test", ip("203.0.113.50"), &[Ipv4Addr::new(127, 0, 0, 2)], None).unwrap();
    assert_eq!(pass(&controller).await.checks, 0);

    // The agent reports a blocklist bounce naming the IP.
    let mut report = report_with("web06.example", 2, &["203.0.113.50"]);
    report.blocklist.push(BlocklistEvidence {
        provider: "spamhaus".into(),
        zone: "zen.spamhaus.org".into(),
        ip: "203.0.113.50".into(),
        family: "ip".into(),
        count: 3,
        first_seen_ms: report.period_start_ms,
        last_seen_ms: report.period_end_ms,
        sample: "554 5.7.1 Service unavailable; Client host [203.0.113.50] blocked using zen.spamhaus.org".into(),
        ..BlocklistEvidence::default()
    });
    client.report(report).await.unwrap();
    let stats = pass(&controller).await;
    assert_eq!((stats.checks, stats.listed), (1, 1), "{stats:?}");
    controller.stop().await;
}
