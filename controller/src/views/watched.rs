//! What the fleet watches, for the views: each IP with the hosts carrying
//! it, each registrable domain with the hosts serving or sending it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rblfleet_proto::v1::HostSummary;

use super::Context;
use crate::catalog::registrable;
use crate::fleet::watched_ips;
use crate::store::{StoreError, WatchedDomain};

/// The fleet's IPs and domains, read once per view.
#[derive(Debug, Clone, Default)]
pub struct Watched {
    pub hosts: Vec<HostSummary>,
    pub ips: BTreeMap<IpAddr, Vec<String>>,
    pub domains: BTreeMap<String, WatchedDomain>,
}

impl Watched {
    pub fn load(ctx: &Context<'_>) -> Result<Watched, StoreError> {
        let hosts = ctx.store.list_hosts()?;
        let ips = watched_ips(&hosts);
        let domains = ctx.store.watched_domains(registrable)?;
        Ok(Watched { hosts, ips, domains })
    }

    /// The hosts behind a listed subject (an IP or a registrable domain).
    pub fn hosts_of(&self, subject: &str) -> Vec<String> {
        match subject.parse::<IpAddr>() {
            Ok(ip) => self.ips.get(&ip).cloned().unwrap_or_default(),
            Err(_) => self.domains.get(subject).map(WatchedDomain::all_hosts).unwrap_or_default(),
        }
    }

    /// The subjects (IPs, domains) of one host, as stored in checks and cases.
    pub fn subjects_of(&self, host_id: &str) -> Vec<String> {
        let ips = self.ips.iter().filter(|(_, hs)| hs.iter().any(|h| h == host_id)).map(|(ip, _)| ip.to_string());
        let domains = self
            .domains
            .iter()
            .filter(|(_, d)| {
                d.hosts.iter().any(|h| h.host_id == host_id) || d.sending_hosts.iter().any(|h| h == host_id)
            })
            .map(|(name, _)| name.clone());
        ips.chain(domains).collect()
    }
}
