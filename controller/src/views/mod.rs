//! What the admin API shows: the fleet report, the host and IP drill-downs
//! and case lists, computed from the store, the catalog and the engine.
//! Transport-free (the server wraps these) and rendering-free (the CLI
//! renders them).

mod cases;
mod host;
mod ip;
mod listings;
mod report;
mod suspects;

use std::collections::BTreeMap;
use std::net::IpAddr;

use rblfleet_proto::v1::HostSummary;

pub use cases::list_cases;
pub use host::host_view;
pub use ip::ip_view;
pub use listings::current_listings;
pub use report::fleet_report;
pub use suspects::suspects;

use crate::catalog::Catalog;
use crate::dnsbl::engine::Engine;
use crate::store::Store;

/// Everything a view reads.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub store: &'a Store,
    pub catalog: &'a Catalog,
    pub engine: Option<&'a Engine>,
    pub now_ms: i64,
}

/// Each watched IP with the hosts whose latest report carries it: public
/// addresses, or the NAT-published address of a private one.
pub fn watched_ips(hosts: &[HostSummary]) -> BTreeMap<IpAddr, Vec<String>> {
    let mut watched: BTreeMap<IpAddr, Vec<String>> = BTreeMap::new();
    for host in hosts {
        for ip in &host.ips {
            let target = if !ip.nat_public_address.is_empty() {
                ip.nat_public_address.parse().ok()
            } else if ip.public {
                ip.address.parse().ok()
            } else {
                None
            };
            if let Some(target) = target {
                let hosts = watched.entry(target).or_default();
                if !hosts.contains(&host.host_id) {
                    hosts.push(host.host_id.clone());
                }
            }
        }
    }
    watched
}
