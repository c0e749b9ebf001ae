//! MailEnable (Plesk for Windows) end to end, offline (issue 19): the
//! documented log formats — the tab-separated SMTP-Activity log (KB ME020170,
//! authenticated mailbox in the last column per KB ME020339) and its W3C
//! replica with a `#Fields:` header — through the parser, the tracker and the
//! aggregator, as `rblfleet-agent scan` and the running agent use them.
//! The refusals are the big receivers' documented replies
//! (../shared/reference/maillog-examples.txt).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use rblfleet_agent::parse::{DeliveryStatus, Event, Parser};
use rblfleet_agent::scan::{ScanOptions, scan_files};
use rblfleet_proto::v1::SourceKind;

fn corpus(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus")).join(name)
}

/// 2026-12-03 00:00:00 UTC.
const DEC3: i64 = 1_796_256_000_000;

#[test]
fn w3c_outbound_rows_follow_the_fields_header() {
    let text = std::fs::read_to_string(corpus("mailenable-w3c-outbound.log")).unwrap();
    let mut parser = Parser::new(DEC3);
    let mut events = Vec::new();
    for line in text.lines() {
        parser.parse_line(line, &mut events);
    }
    assert!(parser.unparsed().is_empty(), "{:?}", parser.unparsed());
    let at = |hms: i64| Some(DEC3 + hms * 1000);
    let delivery = |ts_ms, to: &str, relay: &str, dsn: Option<&str>, status, reply: &str| Event::Delivery {
        ts_ms,
        queue_id: String::new(),
        to: to.into(),
        relay: relay.into(),
        dsn: dsn.map(str::to_string),
        status,
        reply: reply.into(),
    };
    assert_eq!(
        events,
        vec![
            Event::SmtpAuth {
                ts_ms: at(9 * 3600),
                user: "info@example.com".into(),
                client_ip: Some("198.51.100.77".parse().unwrap())
            },
            // '+' in W3C values stands for a space.
            delivery(
                at(9 * 3600 + 5),
                "x@example.org",
                "192.0.2.80",
                None,
                DeliveryStatus::Bounced,
                "554-mail.example.org 554 Your access to this mail system has been rejected due to the sending \
                 MTA's poor reputation."
            ),
            delivery(
                at(9 * 3600 + 6),
                "y@example.net",
                "192.0.2.81",
                Some("5.7.1"),
                DeliveryStatus::Bounced,
                "550 5.7.1 Service unavailable; Client host [203.0.113.2] blocked using zen.spamhaus.org"
            ),
            delivery(at(9 * 3600 + 7), "", "192.0.2.82", Some("2.0.0"), DeliveryStatus::Sent, "250 2.0.0 OK queued"),
        ]
    );
}

#[test]
fn activity_log_blames_the_authenticated_mailbox_and_its_post_office() {
    let summary = scan_files(&[corpus("mailenable-outbound.log")], ScanOptions::default(), 10).unwrap();
    assert_eq!(summary.stats.unparsed_lines, 0);
    assert_eq!(summary.stats.unattributed_deliveries, 0, "every outbound row joins its SMTP-IN message file");
    let t = &summary.totals;
    // Sent: the shop's message (a 2xx to RCPT is no delivery, the end of
    // DATA is); refused: Microsoft, Gmail's DATA, Barracuda, the unknown
    // user; deferred: Yahoo.
    assert_eq!((t.sent, t.bounced, t.deferred), (1, 4, 1), "{t:?}");
    assert_eq!(t.blocklisted, 4, "Microsoft, Gmail, Barracuda and Yahoo name the sending IP: {t:?}");

    // The compromised mailbox comes first, with its post office (the Plesk
    // subscription's domain); the wrong-password attempt is no source.
    let top = &summary.sources[0];
    assert_eq!((top.key.kind, top.key.id.as_str()), (SourceKind::SaslUser, "info@example.com"));
    assert_eq!(top.subscription.as_deref(), Some("example.com"));
    assert_eq!((top.figures.messages, top.figures.blocklisted, top.figures.client_ips), (5, 4, 1));
    assert!(top.suspicion.score > 0.0 && !top.suspicion.reasons.is_empty(), "{:?}", top.suspicion);
    let shop = summary
        .sources
        .iter()
        .find(|s| s.key.kind == SourceKind::SaslUser && s.key.id == "sales@shop.example")
        .unwrap();
    assert_eq!(shop.subscription.as_deref(), Some("shop.example"));
    assert_eq!((shop.figures.sent, shop.figures.bounced, shop.figures.blocklisted), (1, 0, 0));
    assert!(!summary.sources.iter().any(|s| s.key.id == "admin@example.com"));

    let mut providers: Vec<(&str, &str, &str)> =
        summary.blocklist.iter().map(|e| (e.provider.as_str(), e.code.as_str(), e.ip.as_str())).collect();
    providers.sort_unstable();
    assert_eq!(
        providers,
        [
            ("barracuda", "", "203.0.113.2"),
            ("google", "5.7.1", "203.0.113.2"),
            ("microsoft", "S3140", "203.0.113.2"),
            ("yahoo", "TSS04", "203.0.113.2"),
        ]
    );
}
