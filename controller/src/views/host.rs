//! `rblfleet host NAME`: one host's health, evidence over 24 h, suspects,
//! listings and open cases.

use rblfleet_proto::v1::{CaseState, GetHostResponse, HourPoint};

use super::{Context, Watched, current_listings, suspects};
use crate::store::StoreError;
use crate::store::rollup;

const DAY_MS: i64 = 86_400_000;

/// None when the host never reported.
pub fn host_view(ctx: &Context<'_>, host_id: &str) -> Result<Option<GetHostResponse>, StoreError> {
    let Some((summary, last_report)) = ctx.store.get_host(host_id)? else {
        return Ok(None);
    };
    let rollups = ctx.store.rollups(host_id, ctx.now_ms - DAY_MS, ctx.now_ms + 3_600_000)?;
    let trend = rollups
        .iter()
        .map(|r| {
            let d = r.deliveries.unwrap_or_default();
            HourPoint {
                hour_ms: r.hour_ms,
                queue_total: r.queue_last,
                sent: d.sent,
                deferred: d.deferred,
                bounced: d.bounced,
                blocklisted: d.blocklisted,
                domain_refused: r.blocklist.iter().filter(|e| e.family == "domain").map(|e| e.count).sum(),
            }
        })
        .collect();
    let mut blocklist_24h = rollup::sum(&rollups).blocklist;
    blocklist_24h.sort_by(|a, b| b.count.cmp(&a.count).then(a.provider.cmp(&b.provider)));

    let watched = Watched::load(ctx)?;
    let listings: Vec<_> =
        current_listings(ctx, &watched)?.into_iter().filter(|r| r.hosts.iter().any(|h| h == host_id)).collect();
    let my_ips = watched.subjects_of(host_id);
    let domains = ctx.store.host_domains(host_id)?;
    let open_cases = ctx
        .store
        .all_cases()?
        .into_iter()
        .filter(|c| my_ips.contains(&c.ip))
        .filter(|c| c.state != CaseState::Resolved as i32 && c.state != CaseState::Ignored as i32)
        .collect();
    let suspects = suspects(ctx, &[host_id.to_string()], ctx.now_ms)?;
    Ok(Some(GetHostResponse {
        summary: Some(summary),
        last_report,
        trend,
        blocklist_24h,
        suspects,
        listings,
        open_cases,
        domains_served: domains.as_ref().map_or(0, |d| d.domains.len() as u64),
        domains_truncated: domains.is_some_and(|d| d.truncated),
        warnings: super::host_warnings(ctx, host_id)?,
        baselines: super::baselines(ctx, host_id)?,
        certificate_not_after_ms: crate::ca::expiry::registry().agent(host_id).unwrap_or(0),
    }))
}
