//! When each (target, zone) pair is due, and in which order due pairs go.
//!
//! IPs and domains are kept apart so that a pass over half a million
//! domains allocates nothing for the pairs that are not due: a domain's due
//! times are one small slice, indexed by the position of the zone among the
//! domain zones, looked up by `&str`.
//!
//! Order, when budgets cannot take everything: pairs forced by a bounce
//! first, then IPs and the domains that send mail, then the domains that
//! only exist; within each, the longest overdue first. A pair a budget
//! refuses stays due (and stays forced).

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use crate::catalog::{Target, ZoneKind};

/// Priority class of a target: lower goes first.
pub(super) const CLASS_FORCED: u8 = 0;
pub(super) const CLASS_SENDING: u8 = 1;
pub(super) const CLASS_REST: u8 = 2;

/// One registrable domain the engine watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedName {
    pub name: String,
    /// Seen as an envelope sender domain: checked before the others.
    pub sends: bool,
}

#[derive(Debug, Default)]
pub(super) struct Due {
    ips: HashMap<(IpAddr, usize), i64>,
    domains: HashMap<String, Box<[i64]>>,
    /// Zone index → position among the domain zones.
    domain_pos: Vec<Option<usize>>,
    domain_zones: usize,
    forced_ips: HashSet<IpAddr>,
    forced_domains: HashSet<String>,
}

impl Due {
    pub(super) fn new(kinds: &[ZoneKind]) -> Due {
        let mut next = 0;
        let domain_pos = kinds
            .iter()
            .map(|k| {
                (*k == ZoneKind::Domain).then(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect();
        Due { domain_pos, domain_zones: next, ..Due::default() }
    }

    /// When `target` is next due on zone `zone` (0 = never checked: now).
    pub(super) fn ip_at(&self, ip: IpAddr, zone: usize) -> i64 {
        self.ips.get(&(ip, zone)).copied().unwrap_or(0)
    }

    pub(super) fn domain_at(&self, name: &str, zone: usize) -> i64 {
        match (self.domains.get(name), self.domain_pos.get(zone).copied().flatten()) {
            (Some(times), Some(pos)) => times.get(pos).copied().unwrap_or(0),
            _ => 0,
        }
    }

    pub(super) fn set(&mut self, target: &Target, zone: usize, at: i64) {
        match target {
            Target::Ip(ip) => {
                self.ips.insert((*ip, zone), at);
            }
            Target::Domain(name) => {
                let Some(pos) = self.domain_pos.get(zone).copied().flatten() else { return };
                let n = self.domain_zones;
                let times = match self.domains.get_mut(name.as_str()) {
                    Some(times) => times,
                    None => self.domains.entry(name.clone()).or_insert_with(|| vec![0; n].into_boxed_slice()),
                };
                if let Some(slot) = times.get_mut(pos) {
                    *slot = at;
                }
            }
        }
    }

    pub(super) fn force(&mut self, target: Target) {
        match target {
            Target::Ip(ip) => {
                self.forced_ips.insert(ip);
            }
            Target::Domain(name) => {
                self.forced_domains.insert(name);
            }
        }
    }

    pub(super) fn is_forced_ip(&self, ip: IpAddr) -> bool {
        self.forced_ips.contains(&ip)
    }

    pub(super) fn is_forced_domain(&self, name: &str) -> bool {
        self.forced_domains.contains(name)
    }

    /// Forgets the forced targets whose pairs all went out in this pass;
    /// `kept` (pairs a budget refused) stay forced.
    pub(super) fn settle_forced(&mut self, kept: HashSet<Target>) {
        self.forced_ips.clear();
        self.forced_domains.clear();
        kept.into_iter().for_each(|t| self.force(t));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_due_times_are_per_domain_zone() {
        let mut due = Due::new(&[ZoneKind::Ip, ZoneKind::Domain, ZoneKind::Domain]);
        let d = Target::Domain("shop.example".into());
        assert_eq!(due.domain_at("shop.example", 1), 0);
        due.set(&d, 2, 500);
        assert_eq!((due.domain_at("shop.example", 1), due.domain_at("shop.example", 2)), (0, 500));
        // An IP zone has no slot for a domain: nothing is stored.
        due.set(&d, 0, 900);
        assert_eq!(due.domain_at("shop.example", 0), 0);
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        due.set(&Target::Ip(ip), 0, 42);
        assert_eq!(due.ip_at(ip, 0), 42);
    }

    #[test]
    fn forced_targets_stay_forced_only_when_kept() {
        let mut due = Due::new(&[ZoneKind::Domain]);
        due.force(Target::Domain("a.example".into()));
        due.force(Target::Domain("b.example".into()));
        assert!(due.is_forced_domain("a.example"));
        due.settle_forced([Target::Domain("b.example".into())].into_iter().collect());
        assert!(!due.is_forced_domain("a.example") && due.is_forced_domain("b.example"));
    }
}
