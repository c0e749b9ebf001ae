//! The `ips` collector: which addresses this host has and which send mail.
//!
//! The controller checks every public (or NAT-published) address against
//! blocklists, so this list decides what gets checked. The rules live in
//! [`classify`], a pure function over (interface, address) pairs, so they are
//! tested without touching the host's interfaces; [`IpsCollector`] only adds
//! the `if-addrs` call.
//!
//! Rules, in order:
//! 1. interface addresses plus `ips.static` (interface ""), where an address
//!    on an interface keeps its interface name;
//! 2. loopback and IPv6 link-local (fe80::/10) are dropped: they never carry
//!    mail to the outside;
//! 3. `ips.exclude` drops matching addresses and every address of a matching
//!    interface name;
//! 4. `public` per [`is_public`]; `nat_public_address` from `[[ips.nat]]`;
//! 5. `sends_mail`: with `ips.sending` set, an address sends when it or its NAT
//!    address is listed; with it empty, every public or NAT-published address
//!    sends;
//! 6. one entry per address, sorted by address, so equal hosts give equal reports.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rblfleet_proto::v1::{HostIp, HostReport};

use super::{CollectError, Collector};
use crate::config::IpsConfig;

/// One address found on an interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceAddr {
    /// Interface name, e.g. "eth0".
    pub interface: String,
    /// The address.
    pub ip: IpAddr,
}

/// Reports the host's interface addresses, classified per the rules above.
#[derive(Debug, Clone)]
pub struct IpsCollector {
    config: IpsConfig,
}

impl IpsCollector {
    /// A collector applying `config` to the interfaces found at each collection.
    pub fn new(config: IpsConfig) -> Self {
        Self { config }
    }
}

impl Collector for IpsCollector {
    fn name(&self) -> &'static str {
        "ips"
    }

    fn collect(&mut self, report: &mut HostReport) -> Result<(), CollectError> {
        let found = if_addrs::get_if_addrs()
            .map_err(|source| CollectError::Io { what: "listing interface addresses".into(), cause: source })?;
        let found: Vec<InterfaceAddr> =
            found.into_iter().map(|iface| InterfaceAddr { ip: iface.ip(), interface: iface.name }).collect();
        report.ips = classify(&found, &self.config);
        Ok(())
    }
}

/// Applies the module's rules to the addresses found on interfaces.
pub fn classify(found: &[InterfaceAddr], config: &IpsConfig) -> Vec<HostIp> {
    // BTreeMap: dedupes by address and sorts (IPv4 before IPv6, numeric order).
    let mut by_ip: BTreeMap<IpAddr, String> = BTreeMap::new();
    for addr in found {
        by_ip
            .entry(addr.ip)
            .and_modify(|name| {
                // Same address on two interfaces: keep the smaller name, stably.
                if name.is_empty() || addr.interface < *name {
                    name.clone_from(&addr.interface);
                }
            })
            .or_insert_with(|| addr.interface.clone());
    }
    for ip in &config.static_addrs {
        by_ip.entry(*ip).or_default();
    }

    by_ip
        .into_iter()
        .filter(|(ip, _)| !ip.is_loopback() && !is_ipv6_link_local(*ip))
        .filter(|(ip, interface)| !excluded(*ip, interface, &config.exclude))
        .map(|(ip, interface)| {
            let nat = config.nat.iter().find(|rule| rule.private == ip).map(|rule| rule.public);
            let public = is_public(ip);
            let sends_mail = if config.sending.is_empty() {
                public || nat.is_some()
            } else {
                config.sending.contains(&ip) || nat.is_some_and(|n| config.sending.contains(&n))
            };
            HostIp {
                address: ip.to_string(),
                interface,
                public,
                sends_mail,
                nat_public_address: nat.map(|n| n.to_string()).unwrap_or_default(),
            }
        })
        .collect()
}

fn excluded(ip: IpAddr, interface: &str, exclude: &[String]) -> bool {
    exclude.iter().any(|entry| match entry.parse::<IpAddr>() {
        Ok(excluded_ip) => excluded_ip == ip,
        Err(_) => !interface.is_empty() && entry == interface,
    })
}

fn is_ipv6_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

/// Whether receivers on the Internet can see mail coming from `ip`.
///
/// Not public: unspecified, loopback, RFC 1918 private, CGNAT 100.64.0.0/10,
/// link-local, 192.0.0.0/24 (protocol assignments), benchmarking
/// 198.18.0.0/15, multicast, 240.0.0.0/4 and broadcast; for IPv6 everything
/// outside global unicast 2000::/3 (so unique-local fc00::/7, link-local,
/// multicast) and benchmarking 2001:2::/48. IPv4-mapped IPv6 follows the IPv4 rule.
///
/// Deliberately public: the documentation ranges 192.0.2.0/24,
/// 198.51.100.0/24, 203.0.113.0/24 and 2001:db8::/32. They are not routed,
/// but the tests, demos and examples of rblfleet use them as stand-ins for a
/// host's real public addresses, and no real host has them configured.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let not_public = a == 0                              // "this network"
        || ip.is_loopback()                              // 127/8
        || ip.is_private()                               // 10/8, 172.16/12, 192.168/16
        || (a == 100 && (b & 0xc0) == 64)                // CGNAT 100.64/10
        || ip.is_link_local()                            // 169.254/16
        || (a == 192 && b == 0 && c == 0)                // 192.0.0/24
        || (a == 198 && (b & 0xfe) == 18)                // benchmarking 198.18/15
        || ip.is_multicast()                             // 224/4
        || a >= 240; // reserved 240/4 and broadcast
    !not_public
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let global_unicast = (s[0] & 0xe000) == 0x2000;
    let benchmarking = s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0;
    global_unicast && !benchmarking
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::NatRule;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn on(interface: &str, addr: &str) -> InterfaceAddr {
        InterfaceAddr { interface: interface.into(), ip: ip(addr) }
    }

    #[test]
    fn public_classification_table() {
        let table = [
            ("8.8.8.8", true),
            ("203.0.113.5", true), // documentation, public on purpose
            ("198.51.100.1", true),
            ("192.0.2.1", true),
            ("2001:db8::1", true),
            ("2a01:4f8::1", true),
            ("10.1.2.3", false),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("172.32.0.1", true),
            ("192.168.1.1", false),
            ("100.64.0.1", false),
            ("100.127.255.255", false),
            ("100.128.0.1", true),
            ("169.254.1.1", false),
            ("127.0.0.1", false),
            ("0.0.0.0", false),
            ("192.0.0.8", false),
            ("198.18.0.1", false),
            ("198.19.255.1", false),
            ("224.0.0.1", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
            ("::1", false),
            ("::", false),
            ("fe80::1", false),
            ("fc00::1", false),
            ("fd12:3456::1", false),
            ("ff02::1", false),
            ("2001:2::1", false),
            ("::ffff:10.0.0.1", false),
            ("::ffff:203.0.113.7", true),
        ];
        for (addr, public) in table {
            assert_eq!(is_public(ip(addr)), public, "{addr}");
        }
    }

    #[test]
    fn skips_loopback_and_v6_link_local_keeps_others() {
        let found = [
            on("lo", "127.0.0.1"),
            on("lo", "::1"),
            on("eth0", "fe80::1"),
            on("eth0", "203.0.113.2"),
            on("eth1", "10.0.0.5"),
            on("eth0", "169.254.3.3"),
        ];
        let ips = classify(&found, &IpsConfig::default());
        let addrs: Vec<&str> = ips.iter().map(|i| i.address.as_str()).collect();
        assert_eq!(addrs, ["10.0.0.5", "169.254.3.3", "203.0.113.2"]);
        assert!(!ips[0].public && !ips[0].sends_mail);
        assert!(ips[2].public && ips[2].sends_mail && ips[2].interface == "eth0");
    }

    #[test]
    fn static_exclude_dedupe_and_order() {
        let config = IpsConfig {
            exclude: vec!["docker0".into(), "203.0.113.9".into()],
            static_addrs: vec![ip("2001:db8::5"), ip("198.51.100.7"), ip("203.0.113.2")],
            ..IpsConfig::default()
        };
        let found = [
            on("eth0", "203.0.113.9"),
            on("eth1", "203.0.113.2"),
            on("eth0", "203.0.113.2"),
            on("docker0", "172.17.0.1"),
        ];
        let ips = classify(&found, &config);
        let got: Vec<(&str, &str)> = ips.iter().map(|i| (i.address.as_str(), i.interface.as_str())).collect();
        assert_eq!(got, [("198.51.100.7", ""), ("203.0.113.2", "eth0"), ("2001:db8::5", "")]);
    }

    #[test]
    fn nat_and_default_sending() {
        let config = IpsConfig {
            nat: vec![NatRule { private: ip("10.0.0.5"), public: ip("203.0.113.5") }],
            ..IpsConfig::default()
        };
        let found = [on("eth0", "10.0.0.5"), on("eth1", "192.168.0.2")];
        let ips = classify(&found, &config);
        assert_eq!(ips[0].address, "10.0.0.5");
        assert_eq!(ips[0].nat_public_address, "203.0.113.5");
        assert!(!ips[0].public && ips[0].sends_mail);
        assert_eq!(ips[1].nat_public_address, "");
        assert!(!ips[1].sends_mail);
    }

    #[test]
    fn explicit_sending_list() {
        let config = IpsConfig {
            sending: vec![ip("203.0.113.5"), ip("198.51.100.1")],
            nat: vec![NatRule { private: ip("10.0.0.5"), public: ip("203.0.113.5") }],
            ..IpsConfig::default()
        };
        let found = [on("eth0", "10.0.0.5"), on("eth0", "198.51.100.1"), on("eth0", "198.51.100.2")];
        let sends: Vec<(String, bool)> =
            classify(&found, &config).into_iter().map(|i| (i.address, i.sends_mail)).collect();
        assert_eq!(
            sends,
            [("10.0.0.5".to_string(), true), ("198.51.100.1".to_string(), true), ("198.51.100.2".to_string(), false)]
        );
    }

    #[test]
    fn collector_runs_on_this_host() {
        let mut report = HostReport::default();
        IpsCollector::new(IpsConfig::default()).collect(&mut report).unwrap();
        assert!(report.ips.iter().all(|i| i.address != "127.0.0.1"));
    }
}
