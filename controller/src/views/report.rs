//! `rblfleet report`: the fleet-wide listing report.

use crate::dnsbl::engine::ZoneState;
use std::collections::BTreeSet;

use rblfleet_proto::v1::{CaseState, FleetSummary, ReportRequest, ReportResponse, ZoneGap};

use super::{Context, Watched, current_listings, suspects};
use crate::store::StoreError;

const DEFAULT_SILENT_SECS: u64 = 300;

pub fn fleet_report(ctx: &Context<'_>, request: &ReportRequest) -> Result<ReportResponse, StoreError> {
    let watched = Watched::load(ctx)?;
    let hosts = &watched.hosts;
    let all = current_listings(ctx, &watched)?;
    let listed =
        |kind: &str| all.iter().filter(|r| r.kind == kind).map(|r| r.ip.as_str()).collect::<BTreeSet<_>>().len();

    let silent_secs = if request.silent_after_secs == 0 { DEFAULT_SILENT_SECS } else { request.silent_after_secs };
    let silent_ms = i64::try_from(silent_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    let mut summary = FleetSummary {
        hosts: hosts.len() as u64,
        ips_watched: watched.ips.len() as u64,
        ips_listed: listed("ip") as u64,
        domains_watched: watched.domains.len() as u64,
        domains_listed: listed("domain") as u64,
        lists_involved: all.iter().map(|r| r.list_id.as_str()).collect::<BTreeSet<_>>().len() as u64,
        relistings: all.iter().filter(|r| r.relisting).count() as u64,
        silent_agents: hosts
            .iter()
            .filter(|h| ctx.now_ms - h.last_report_ms > silent_ms)
            .map(|h| h.host_id.clone())
            .collect(),
        ..FleetSummary::default()
    };
    summary.cases_waiting_delisting =
        ctx.store.all_cases()?.iter().filter(|c| c.state == CaseState::DelistRequested as i32).count() as u64;
    if let Some(engine) = ctx.engine {
        for zone in engine.zone_health() {
            let gap = match ZoneState::from_wire(&zone.state) {
                Some(ZoneState::OutOfService | ZoneState::Unchecked) => {
                    Some(if zone.reason.is_empty() { zone.state.clone() } else { zone.reason })
                }
                Some(ZoneState::InService) if !zone.reason.is_empty() => Some(zone.reason),
                _ => None,
            };
            if let Some(reason) = gap {
                summary.zones_not_covering.push(ZoneGap { zone: zone.zone, reason });
            }
        }
    } else {
        summary.zones_not_covering.push(ZoneGap {
            zone: "all".into(),
            reason: "blocklist checks are disabled on this controller (dnsbl.enabled = false)".into(),
        });
    }

    let list_matches = |id: &str, name: &str| {
        request.lists.is_empty()
            || request.lists.iter().any(|l| l.eq_ignore_ascii_case(id) || l.eq_ignore_ascii_case(name))
    };
    let mut rows: Vec<_> = all
        .into_iter()
        .filter(|r| list_matches(&r.list_id, &r.list))
        .filter(|r| request.hosts.is_empty() || r.hosts.iter().any(|h| request.hosts.contains(h)))
        .filter(|r| request.states.is_empty() || request.states.contains(&r.case_state))
        .collect();
    for row in &mut rows {
        row.top_suspect = if row.kind == "domain" {
            super::domain::domain_suspects(ctx, &row.ip, watched.domains.get(&row.ip), row.since_ms)?.into_iter().next()
        } else {
            suspects(ctx, &row.hosts, row.since_ms)?.into_iter().next()
        };
    }
    Ok(ReportResponse { summary: Some(summary), rows, at_risk: Vec::new() })
}
