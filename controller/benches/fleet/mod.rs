//! The fleet both store benches load: hosts with public IPs, sources,
//! blocklist evidence and queue stats, as agents report them.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use rblfleet_controller::store::Store;

use rblfleet_proto::v1::{
    AgentInfo, BlocklistEvidence, DeliveryTotals, HostIp, HostReport, QueueStats, SourceKind, SourceStats,
};

/// The `n`-th IP of the bench fleet (100.0.0.0 and up).
pub fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 0, 0, 0)) + n))
}

pub fn report(host: u32, seq: u64, end_ms: i64, ips_per_host: u32) -> HostReport {
    let sources = (0..5)
        .map(|i| SourceStats {
            kind: if i == 0 { SourceKind::SaslUser as i32 } else { SourceKind::Sender as i32 },
            id: format!("user{i}@site{host}.example"),
            messages: 50 + i * 10,
            recipients: 60,
            recipient_domains: 20,
            sent: 45,
            bounced: 5,
            blocklisted: if i == 0 && host.is_multiple_of(100) { 30 } else { 0 },
            client_ips: if i == 0 { 12 } else { 1 },
            first_seen_ms: end_ms - 3_600_000,
            last_seen_ms: end_ms,
            ..SourceStats::default()
        })
        .collect();
    HostReport {
        host_id: format!("web{host:05}.example"),
        epoch: 1,
        seq,
        period_start_ms: end_ms - 60_000,
        period_end_ms: end_ms,
        agent: Some(AgentInfo { version: "0.1.0".into(), os: "linux".into(), mta: 1, ..AgentInfo::default() }),
        ips: (0..ips_per_host)
            .map(|i| HostIp {
                address: ip(host * ips_per_host + i).to_string(),
                interface: "eth0".into(),
                public: true,
                sends_mail: true,
                ..HostIp::default()
            })
            .collect(),
        queue: Some(QueueStats { total: 12 + u64::from(host % 50), oldest_age_secs: 600, ..QueueStats::default() }),
        deliveries: Some(DeliveryTotals { sent: 200, deferred: 10, bounced: 20, blocklisted: 5 }),
        blocklist: vec![BlocklistEvidence {
            provider: "spamhaus".into(),
            zone: "zen.spamhaus.org".into(),
            ip: ip(host * ips_per_host).to_string(),
            family: "ip".into(),
            count: 5,
            first_seen_ms: end_ms - 60_000,
            last_seen_ms: end_ms,
            sample: "554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org".into(),
            ..BlocklistEvidence::default()
        }],
        sources,
        ..HostReport::default()
    }
}

/// Stores four reports per host over the last 24 hours through the normal
/// ingest path: hosts report concurrently (32 at a time), one host's reports
/// arrive in order.
pub async fn load(store: &Store, hosts: u32, ips_per_host: u32, now: i64) {
    let limit = Arc::new(tokio::sync::Semaphore::new(32));
    let mut tasks = tokio::task::JoinSet::new();
    for host in 0..hosts {
        let store = store.clone();
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            for (seq, hours_ago) in [(1u64, 23i64), (2, 16), (3, 8), (4, 0)] {
                let r = report(host, seq, now - hours_ago * 3_600_000 - 60_000, ips_per_host);
                store.apply_report(&r, now).await.unwrap();
            }
        });
    }
    while tasks.join_next().await.is_some() {}
}
