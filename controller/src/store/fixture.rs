//! A store with something in every tree, written through the store's own
//! API (tests of `migrate` and of the PostgreSQL views): reports of several
//! hosts over two UTC days with their domains and sender domains, checks
//! with open and cleared listing episodes, cases with history (one open,
//! one resolved), a receiver state, zone usage, an action, an outbreak
//! warning.
#![allow(clippy::unwrap_used)]

use rblfleet_proto::v1::{
    ActionRecord, AgentInfo, Case, CaseEvent, CaseState, CheckStatus, ContainmentAction, DeliveryTotals, HostDomain,
    HostDomains, HostIp, HostReport, ListingEpisode, NamedCount, OutbreakWarning, QueueStats, ReceiverState, ZoneCheck,
};

use super::Store;

const HOUR: i64 = 3_600_000;
/// 2026-12-05T20:00:00Z: the reports span that evening and the next
/// morning (two day partitions on PostgreSQL).
pub(crate) const BASE_MS: i64 = 20_792 * 24 * HOUR + 20 * HOUR;
/// The listed IP (host `web01`'s) and when its open listing began.
pub(crate) const LISTED_IP: &str = "192.0.2.1";
pub(crate) const LISTED_SINCE_MS: i64 = BASE_MS + HOUR;

/// Host `i`'s id (1-based).
pub(crate) fn host_id(i: usize) -> String {
    format!("web{i:02}")
}

/// The period end of report `seq`: one report per hour from BASE_MS.
pub(crate) fn period_end(seq: u64) -> i64 {
    BASE_MS + HOUR * seq as i64 - 60_000
}

/// The report `seq` of host `i`.
pub(crate) fn report(i: usize, seq: u64) -> HostReport {
    let end = period_end(seq);
    HostReport {
        host_id: host_id(i),
        epoch: 1,
        seq,
        period_start_ms: end - 60_000,
        period_end_ms: end,
        agent: Some(AgentInfo { version: "0.9.0".into(), ..Default::default() }),
        ips: vec![HostIp {
            address: format!("192.0.2.{i}"),
            interface: "eth0".into(),
            public: true,
            sends_mail: true,
            ..Default::default()
        }],
        queue: Some(QueueStats { total: seq * 10, ..Default::default() }),
        deliveries: Some(DeliveryTotals { sent: 100, deferred: 2, bounced: seq, blocklisted: 1 }),
        domains: (seq == 1).then(|| HostDomains {
            domains: vec![HostDomain {
                name: format!("example{i}.test"),
                subscription: format!("sub{i}"),
                mail: true,
                ..Default::default()
            }],
            ..Default::default()
        }),
        sender_domains: vec![NamedCount { name: format!("example{i}.test"), count: 5 }],
        ..Default::default()
    }
}

fn event(at_ms: i64, action: &str, from: CaseState, to: CaseState) -> CaseEvent {
    CaseEvent {
        at_ms,
        who: "noc@example".into(),
        action: action.into(),
        from: from as i32,
        to: to as i32,
        ..Default::default()
    }
}

/// Fills `store`: `hosts` hosts with `reports` reports each (acknowledged
/// one second after their period), then the rest (which needs hosts 1–3).
pub(crate) async fn populate(store: &Store, hosts: usize, reports: u64) {
    for seq in 1..=reports {
        for i in 1..=hosts {
            let r = report(i, seq);
            store.apply_report(&r, r.period_end_ms + 1000).await.unwrap();
        }
    }
    let episode = |zone: &str, first: i64, last: i64, cleared: i64| ListingEpisode {
        ip: LISTED_IP.into(),
        zone_id: zone.into(),
        zone: format!("{zone}.test"),
        first_seen_ms: first,
        last_seen_ms: last,
        cleared_ms: cleared,
        codes: vec!["127.0.0.2".into()],
        ..Default::default()
    };
    let check = |zone: &str, status: CheckStatus, since: i64| ZoneCheck {
        ip: LISTED_IP.into(),
        zone_id: zone.into(),
        zone: format!("{zone}.test"),
        status: status as i32,
        checked_ms: BASE_MS + 2 * HOUR,
        listed_since_ms: since,
        ..Default::default()
    };
    let open = episode("zen", LISTED_SINCE_MS, BASE_MS + 2 * HOUR, 0);
    let cleared = episode("bl", BASE_MS, BASE_MS + HOUR / 2, BASE_MS + HOUR);
    store
        .record_checks(&[
            (&check("zen", CheckStatus::Listed, LISTED_SINCE_MS), Some(&open)),
            (&check("bl", CheckStatus::Clean, 0), Some(&cleared)),
        ])
        .unwrap();

    use CaseState::{DelistRequested, Investigating, Open, Remediated, Resolved, Unspecified};
    let id = store.next_case_id().unwrap();
    store
        .put_case(&Case {
            id,
            ip: LISTED_IP.into(),
            list_id: "zen".into(),
            state: Investigating as i32,
            opened_ms: LISTED_SINCE_MS,
            updated_ms: LISTED_SINCE_MS + 600_000,
            history: vec![
                event(LISTED_SINCE_MS, "opened", Unspecified, Open),
                event(LISTED_SINCE_MS + 600_000, "investigate", Open, Investigating),
            ],
            ..Default::default()
        })
        .unwrap();
    let id = store.next_case_id().unwrap();
    store
        .put_case(&Case {
            id,
            ip: LISTED_IP.into(),
            list_id: "bl".into(),
            state: Resolved as i32,
            opened_ms: BASE_MS,
            updated_ms: BASE_MS + HOUR,
            resolved_ms: BASE_MS + HOUR,
            history: vec![
                event(BASE_MS, "opened", Unspecified, Open),
                event(BASE_MS + 60_000, "remediated", Open, Remediated),
                event(BASE_MS + 120_000, "requested", Remediated, DelistRequested),
                event(BASE_MS + HOUR, "resolved", DelistRequested, Resolved),
            ],
            ..Default::default()
        })
        .unwrap();
    store
        .put_receiver_state(&ReceiverState {
            ip: "192.0.2.3".into(),
            provider: "microsoft".into(),
            listed_since_ms: BASE_MS,
            refusals_in_window: 4,
            ..Default::default()
        })
        .unwrap();
    store.add_zone_usage("zen", 20_792, 42).unwrap();
    store
        .put_action(&ActionRecord {
            action: Some(ContainmentAction {
                id: "act-1".into(),
                host_id: host_id(1),
                kind: "suspend_mailbox".into(),
                source_id: "info@example1.test".into(),
                ..Default::default()
            }),
            state: "planned".into(),
            created_ms: BASE_MS + 3 * HOUR,
            audit: vec!["planned by noc@example".into()],
            ..Default::default()
        })
        .unwrap();
    let warning = OutbreakWarning {
        host_id: host_id(2),
        ips: vec!["192.0.2.2".into()],
        source_kind: 1,
        source_id: "info@example2.test".into(),
        score: 0.9,
        first_seen_ms: BASE_MS + 2 * HOUR,
        last_seen_ms: BASE_MS + 3 * HOUR,
        ..Default::default()
    };
    store.save_outbreak(&host_id(2), b"detector state", &[warning]).unwrap();
    store.flush().await.unwrap();
}
