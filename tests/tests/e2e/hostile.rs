//! Hostile input: every malformed report is refused with a clear status and
//! leaves the store exactly as it was.

use rblfleet_proto::v1::{
    BlocklistEvidence, CollectorStatus, HostReport, NamedCount, QueueCount, QueueStats, SourceKind, SourceStats,
};
use rblfleet_tests::{Controller, Pki, raw_agent_client, valid_report};
use tonic::Code;

const HOST: &str = "web09.example";

/// What the admin API shows; must not change when a report is refused.
async fn snapshot(controller: &Controller) -> (String, String) {
    (
        controller.cli(&["hosts", "--format", "json"]).await.unwrap(),
        controller.cli(&["host", HOST, "--format", "json"]).await.unwrap(),
    )
}

/// Strips the volatile age fields from a snapshot.
fn stable(snapshot: &(String, String)) -> (serde_json::Value, serde_json::Value) {
    let clean = |s: &str| {
        let mut v: serde_json::Value = serde_json::from_str(s).unwrap();
        strip_ages(&mut v);
        v
    };
    (clean(&snapshot.0), clean(&snapshot.1))
}

fn strip_ages(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(map) => {
            map.remove("last_report_age_secs");
            map.remove("silent");
            map.values_mut().for_each(strip_ages);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_ages),
        _ => {}
    }
}

/// A report with every optional part filled, so every field can be spoiled.
fn full_report(seq: u64) -> HostReport {
    let mut report = valid_report(HOST, 7, seq);
    let now = report.period_end_ms;
    report.queue = Some(QueueStats {
        counts: vec![QueueCount { queue: "deferred".into(), messages: 3 }],
        total: 3,
        oldest_age_secs: 60,
        top_senders: vec![NamedCount { name: "info@shop.example".into(), count: 3 }],
        top_deferral_reasons: vec![NamedCount { name: "connection timed out".into(), count: 3 }],
    });
    report.blocklist = vec![BlocklistEvidence {
        provider: "spamhaus".into(),
        zone: "zen.spamhaus.org".into(),
        code: "S3140".into(),
        ip: "203.0.113.20".into(),
        family: "ip".into(),
        count: 2,
        first_seen_ms: now - 1000,
        last_seen_ms: now,
        sample: "554 5.7.1 Service unavailable; Client host [203.0.113.20] blocked using zen.spamhaus.org".into(),
        temporary: false,
        domain: String::new(),
    }];
    report.sources = vec![SourceStats {
        kind: SourceKind::SaslUser as i32,
        id: "info@shop.example".into(),
        subscription: "shop.example".into(),
        scripts: vec!["/var/www/vhosts/shop.example/httpdocs/x.php".into()],
        reasons: vec!["logged in from 97 IPs".into()],
        first_seen_ms: now - 1000,
        last_seen_ms: now,
        ..SourceStats::default()
    }];
    report.status = Some(rblfleet_proto::v1::AgentStatus {
        collectors: vec![CollectorStatus { name: "ips".into(), ok: true, error: String::new() }],
        unparsed_lines: vec![NamedCount { name: "postfix/smtpd".into(), count: 1 }],
        failed_lines: vec![NamedCount { name: "postfix/cleanup".into(), count: 1 }],
        ..Default::default()
    });
    report
}

type Spoil = (&'static str, fn(&mut HostReport));

/// One spoiled field per entry, with the field the error must name.
fn spoilers() -> Vec<Spoil> {
    const GARBAGE: &str = "\u{1b}[2J\u{0}evil\r\n";
    fn long() -> String {
        "x".repeat(5000)
    }
    vec![
        ("host_id", |r| r.host_id = format!("{HOST}\u{0}")),
        ("epoch", |r| r.epoch = 0),
        ("seq", |r| r.seq = 0),
        ("period_start_ms", |r| r.period_start_ms = -5),
        ("period_end_ms", |r| r.period_end_ms = r.period_start_ms - 1),
        ("period_end_ms", |r| r.period_end_ms += 86_400_000),
        ("period_end_ms", |r| {
            r.period_end_ms -= 90 * 86_400_000;
            r.period_start_ms = r.period_end_ms - 1;
        }),
        ("agent", |r| r.agent = None),
        ("agent.version", |r| r.agent.as_mut().unwrap().version = GARBAGE.into()),
        ("agent.os", |r| r.agent.as_mut().unwrap().os = long()),
        ("agent.mta", |r| r.agent.as_mut().unwrap().mta = 99),
        ("agent.plesk_version", |r| r.agent.as_mut().unwrap().plesk_version = GARBAGE.into()),
        ("agent.hostname", |r| r.agent.as_mut().unwrap().hostname = GARBAGE.into()),
        ("ips[0].address", |r| r.ips[0].address = "203.0.113.999".into()),
        ("ips[0].address", |r| r.ips[0].address = GARBAGE.into()),
        ("ips[0].interface", |r| r.ips[0].interface = GARBAGE.into()),
        ("ips[0].nat_public_address", |r| r.ips[0].nat_public_address = "not-an-ip".into()),
        ("ips", |r| r.ips = vec![r.ips[0].clone(); 5000]),
        ("queue.counts[0].queue", |r| r.queue.as_mut().unwrap().counts[0].queue = GARBAGE.into()),
        ("queue.top_senders[0].name", |r| r.queue.as_mut().unwrap().top_senders[0].name = long()),
        ("queue.top_deferral_reasons[0].name", |r| {
            r.queue.as_mut().unwrap().top_deferral_reasons[0].name = GARBAGE.into()
        }),
        ("blocklist[0].provider", |r| r.blocklist[0].provider = "Spam Haus".into()),
        ("blocklist[0].zone", |r| r.blocklist[0].zone = GARBAGE.into()),
        ("blocklist[0].code", |r| r.blocklist[0].code = long()),
        ("blocklist[0].ip", |r| r.blocklist[0].ip = "::g".into()),
        ("blocklist[0].family", |r| r.blocklist[0].family = GARBAGE.into()),
        ("blocklist[0].sample", |r| r.blocklist[0].sample = GARBAGE.into()),
        ("blocklist[0].first_seen_ms", |r| r.blocklist[0].first_seen_ms = r.blocklist[0].last_seen_ms + 1),
        ("sources[0].kind", |r| r.sources[0].kind = 42),
        ("sources[0].kind", |r| r.sources[0].kind = 0),
        ("sources[0].id", |r| r.sources[0].id = String::new()),
        ("sources[0].subscription", |r| r.sources[0].subscription = GARBAGE.into()),
        ("sources[0].scripts[0]", |r| r.sources[0].scripts[0] = GARBAGE.into()),
        ("sources[0].reasons[0]", |r| r.sources[0].reasons[0] = long()),
        ("sources[0].suspicion", |r| r.sources[0].suspicion = f64::NAN),
        ("status.collectors[0].name", |r| r.status.as_mut().unwrap().collectors[0].name = GARBAGE.into()),
        ("status.collectors[0].error", |r| r.status.as_mut().unwrap().collectors[0].error = GARBAGE.into()),
        ("status.unparsed_lines[0].name", |r| r.status.as_mut().unwrap().unparsed_lines[0].name = GARBAGE.into()),
        ("status.failed_lines[0].name", |r| r.status.as_mut().unwrap().failed_lines[0].name = GARBAGE.into()),
    ]
}

#[tokio::test]
async fn malformed_reports_are_refused_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let controller = Controller::start(&pki, &tmp.path().join("data"), 0, false).await;
    let (cert, key) = pki.agent(HOST);
    let mut client = raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await.unwrap();

    // Two good reports first, so there is stored state to protect.
    let sent: Vec<HostReport> = (1..=2).map(full_report).collect();
    for report in &sent {
        let ack = client.report(report.clone()).await.unwrap().into_inner();
        assert!(!ack.duplicate);
    }
    let before = stable(&snapshot(&controller).await);

    for (field, spoil) in spoilers() {
        let mut report = full_report(3);
        spoil(&mut report);
        let status = client.report(report).await.expect_err(field);
        // A spoiled host_id no longer matches the certificate: refused before validation.
        let expected = if field == "host_id" { Code::PermissionDenied } else { Code::InvalidArgument };
        assert_eq!(status.code(), expected, "{field}: {}", status.message());
        if expected == Code::InvalidArgument {
            assert!(status.message().contains(&format!("{field}:")), "{field}: {}", status.message());
        }
    }

    // Oversized: tonic refuses before decoding.
    let mut huge = full_report(3);
    huge.blocklist[0].sample = "y".repeat(2 * 1024 * 1024);
    let status = client.report(huge).await.unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{}", status.message());
    assert!(status.message().contains("too large"), "{}", status.message());

    // Sequence going backwards (seq 1 again, but different content).
    let mut backwards = full_report(1);
    backwards.ips[0].address = "198.51.100.1".into();
    let status = client.report(backwards).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{}", status.message());
    assert!(status.message().contains("different content"), "{}", status.message());
    // An older epoch.
    let status = client.report(valid_report(HOST, 6, 50)).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{}", status.message());
    assert!(status.message().contains("older than the epoch 7"), "{}", status.message());

    assert_eq!(stable(&snapshot(&controller).await), before, "a refused report changed the store");

    // A resent report is acknowledged again and not applied twice.
    let ack = client.report(sent[1].clone()).await.unwrap().into_inner();
    assert!(ack.duplicate);
    assert_eq!(stable(&snapshot(&controller).await), before);

    // And the host still works: the next good report is taken.
    assert!(!client.report(full_report(3)).await.unwrap().into_inner().duplicate);
    let host: serde_json::Value =
        serde_json::from_str(&controller.cli(&["host", HOST, "--format", "json"]).await.unwrap()).unwrap();
    assert_eq!((host["last_seq"].as_u64(), host["reports_stored"].as_u64()), (Some(3), Some(3)));
    controller.stop().await;
}

#[tokio::test]
async fn sequence_going_backwards_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let controller = Controller::start(&pki, &tmp.path().join("data"), 0, false).await;
    let (cert, key) = pki.agent(HOST);
    let mut client = raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await.unwrap();
    client.report(full_report(5)).await.unwrap();
    let before = stable(&snapshot(&controller).await);
    // seq 4 was never stored: it is not a resend, it goes backwards.
    let status = client.report(full_report(4)).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(
        status.message().contains("sequence 4") && status.message().contains("already has sequence 5"),
        "{}",
        status.message()
    );
    assert_eq!(stable(&snapshot(&controller).await), before);
    // The agent started at seq 5: four reports it dropped show as gaps.
    let host: serde_json::Value =
        serde_json::from_str(&controller.cli(&["host", HOST, "--format", "json"]).await.unwrap()).unwrap();
    assert_eq!(host["seq_gaps"], 4);
    controller.stop().await;
}
