//! What the hosts' latest reports say the fleet sends from: the IPs to watch.
//! Pure; read by the blocklist engine, the views, the alerts and the metrics.

use std::collections::BTreeMap;
use std::net::IpAddr;

use rblfleet_proto::v1::{HostSummary, SourceKind};

/// A source kind as alerts, views and the CLI name it ("mailbox", "script"…).
pub fn source_kind_name(kind: i32) -> &'static str {
    match SourceKind::try_from(kind) {
        Ok(SourceKind::SaslUser) => "mailbox",
        Ok(SourceKind::LocalUser) => "local_user",
        Ok(SourceKind::Script) => "script",
        Ok(SourceKind::Sender) => "sender",
        _ => "source",
    }
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
