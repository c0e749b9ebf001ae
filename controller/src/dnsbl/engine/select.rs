//! Which due (target, zone) pairs one pass sends: every zone in service,
//! every watched IP or domain it covers whose time has come, in the order
//! `due` explains, each taking a token of its zone's budget.

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use super::super::budget::Refusal;
use super::due::{CLASS_FORCED, CLASS_REST, CLASS_SENDING};
use super::{Engine, PassStats, WatchedName};
use crate::catalog::{Target, Zone, ZoneKind};

/// A due target, as an index into the pass's IP or domain list (no
/// allocation until the pair is picked).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Pick {
    Ip(usize),
    Domain(usize),
}

impl Engine {
    /// The due pairs this pass sends, in priority order, each taking a token
    /// of its zone's budget; see `due` for the order.
    pub(super) fn select(
        &self,
        ips: &[IpAddr],
        domains: &[WatchedName],
        now: i64,
        day: u32,
        stats: &mut PassStats,
    ) -> Vec<(usize, Arc<Zone>, Target)> {
        let started = Instant::now();
        let mut guard = self.lock();
        let state = &mut *guard;
        // (class, due time, zone index, target as an index into ips or domains).
        let mut due: Vec<(u8, i64, usize, Pick)> = Vec::new();
        for (i, rt) in state.zones.iter().enumerate() {
            if !rt.health.in_service() {
                continue;
            }
            if rt.zone.kind == ZoneKind::Domain {
                for (n, d) in domains.iter().enumerate() {
                    let forced = state.due.is_forced_domain(&d.name);
                    let at = if forced { i64::MIN } else { state.due.domain_at(&d.name, i) };
                    if at <= now {
                        let class = match (forced, d.sends) {
                            (true, _) => CLASS_FORCED,
                            (false, true) => CLASS_SENDING,
                            (false, false) => CLASS_REST,
                        };
                        due.push((class, at, i, Pick::Domain(n)));
                    }
                }
            } else {
                for (n, &ip) in ips.iter().enumerate() {
                    if rt.zone.query_name(&Target::Ip(ip)).is_none() {
                        continue;
                    }
                    let forced = state.due.is_forced_ip(ip);
                    let at = if forced { i64::MIN } else { state.due.ip_at(ip, i) };
                    if at <= now {
                        due.push((if forced { CLASS_FORCED } else { CLASS_SENDING }, at, i, Pick::Ip(n)));
                    }
                }
            }
        }
        due.sort_unstable();
        let target = |pick: Pick| match pick {
            Pick::Ip(n) => Target::Ip(ips[n]),
            Pick::Domain(n) => Target::Domain(domains[n].name.clone()),
        };
        let max = self.inner.config.max_per_pass.max(1);
        let mut kept_forced = HashSet::new();
        let mut batch = Vec::new();
        for (class, _, i, pick) in due {
            let rt = &mut state.zones[i];
            if batch.len() >= max {
                if class == CLASS_FORCED {
                    kept_forced.insert(target(pick));
                }
                continue;
            }
            if !self.inner.config.lift_budgets {
                match rt.bucket.take(started, day) {
                    Ok(()) => rt.exhausted = None,
                    Err(refusal) => {
                        if let Refusal::DayExhausted { used, limit } = refusal {
                            rt.exhausted = Some(format!("daily budget spent ({used} of {limit} queries)"));
                        }
                        if class == CLASS_FORCED {
                            kept_forced.insert(target(pick));
                        }
                        stats.deferred += 1;
                        continue;
                    }
                }
            }
            stats.by_class[usize::from(class)] += 1;
            batch.push((i, rt.zone.clone(), target(pick)));
        }
        state.due.settle_forced(kept_forced);
        batch
    }
}
