//! `rblfleet report`: the fleet-wide listing report.

use crate::dnsbl::engine::ZoneState;
use std::collections::BTreeSet;

use rblfleet_proto::v1::{CaseState, FleetSummary, ReportRequest, ReportResponse, ZoneGap};

use super::{Context, ListingsRollups, Watched, current_listings};
use crate::store::StoreError;

const DEFAULT_SILENT_SECS: u64 = 300;

pub fn fleet_report(ctx: &Context<'_>, request: &ReportRequest) -> Result<ReportResponse, StoreError> {
    let watched = Watched::load(ctx)?;
    let hosts = &watched.hosts;
    let all = current_listings(ctx, &watched)?;
    let listed =
        |kind: &str| all.iter().filter(|r| r.kind == kind).map(|r| r.ip.as_str()).collect::<BTreeSet<_>>().len();
    let listed_ips: BTreeSet<String> = all.iter().filter(|r| r.kind == "ip").map(|r| r.ip.clone()).collect();

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
    summary.warnings_active = ctx.store.all_warnings()?.iter().filter(|w| w.cleared_ms == 0).count() as u64;
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
    let ip_rollups =
        ListingsRollups::load(ctx, rows.iter().filter(|r| r.kind != "domain").map(|r| (&r.hosts[..], r.since_ms)))?;
    for row in &mut rows {
        row.top_suspect = if row.kind == "domain" {
            super::domain::domain_suspects(ctx, &row.ip, watched.domains.get(&row.ip), row.since_ms)?.into_iter().next()
        } else {
            ip_rollups.suspects(&row.hosts, row.since_ms).into_iter().next()
        };
    }
    // Early warnings (issue 15): sources whose IPs are not listed yet.
    let at_risk: Vec<_> = super::at_risk(ctx, &listed_ips)?
        .into_iter()
        .filter(|w| request.hosts.is_empty() || request.hosts.contains(&w.host_id))
        .collect();
    summary.ips_at_risk =
        at_risk.iter().flat_map(|w| &w.ips).filter(|ip| !listed_ips.contains(*ip)).collect::<BTreeSet<_>>().len()
            as u64;
    Ok(ReportResponse { summary: Some(summary), rows, at_risk })
}
