//! What the engine tells the NOC: each zone's health and budget use, and
//! which zones do not cover an IP right now (and why).

use std::fmt;
use std::net::IpAddr;

use rblfleet_proto::v1::ZoneHealth;

use super::super::budget::utc_day;
use super::super::health::State;
use super::{Engine, ZoneRuntime};
use crate::cases::work::delist_route;
use crate::catalog::{Target, Zone, ZoneKind};
use crate::clock::now_ms;

/// A catalog zone's state in the engine: a string only on the wire
/// (`ZoneHealth.state`) and in metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneState {
    Unchecked,
    InService,
    OutOfService,
    Disabled,
    /// Enabled, but its key is not configured.
    NeedsKey,
}

impl ZoneState {
    pub const fn as_str(self) -> &'static str {
        match self {
            ZoneState::Unchecked => "unchecked",
            ZoneState::InService => "in_service",
            ZoneState::OutOfService => "out_of_service",
            ZoneState::Disabled => "disabled",
            ZoneState::NeedsKey => "needs_key",
        }
    }

    /// The state named by its wire string; None for a string no state has.
    pub fn from_wire(s: &str) -> Option<ZoneState> {
        [ZoneState::Unchecked, ZoneState::InService, ZoneState::OutOfService, ZoneState::Disabled, ZoneState::NeedsKey]
            .into_iter()
            .find(|state| state.as_str() == s)
    }

    /// A zone the engine runs, by its health.
    pub(super) fn running(health: &State) -> ZoneState {
        match health {
            State::Unchecked => ZoneState::Unchecked,
            State::InService { .. } => ZoneState::InService,
            State::OutOfService { .. } => ZoneState::OutOfService,
        }
    }

    /// A zone the engine does not run.
    pub(super) fn idle(zone: &Zone) -> ZoneState {
        if zone.enabled && zone.needs_key && !zone.has_key() { ZoneState::NeedsKey } else { ZoneState::Disabled }
    }
}

impl fmt::Display for ZoneState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Compares with the wire name, as metric labels do.
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
    /// Budget use is the store's (the fleet's: every engine charges it
    /// before it sends), falling back to this engine's own count when the
    /// store cannot be read; on a controller that does not lead the engine
    /// the own count is as old as its last term.
    pub fn zone_health(&self) -> Vec<ZoneHealth> {
        let watched = self.watched().map(|w| w.len() as u64).unwrap_or(0);
        let watched_domains = self.watched_domains().map(|w| w.len() as u64).unwrap_or(0);
        let ids: Vec<String> = self.lock().zones.iter().map(|rt| rt.zone.id.clone()).collect();
        let stored = self.inner.store.zones_usage(&ids, utc_day(now_ms())).ok();
        let state = self.lock();
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
                    kind: zone.kind.as_str().into(),
                    delist: Some(delist_route(&zone.delist)),
                    ..ZoneHealth::default()
                };
                let Some(rt) = state.zones.iter().find(|rt| rt.zone.id == zone.id) else {
                    h.state = ZoneState::idle(zone).as_str().into();
                    return h;
                };
                h.used_today = stored
                    .as_ref()
                    .and_then(|used| used.get(ids.iter().position(|id| *id == zone.id)?).copied())
                    .unwrap_or_else(|| rt.bucket.used_today());
                h.queries_total = rt.queries_total;
                h.errors_total = rt.errors_total;
                if let Some((at, error)) = &rt.health.last_error {
                    h.last_error = error.clone();
                    h.last_error_ms = *at;
                }
                h.state = ZoneState::running(&rt.health.state).as_str().into();
                match &rt.health.state {
                    State::Unchecked => {}
                    State::InService { since_ms } => {
                        h.since_ms = *since_ms;
                        if let Some(exhausted) = &rt.exhausted {
                            h.reason = exhausted.clone();
                        }
                    }
                    State::OutOfService { since_ms, reason, retry_at_ms, .. } => {
                        h.since_ms = *since_ms;
                        h.reason = reason.clone();
                        h.retry_at_ms = *retry_at_ms;
                    }
                }
                if gap(rt).is_some() {
                    h.not_covered = if zone.kind == ZoneKind::Domain { watched_domains } else { watched };
                }
                h
            })
            .collect()
    }

    /// Enabled domain zones that do not cover `target` (a domain) now, with
    /// the reason; for an IP, as [`Engine::not_covered`].
    pub fn not_covered_target(&self, target: &Target) -> Vec<(String, String)> {
        if let Target::Ip(ip) = target {
            return self.not_covered(*ip);
        }
        let state = self.lock();
        state
            .zones
            .iter()
            .filter(|rt| rt.zone.kind == ZoneKind::Domain)
            .filter_map(|rt| gap(rt).map(|reason| (rt.zone.display_zone(), reason)))
            .collect()
    }

    /// Enabled zones of `ip`'s kind that do not cover it now, with the
    /// reason (a domain zone is not a gap in an IP's coverage).
    pub fn not_covered(&self, ip: IpAddr) -> Vec<(String, String)> {
        let state = self.lock();
        state
            .zones
            .iter()
            .filter(|rt| rt.zone.kind != ZoneKind::Domain)
            .filter_map(|rt| {
                if rt.zone.query_name(&Target::Ip(ip)).is_none() {
                    let family = if ip.is_ipv6() { "IPv6" } else { "IPv4" };
                    return Some((rt.zone.display_zone(), format!("the zone does not list {family} addresses")));
                }
                gap(rt).map(|reason| (rt.zone.display_zone(), reason))
            })
            .collect()
    }
}
