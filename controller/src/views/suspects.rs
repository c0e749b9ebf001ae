//! Suspects of a listing: the hosts' hourly roll-ups handed to `correlate`.

use rblfleet_proto::v1::{HourRollup, Suspect};

use super::Context;
use crate::correlate::{self, BASELINE_MS, BEFORE_MS, HostHour};
use crate::store::StoreError;

/// The suspected sources on `hosts` for a listing first seen at `since_ms`
/// (for a host's own drill-down: `since_ms` = now), most suspicious first.
pub fn suspects(ctx: &Context<'_>, hosts: &[String], since_ms: i64) -> Result<Vec<Suspect>, StoreError> {
    let from = since_ms - BEFORE_MS - BASELINE_MS;
    let to = ctx.now_ms + correlate::HOUR_MS;
    let mut rollups: Vec<HourRollup> = Vec::new();
    for host in hosts {
        rollups.extend(ctx.store.rollups(host, from, to)?);
    }
    let hours: Vec<HostHour<'_>> = rollups
        .iter()
        .map(|r| HostHour { host_id: &r.host_id, hour_ms: r.hour_ms, reports: r.reports, sources: &r.sources })
        .collect();
    Ok(correlate::rank(&hours, since_ms, ctx.now_ms))
}
