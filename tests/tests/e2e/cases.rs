//! From "IP listed" to "verified clean": the report names the right host,
//! list and suspect; a case goes through every state, resolves itself, and
//! reopens as a relisting; a receiver-side listing opens and closes from
//! bounce evidence alone.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use rblfleet_proto::v1::{
    BlocklistEvidence, DeliveryTotals, HostIp, HostReport, ReceiverStats, SourceKind, SourceStats,
};
use rblfleet_tests::{
    Controller, Pki, controller_config, dnsbl_controller, hijacked_mailbox, raw_agent_client, valid_report,
};
use serde_json::Value;

const HOST: &str = "web07.example";
const IP: &str = "203.0.113.30";

fn report(seq: u64, ip: &str) -> HostReport {
    let mut r = valid_report(HOST, 1, seq);
    r.ips = vec![HostIp {
        address: ip.into(),
        interface: "eth0".into(),
        public: true,
        sends_mail: true,
        ..HostIp::default()
    }];
    r.deliveries = Some(DeliveryTotals { sent: 40, deferred: 5, bounced: 60, blocklisted: 55 });
    let (start, end) = (r.period_start_ms, r.period_end_ms);
    r.sources = vec![
        hijacked_mailbox(start, end),
        SourceStats {
            kind: SourceKind::Sender.into(),
            id: "news@club.example".into(),
            messages: 20,
            recipients: 20,
            recipient_domains: 3,
            sent: 20,
            first_seen_ms: start,
            last_seen_ms: end,
            ..SourceStats::default()
        },
    ];
    r
}

async fn json(controller: &Controller, args: &[&str]) -> Value {
    serde_json::from_str(&controller.cli(args).await.unwrap()).unwrap()
}

#[tokio::test]
async fn a_case_from_listing_to_verified_clean_and_back() {
    let tmp = tempfile::tempdir().unwrap();
    // Every pass re-checks (the test plays the clock).
    let (pki, dns, controller) = dnsbl_controller(tmp.path(), &["bl"], |config| {
        config.dnsbl.listed_interval = Duration::from_millis(1);
        config.dnsbl.clean_interval = Duration::from_millis(1);
    })
    .await;
    let (cert, key) = pki.agent(HOST);
    let mut client = raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await.unwrap();
    client.report(report(1, IP)).await.unwrap();

    let ip: IpAddr = IP.parse().unwrap();
    dns.list("bl.test", ip, &[Ipv4Addr::new(127, 0, 0, 2)], Some("trap hits")).unwrap();
    let engine = controller.engine();
    engine.pass().await.unwrap();

    // The report: the right host, list, suspect and delisting route.
    let report = json(&controller, &["report", "--format", "json"]).await;
    assert_eq!(report["summary"]["ips_listed"], 1);
    let row = &report["listings"][0];
    assert_eq!((row["ip"].as_str(), row["list"].as_str()), (Some(IP), Some("bl.test")));
    assert_eq!(row["hosts"], serde_json::json!([HOST]));
    assert_eq!(row["top_suspect"]["id"], "info@shop.example", "{row}");
    assert!(row["top_suspect"]["reasons"].as_array().unwrap().len() >= 2, "{row}");
    assert!(row["top_suspect"]["hints"].to_string().contains("info@shop.example"), "{row}");
    assert_eq!(row["case"]["state"], "open");
    let id = row["case"]["id"].as_u64().unwrap().to_string();
    let csv = controller.cli(&["report", "--format", "csv"]).await.unwrap();
    assert!(csv.lines().nth(1).unwrap().starts_with(&format!("{IP},{HOST},bl,bl.test,dns,")), "{csv}");

    // The NOC moves the case; every move is recorded with who and when.
    controller.cli(&["case", &id, "investigate", "--note", "looking at web07"]).await.unwrap();
    controller.cli(&["case", &id, "remediated", "--note", "password reset"]).await.unwrap();
    let err = controller.cli(&["case", &id, "ignore"]).await.unwrap_err().to_string();
    assert!(err.contains("reason"), "{err}");
    let case = json(&controller, &["case", &id, "requested", "--ref", "SH-12345", "--format", "json"]).await;
    assert_eq!((case["state"].as_str(), case["ref"].as_str()), (Some("delist_requested"), Some("SH-12345")));
    let actions: Vec<&str> =
        case["history"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["opened", "investigate", "remediated", "requested"]);
    assert!(case["history"].as_array().unwrap()[1..].iter().all(|e| e["who"] == "local"));
    assert_eq!(json(&controller, &["report", "--format", "json"]).await["summary"]["cases_waiting_delisting"], 1);

    // The zone drops the listing: after consecutive clean checks the engine resolves the case.
    dns.unlist("bl.test", ip).unwrap();
    engine.pass().await.unwrap();
    assert_eq!(json(&controller, &["case", &id, "--format", "json"]).await["state"], "delist_requested");
    engine.pass().await.unwrap();
    let case = json(&controller, &["case", &id, "--format", "json"]).await;
    assert_eq!(case["state"], "resolved", "{case}");
    assert_eq!(json(&controller, &["report", "--format", "json"]).await["listings"], serde_json::json!([]));

    // Listed again within 30 days: the same case reopens as a relisting.
    dns.list("bl.test", ip, &[Ipv4Addr::new(127, 0, 0, 2)], None).unwrap();
    engine.pass().await.unwrap();
    let case = json(&controller, &["case", &id, "--format", "json"]).await;
    assert_eq!((case["state"].as_str(), case["relisting"].as_bool()), (Some("open"), Some(true)), "{case}");
    let report = json(&controller, &["report", "--format", "json"]).await;
    assert_eq!(
        (report["summary"]["relistings"].as_u64(), report["listings"][0]["case"]["relisting"].as_bool()),
        (Some(1), Some(true))
    );
    let table = controller.cli(&["report"]).await.unwrap();
    assert!(table.contains("RELISTED") && table.contains("1 of 1 IPs listed"), "{table}");

    // The host drill-down shows the suspect and the open case.
    let host = json(&controller, &["host", HOST, "--format", "json"]).await;
    assert_eq!(host["suspects"][0]["id"], "info@shop.example");
    assert_eq!(host["open_cases"][0]["id"].as_u64().unwrap().to_string(), id);
    controller.stop().await;
}

#[tokio::test]
async fn a_receiver_side_listing_opens_and_closes_from_bounces_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let mut config = controller_config(&pki, &tmp.path().join("data"), 0, false);
    config.receivers.clear_after = Duration::ZERO;
    let controller = Controller::start_with(config).await;
    let (cert, key) = pki.agent(HOST);
    let mut client = raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await.unwrap();

    // Two refusals: below the threshold (5).
    let mut r = report(1, IP);
    let refusal = |count| BlocklistEvidence {
        provider: "microsoft".into(),
        code: "S3140".into(),
        ip: IP.into(),
        family: "ip".into(),
        count,
        first_seen_ms: r.period_start_ms,
        last_seen_ms: r.period_end_ms,
        sample: "550 5.7.1 Unfortunately, messages from [203.0.113.30] weren't sent. (S3140)".into(),
        ..BlocklistEvidence::default()
    };
    r.blocklist = vec![refusal(2)];
    client.report(r.clone()).await.unwrap();
    assert_eq!(json(&controller, &["report", "--format", "json"]).await["listings"], serde_json::json!([]));

    // Four more: the listing opens, with a case, beside DNS listings.
    let mut r2 = report(2, IP);
    r2.blocklist = vec![refusal(4)];
    client.report(r2).await.unwrap();
    let report_json = json(&controller, &["report", "--format", "json"]).await;
    let row = &report_json["listings"][0];
    assert_eq!(
        (row["kind"].as_str(), row["list_id"].as_str(), row["ip"].as_str()),
        (Some("receiver"), Some("microsoft"), Some(IP))
    );
    assert_eq!(row["case"]["state"], "open");
    let id = row["case"]["id"].as_u64().unwrap().to_string();

    // Microsoft accepts mail again (per-receiver counts from the agent).
    let mut r3 = report(3, IP);
    r3.receivers = vec![ReceiverStats { provider: "microsoft".into(), sent: 25, ..ReceiverStats::default() }];
    client.report(r3).await.unwrap();
    assert_eq!(json(&controller, &["report", "--format", "json"]).await["listings"], serde_json::json!([]));
    let case = json(&controller, &["case", &id, "--format", "json"]).await;
    assert_eq!(case["state"], "resolved", "{case}");
    let ip_view = json(&controller, &["ip", IP, "--format", "json"]).await;
    assert_eq!(ip_view["receiver_episodes"].as_array().unwrap().len(), 1);
    assert!(ip_view["receiver_episodes"][0]["cleared_at"].is_string());
    controller.stop().await;
}
