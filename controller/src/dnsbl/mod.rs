//! DNS blocklist checks: the zone catalog (data), lookups, health and scheduling.
//!
//! The rules peers get wrong live here: three outcomes (listed, clean, error),
//! every A record decoded per zone, documented error codes and answers outside
//! 127.0.0.0/8 never shown as listings, keys never shown at all.

pub mod answer;
pub mod budget;
pub use crate::catalog;
pub mod engine;
pub mod health;
pub mod lookup;
pub mod state;
pub mod zone_server;

use std::fmt::Write;
use std::net::IpAddr;

/// The DNSBL label sequence for `ip`: reversed octets for IPv4
/// (`192.0.2.1` → `1.2.0.192`), reversed nibbles for IPv6 (as in ip6.arpa).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(63);
            for byte in v6.octets().iter().rev() {
                let _ = write!(name, "{:x}.{:x}.", byte & 0xf, byte >> 4);
            }
            name.pop();
            name
        }
    }
}

#[cfg(test)]
mod tests {
    use super::reverse_name;

    #[test]
    fn reverse_names() {
        assert_eq!(reverse_name("192.0.2.1".parse().unwrap_or(std::net::Ipv4Addr::LOCALHOST.into())), "1.2.0.192");
        let v6 = reverse_name("2001:db8::1".parse().unwrap_or(std::net::Ipv6Addr::LOCALHOST.into()));
        assert_eq!(v6, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2");
    }
}
