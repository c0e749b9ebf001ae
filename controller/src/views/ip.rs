//! `rblfleet ip IP`: one IP across hosts, lists, episodes and cases.

use std::net::IpAddr;

use rblfleet_proto::v1::{Case, GetIpResponse, NamedReason};

use super::Context;
use crate::fleet::watched_ips;
use crate::store::StoreError;

/// Every case of `ip`, newest first.
pub fn ip_cases(ctx: &Context<'_>, ip: &str) -> Result<Vec<Case>, StoreError> {
    let mut cases: Vec<Case> = ctx.store.all_cases()?.into_iter().filter(|c| c.ip == ip).collect();
    cases.sort_by_key(|c| std::cmp::Reverse(c.opened_ms));
    Ok(cases)
}

/// The hosts carrying `ip`, its check on every zone, the zones not covering
/// it now, its DNS and receiver-side episodes (newest first) and its cases.
pub fn ip_view(ctx: &Context<'_>, ip: IpAddr) -> Result<GetIpResponse, StoreError> {
    let key = ip.to_string();
    let hosts = watched_ips(&ctx.store.list_hosts()?).remove(&ip).unwrap_or_default();
    let checks = ctx.store.ip_checks(&key)?;
    let mut episodes = ctx.store.ip_episodes(&key)?;
    episodes.sort_by_key(|e| std::cmp::Reverse(e.first_seen_ms));
    let (receiver_episodes, episodes): (Vec<_>, Vec<_>) =
        episodes.into_iter().partition(|e| ctx.catalog.receivers().iter().any(|r| r.id == e.zone_id));
    let not_covered = match ctx.engine {
        Some(engine) => engine.not_covered(ip).into_iter().map(|(name, reason)| NamedReason { name, reason }).collect(),
        None => vec![NamedReason {
            name: "all DNS zones".into(),
            reason: "blocklist checks are disabled on this controller (dnsbl.enabled = false)".into(),
        }],
    };
    let cases = ip_cases(ctx, &key)?;
    Ok(GetIpResponse { ip: key, hosts, checks, episodes, not_covered, cases, receiver_episodes })
}
