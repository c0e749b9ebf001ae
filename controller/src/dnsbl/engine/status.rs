//! What the engine tells the NOC: each zone's health and budget use, and
//! which zones do not cover an IP right now (and why).

use std::net::IpAddr;

use rblfleet_proto::v1::ZoneHealth;

use super::super::health::State;
use super::{Engine, ZoneRuntime};
use crate::cases::work::delist_route;

/// Why a runtime zone does not cover IPs now, if it does not.
fn gap(rt: &ZoneRuntime) -> Option<String> {
    match &rt.health.state {
        State::Unchecked => Some("not probed yet".into()),
        State::OutOfService { reason, .. } => Some(format!("out of service: {reason}")),
        State::InService { .. } => rt.exhausted.clone(),
    }
}

impl Engine {
    /// Every catalog zone with its state; enabled ones with health and budget use.
    pub fn zone_health(&self) -> Vec<ZoneHealth> {
        let state = self.lock();
        let watched = self.watched().map(|w| w.len() as u64).unwrap_or(0);
        self.catalog()
            .zones()
            .iter()
            .map(|zone| {
                let mut h = ZoneHealth {
                    zone_id: zone.id.clone(),
                    zone: zone.display_zone(),
                    name: zone.name.clone(),
                    enabled: zone.enabled,
                    per_second: zone.budget.per_second,
                    per_day: zone.budget.per_day.unwrap_or(0),
                    ipv4: zone.ipv4,
                    ipv6: zone.ipv6,
                    delist: Some(delist_route(&zone.delist)),
                    ..ZoneHealth::default()
                };
                let Some(rt) = state.zones.iter().find(|rt| rt.zone.id == zone.id) else {
                    h.state =
                        if zone.enabled && zone.needs_key && !zone.has_key() { "needs_key" } else { "disabled" }.into();
                    return h;
                };
                h.used_today = rt.bucket.used_today();
                h.queries_total = rt.queries_total;
                h.errors_total = rt.errors_total;
                if let Some((at, error)) = &rt.health.last_error {
                    h.last_error = error.clone();
                    h.last_error_ms = *at;
                }
                match &rt.health.state {
                    State::Unchecked => h.state = "unchecked".into(),
                    State::InService { since_ms } => {
                        h.state = "in_service".into();
                        h.since_ms = *since_ms;
                        if let Some(exhausted) = &rt.exhausted {
                            h.reason = exhausted.clone();
                        }
                    }
                    State::OutOfService { since_ms, reason, retry_at_ms, .. } => {
                        h.state = "out_of_service".into();
                        h.since_ms = *since_ms;
                        h.reason = reason.clone();
                        h.retry_at_ms = *retry_at_ms;
                    }
                }
                if gap(rt).is_some() {
                    h.not_covered = watched;
                }
                h
            })
            .collect()
    }

    /// Enabled zones that do not cover `ip` now, with the reason.
    pub fn not_covered(&self, ip: IpAddr) -> Vec<(String, String)> {
        let state = self.lock();
        state
            .zones
            .iter()
            .filter_map(|rt| {
                if rt.zone.query_name(ip).is_none() {
                    let family = if ip.is_ipv6() { "IPv6" } else { "IPv4" };
                    return Some((rt.zone.display_zone(), format!("the zone does not list {family} addresses")));
                }
                gap(rt).map(|reason| (rt.zone.display_zone(), reason))
            })
            .collect()
    }
}
