//! `/metrics` of a running controller (`Daemon::start`, as `rblfleet serve`
//! starts it) scraped over real HTTP after real agent reports over mTLS and
//! a blocklist pass against the test DNS server, parsed by an independent
//! Prometheus text parser (`prometheus-parse`).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use prometheus_parse::{Scrape, Value};
use rblfleet_controller::daemon::Daemon;
use rblfleet_proto::v1::{DeliveryTotals, HostIp, HostReport, QueueStats};
use rblfleet_tests::{
    Pki, controller_config, enable_dnsbl, only_zones, raw_agent_client, test_zone_server, valid_report,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Every family the controller exposes (with blocklist checks on).
const FAMILIES: &[&str] = &[
    "rblfleet_build_info",
    "rblfleet_start_time_seconds",
    "rblfleet_metrics_collect_duration_seconds",
    "rblfleet_hosts",
    "rblfleet_watched_ips",
    "rblfleet_watched_domains",
    "rblfleet_listings",
    "rblfleet_cases",
    "rblfleet_agent_last_report_timestamp_seconds",
    "rblfleet_agent_seq_gaps_total",
    "rblfleet_host_queue_messages",
    "rblfleet_host_blocklisted_deliveries_24h",
    "rblfleet_zone_up",
    "rblfleet_zone_state",
    "rblfleet_dnsbl_lookups_total",
    "rblfleet_dnsbl_probes_total",
    "rblfleet_zone_queries_total",
    "rblfleet_zone_budget_used_queries",
    "rblfleet_zone_budget_daily_queries",
    "rblfleet_ingest_reports_stored_total",
    "rblfleet_ingest_reports_duplicate_total",
    "rblfleet_ingest_reports_refused_total",
    "rblfleet_ingest_reports_in_flight",
    "rblfleet_ingest_ack_duration_seconds",
    "rblfleet_store_commit_batches_total",
    "rblfleet_store_commit_reports_total",
    "rblfleet_store_commit_apply_seconds_total",
    "rblfleet_store_commit_flush_seconds_total",
    "rblfleet_store_free_bytes",
    "rblfleet_store_reserve_bytes",
    "rblfleet_agent_certificate_expiry_timestamp_seconds",
    "rblfleet_certificate_expiry_timestamp_seconds",
    "rblfleet_tls_reloads_total",
    "rblfleet_tls_last_reload_successful",
    "rblfleet_role_leader",
    "rblfleet_scrape_collector_success",
    "rblfleet_scrape_collector_duration_seconds",
];

/// Every collector, with blocklist checks on (without them, no "zones").
const COLLECTORS: &[&str] = &[
    "fleet",
    "agents",
    "zones",
    "agent_certificates",
    "certificates",
    "tls_reload",
    "roles",
    "ingest",
    "store_writer",
    "disk",
    "controller",
];

/// One HTTP/1.1 request over a fresh connection: (status line, head, body).
async fn http(addr: SocketAddr, method: &str, path: &str) -> (String, String, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: rblfleet-tests\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), head.to_string(), body.to_string())
}

/// The value of the one sample of `metric` carrying all of `labels`.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let found: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert_eq!(found.len(), 1, "{metric}{labels:?}: {found:?}");
    match &found[0].value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{metric} is not a plain value: {other:?}"),
    }
}

fn report(host: &str, seq: u64, ips: &[&str], queue: u64, blocklisted: u64) -> HostReport {
    let mut report = valid_report(host, 1, seq);
    report.ips = ips
        .iter()
        .map(|a| HostIp { address: a.to_string(), public: true, sends_mail: true, ..HostIp::default() })
        .collect();
    report.queue = Some(QueueStats { total: queue, ..QueueStats::default() });
    report.deliveries = Some(DeliveryTotals { sent: 100, deferred: 2, bounced: 4, blocklisted });
    report
}

#[tokio::test]
async fn metrics_scrape_shows_ingest_hosts_zones_listings_and_cases() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let dns = test_zone_server().await;
    let mut config = controller_config(&pki, &tmp.path().join("data"), 0, false);
    enable_dnsbl(&mut config, &dns);
    only_zones(&mut config, &["bl", "servfail"]);
    config.metrics.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let started_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    // The engine runs no passes by itself: the test runs one when the reports are in.
    let daemon = Daemon::start_with(&config, false, false).await.unwrap();
    let metrics = daemon.metrics_addr.expect("metrics are enabled by default");
    let agent_url = format!("https://127.0.0.1:{}", daemon.servers.agent_addr.port());

    // web01: two reports and an identical resend of the second; web02: one
    // report. web01 also claims to be web02 once (refused: identity).
    let (cert, key) = pki.agent("web01.example");
    let mut web01 = raw_agent_client(&agent_url, &pki.ca_cert(), Some((&cert, &key))).await.unwrap();
    web01.report(report("web01.example", 1, &["203.0.113.7", "203.0.113.8"], 10, 2)).await.unwrap();
    let second = report("web01.example", 2, &["203.0.113.7", "203.0.113.8"], 42, 3);
    assert!(!web01.report(second.clone()).await.unwrap().into_inner().duplicate);
    assert!(web01.report(second).await.unwrap().into_inner().duplicate);
    let refused = web01.report(report("web02.example", 1, &["203.0.113.7"], 0, 0)).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    let (cert, key) = pki.agent("web02.example");
    let mut web02 = raw_agent_client(&agent_url, &pki.ca_cert(), Some((&cert, &key))).await.unwrap();
    web02.report(report("web02.example", 1, &["203.0.113.7"], 7, 0)).await.unwrap();

    // One pass: bl is probed healthy and checks both IPs (one listed);
    // servfail fails its probe and goes out of service.
    dns.list("bl.test", IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)), &[Ipv4Addr::new(127, 0, 0, 2)], None).unwrap();
    let stats = daemon.engine.as_ref().unwrap().pass().await.unwrap();
    assert_eq!((stats.checks, stats.listed), (2, 1), "{stats:?}");

    let (status, head, body) = http(metrics, "GET", "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(head.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8"), "{head}");
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();

    // Every family is documented (HELP) and present.
    let documented: BTreeSet<&str> = scrape.docs.keys().map(String::as_str).collect();
    assert_eq!(documented, FAMILIES.iter().copied().collect::<BTreeSet<_>>());

    // Ingest: counts equal what was sent.
    assert_eq!(value(&scrape, "rblfleet_ingest_reports_stored_total", &[]), 3.0);
    assert_eq!(value(&scrape, "rblfleet_ingest_reports_duplicate_total", &[]), 1.0);
    assert_eq!(value(&scrape, "rblfleet_ingest_reports_refused_total", &[("reason", "identity")]), 1.0);
    for reason in ["invalid", "sequence", "overloaded", "storage"] {
        assert_eq!(value(&scrape, "rblfleet_ingest_reports_refused_total", &[("reason", reason)]), 0.0, "{reason}");
    }
    assert_eq!(value(&scrape, "rblfleet_ingest_reports_in_flight", &[]), 0.0);
    assert_eq!(value(&scrape, "rblfleet_ingest_ack_duration_seconds_count", &[]), 4.0, "stored + duplicate");
    assert!(value(&scrape, "rblfleet_ingest_ack_duration_seconds_sum", &[]) > 0.0);
    // The store writer saw the 3 new reports and the resend, in at least one batch.
    assert_eq!(value(&scrape, "rblfleet_store_commit_reports_total", &[]), 4.0);
    let batches = value(&scrape, "rblfleet_store_commit_batches_total", &[]);
    assert!((1.0..=4.0).contains(&batches), "{batches}");
    assert!(value(&scrape, "rblfleet_store_free_bytes", &[]) > 0.0);
    let histogram = scrape.samples.iter().find(|s| s.metric == "rblfleet_ingest_ack_duration_seconds").unwrap();
    let Value::Histogram(buckets) = &histogram.value else { panic!("{histogram:?}") };
    assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count), "cumulative: {buckets:?}");
    let inf = buckets.iter().find(|b| b.less_than.is_infinite()).unwrap();
    assert_eq!(inf.count, 4.0);

    // Fleet and hosts.
    assert_eq!(value(&scrape, "rblfleet_hosts", &[]), 2.0);
    // The reports carry no domains: none is watched.
    assert_eq!(value(&scrape, "rblfleet_watched_domains", &[]), 0.0);
    assert_eq!(value(&scrape, "rblfleet_watched_ips", &[]), 2.0);
    assert_eq!(value(&scrape, "rblfleet_host_queue_messages", &[("host", "web01.example")]), 42.0, "latest report");
    assert_eq!(value(&scrape, "rblfleet_host_queue_messages", &[("host", "web02.example")]), 7.0);
    assert_eq!(value(&scrape, "rblfleet_host_blocklisted_deliveries_24h", &[("host", "web01.example")]), 5.0);
    assert_eq!(value(&scrape, "rblfleet_host_blocklisted_deliveries_24h", &[("host", "web02.example")]), 0.0);
    assert_eq!(value(&scrape, "rblfleet_agent_seq_gaps_total", &[("host", "web01.example")]), 0.0);
    let now_s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    for host in ["web01.example", "web02.example"] {
        let seen = value(&scrape, "rblfleet_agent_last_report_timestamp_seconds", &[("host", host)]);
        assert!(seen >= started_s - 1.0 && seen <= now_s + 1.0, "{host}: {seen} not in [{started_s}, {now_s}]");
    }

    // Certificates: the agents' as they connected, the controller's and the
    // CA's from its files; the test PKI issues everything for 30 days. The
    // agents' registry is the process's: another test's web01.example
    // certificate is also about 30 days ahead.
    let in_30_days = |seen: f64| (seen - (now_s + 30.0 * 86_400.0)).abs() < 600.0;
    for host in ["web01.example", "web02.example"] {
        let expiry = value(&scrape, "rblfleet_agent_certificate_expiry_timestamp_seconds", &[("host", host)]);
        assert!(in_30_days(expiry), "{host}: {expiry}");
    }
    for (kind, name) in [("controller", "localhost"), ("ca", "test CA")] {
        let expiry = value(&scrape, "rblfleet_certificate_expiry_timestamp_seconds", &[("kind", kind), ("name", name)]);
        assert!(in_30_days(expiry), "{kind} {name}: {expiry}");
    }

    // Listings and the case the listing opened.
    assert_eq!(value(&scrape, "rblfleet_listings", &[("list", "bl"), ("kind", "dns")]), 1.0);
    assert_eq!(value(&scrape, "rblfleet_cases", &[("state", "open")]), 1.0);
    for state in ["investigating", "remediated", "delist_requested", "resolved", "ignored"] {
        assert_eq!(value(&scrape, "rblfleet_cases", &[("state", state)]), 0.0, "{state}");
    }

    // Zones: health, lookups by outcome, probes, queries and budget.
    assert_eq!(value(&scrape, "rblfleet_zone_up", &[("zone", "bl")]), 1.0);
    assert_eq!(value(&scrape, "rblfleet_zone_up", &[("zone", "servfail")]), 0.0);
    assert_eq!(value(&scrape, "rblfleet_zone_state", &[("zone", "servfail"), ("state", "out_of_service")]), 1.0);
    assert_eq!(value(&scrape, "rblfleet_zone_state", &[("zone", "servfail"), ("state", "in_service")]), 0.0);
    assert_eq!(value(&scrape, "rblfleet_zone_state", &[("zone", "everything"), ("state", "disabled")]), 1.0);
    assert!(
        !scrape.samples.iter().any(|s| s.metric == "rblfleet_zone_up" && s.labels.get("zone") == Some("everything"))
    );
    let lookups = |outcome| value(&scrape, "rblfleet_dnsbl_lookups_total", &[("zone", "bl"), ("outcome", outcome)]);
    assert_eq!((lookups("listed"), lookups("clean"), lookups("error")), (1.0, 1.0, 0.0));
    assert_eq!(value(&scrape, "rblfleet_dnsbl_probes_total", &[("zone", "bl"), ("result", "ok")]), 1.0);
    assert_eq!(value(&scrape, "rblfleet_dnsbl_probes_total", &[("zone", "servfail"), ("result", "failed")]), 1.0);
    let queries = "a probe (2) + two checks + the listing's TXT";
    assert_eq!(value(&scrape, "rblfleet_zone_queries_total", &[("zone", "bl")]), 5.0, "{queries}");
    // The budget counts the queries sent: the probe's two, each check and the TXT.
    assert_eq!(value(&scrape, "rblfleet_zone_budget_used_queries", &[("zone", "bl")]), 5.0, "{queries}");
    // The only controller on its store runs the roles it has for good (the
    // engine runs no passes by itself here, and no alert route is set).
    assert_eq!(value(&scrape, "rblfleet_role_leader", &[("role", "retention")]), 1.0);
    assert_eq!(value(&scrape, "rblfleet_zone_budget_daily_queries", &[("zone", "bl")]), 1_000_000.0);

    assert_eq!(value(&scrape, "rblfleet_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    // The TLS files loaded at start: no reload yet, none failing.
    assert_eq!(value(&scrape, "rblfleet_tls_reloads_total", &[]), 0.0);
    assert_eq!(value(&scrape, "rblfleet_tls_last_reload_successful", &[]), 1.0);

    // Every collector worked and timed itself.
    for collector in COLLECTORS {
        assert_eq!(value(&scrape, "rblfleet_scrape_collector_success", &[("collector", collector)]), 1.0);
        assert!(value(&scrape, "rblfleet_scrape_collector_duration_seconds", &[("collector", collector)]) >= 0.0);
    }

    // HEAD answers the same head without a body; other paths are 404.
    let (status, head_only, body) = http(metrics, "HEAD", "/metrics").await;
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(head_only.contains("Content-Length: ") && body.is_empty(), "{head_only}");
    assert_eq!(http(metrics, "GET", "/").await.0, "HTTP/1.1 404 Not Found");
    daemon.shutdown().await.unwrap();

    // Restarted on the same store: listings, hosts and cases come back from
    // what is stored; the ingest counters start again with the process.
    let daemon = Daemon::start_with(&config, false, false).await.unwrap();
    let (_, _, body) = http(daemon.metrics_addr.unwrap(), "GET", "/metrics").await;
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    assert_eq!(value(&scrape, "rblfleet_listings", &[("list", "bl"), ("kind", "dns")]), 1.0);
    assert_eq!(value(&scrape, "rblfleet_hosts", &[]), 2.0);
    assert_eq!(value(&scrape, "rblfleet_cases", &[("state", "open")]), 1.0);
    assert_eq!(value(&scrape, "rblfleet_ingest_reports_stored_total", &[]), 0.0);
    daemon.shutdown().await.unwrap();
}

#[tokio::test]
async fn metrics_can_be_disabled_and_a_taken_port_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let mut config = controller_config(&pki, &tmp.path().join("data"), 0, false);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    config.metrics.listen = taken.local_addr().unwrap();
    let err = Daemon::start(&config, false).await.unwrap_err().to_string();
    assert!(err.contains(&format!("metrics.listen = {}", config.metrics.listen)), "{err}");

    config.metrics.enabled = false;
    config.data_dir = tmp.path().join("data2");
    let daemon = Daemon::start(&config, false).await.unwrap();
    assert_eq!(daemon.metrics_addr, None);
    daemon.shutdown().await.unwrap();
}

/// Collector isolation with a real failure: the data directory's free space
/// cannot be measured once the directory has moved (sled keeps its open
/// files), so the disk collector fails; the scrape stays a 200 with every
/// other family, and the disk families come back with the directory.
#[tokio::test]
async fn a_failing_collector_drops_only_its_own_families() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let data = tmp.path().join("data");
    let mut config = controller_config(&pki, &data, 0, false);
    config.metrics.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let daemon = Daemon::start(&config, false).await.unwrap();
    let metrics = daemon.metrics_addr.unwrap();
    let agent_url = format!("https://127.0.0.1:{}", daemon.servers.agent_addr.port());
    let (cert, key) = pki.agent("web01.example");
    let mut web01 = raw_agent_client(&agent_url, &pki.ca_cert(), Some((&cert, &key))).await.unwrap();
    web01.report(report("web01.example", 1, &["203.0.113.7"], 10, 2)).await.unwrap();

    let moved = tmp.path().join("data.moved");
    std::fs::rename(&data, &moved).unwrap();
    let (status, _, body) = http(metrics, "GET", "/metrics").await;
    std::fs::rename(&moved, &data).unwrap();
    assert_eq!(status, "HTTP/1.1 200 OK");
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    assert_eq!(value(&scrape, "rblfleet_scrape_collector_success", &[("collector", "disk")]), 0.0);
    let present = |metric: &str| scrape.samples.iter().any(|s| s.metric == metric);
    assert!(!present("rblfleet_store_free_bytes") && !present("rblfleet_store_reserve_bytes"), "{body}");
    for collector in COLLECTORS.iter().filter(|c| **c != "disk" && **c != "zones") {
        assert_eq!(value(&scrape, "rblfleet_scrape_collector_success", &[("collector", collector)]), 1.0);
    }
    assert!(!scrape.samples.iter().any(|s| s.labels.get("collector") == Some("zones")), "blocklist checks are off");
    assert_eq!(value(&scrape, "rblfleet_hosts", &[]), 1.0);
    assert_eq!(value(&scrape, "rblfleet_host_queue_messages", &[("host", "web01.example")]), 10.0);
    assert_eq!(value(&scrape, "rblfleet_ingest_reports_stored_total", &[]), 1.0);
    assert_eq!(value(&scrape, "rblfleet_store_commit_reports_total", &[]), 1.0);

    // The directory is back: so are its families.
    let (_, _, body) = http(metrics, "GET", "/metrics").await;
    let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).unwrap();
    assert_eq!(value(&scrape, "rblfleet_scrape_collector_success", &[("collector", "disk")]), 1.0);
    assert!(value(&scrape, "rblfleet_store_free_bytes", &[]) > 0.0);
    daemon.shutdown().await.unwrap();
}
