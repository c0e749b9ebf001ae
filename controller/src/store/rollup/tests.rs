#![allow(clippy::unwrap_used)]

use rblfleet_proto::v1::{QueueStats, SourceKind};

use super::*;

fn report(end: i64, sent: u64, source_blocklisted: u64) -> HostReport {
    HostReport {
        host_id: "web1".into(),
        period_end_ms: end,
        deliveries: Some(DeliveryTotals { sent, ..Default::default() }),
        queue: Some(QueueStats { total: sent, ..Default::default() }),
        sources: vec![SourceStats {
            kind: SourceKind::SaslUser as i32,
            id: "info@shop.example".into(),
            messages: sent,
            blocklisted: source_blocklisted,
            recipient_domains: sent / 2,
            ..Default::default()
        }],
        blocklist: vec![BlocklistEvidence {
            provider: "spamhaus".into(),
            count: 2,
            last_seen_ms: end,
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn reports_of_one_hour_add_up() {
    let mut r = HourRollup::default();
    merge(&mut r, &report(7_200_000 + 60_000, 10, 1));
    merge(&mut r, &report(7_200_000 + 120_000, 30, 4));
    assert_eq!((r.hour_ms, r.reports, r.queue_last, r.queue_max), (7_200_000, 2, 30, 30));
    assert_eq!(r.deliveries.unwrap().sent, 40);
    assert_eq!((r.sources.len(), r.sources[0].messages, r.sources[0].blocklisted), (1, 40, 5));
    assert_eq!(r.sources[0].recipient_domains, 15, "distinct counts are a lower bound: the max");
    assert_eq!((r.blocklist.len(), r.blocklist[0].count), (1, 4));
    // The same operator refusing a listed domain is another row, never added to the IP's.
    let mut domain = report(7_200_000 + 180_000, 1, 0);
    domain.blocklist[0].family = "domain".into();
    merge(&mut r, &domain);
    assert_eq!(r.blocklist.iter().map(|e| (e.family.as_str(), e.count)).collect::<Vec<_>>(), [("", 4), ("domain", 2)]);
}

#[test]
fn hours_are_bounded() {
    let mut r = HourRollup::default();
    let mut big = report(1, 1, 0);
    big.sources = (0..500u64)
        .map(|i| SourceStats { kind: 4, id: format!("s{i}@x.example"), messages: i, ..Default::default() })
        .collect();
    merge(&mut r, &big);
    assert_eq!(r.sources.len(), MAX_SOURCES);
    assert_eq!(r.sources[0].messages, 499);
}
