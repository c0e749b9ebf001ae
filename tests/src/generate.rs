//! Realistic `HostReport`s for a simulated fleet, deterministic from a seed.
//!
//! Used by the load generator (`rblfleet-loadgen`) and by tests that need
//! many hosts: the same seed gives the same hosts, and the same
//! `(host, epoch, seq, now_ms)` gives the same report, so a test can
//! regenerate what it sent and compare.
//!
//! ```
//! use rblfleet_tests::generate::Fleet;
//! let fleet = Fleet::new(42, 100);
//! let report = fleet.report(7, 1, 1, 1_767_225_600_000);
//! assert_eq!(report.host_id, fleet.host_id(7));
//! ```
//!
//! What a host looks like:
//! - 1–4 IPv4 addresses from 198.18.0.0/15 (RFC 2544 benchmark range: 131,072
//!   addresses, unique across a fleet of up to ~50,000 hosts; the three
//!   /24 documentation ranges would collide after 762) and, on a third of
//!   the hosts, one IPv6 address in 2001:db8::/32. Every address is marked
//!   public and sending, so the controller checks each one.
//! - Postfix (most), qmail or MailEnable, with the queues that MTA has.
//! - A few mailboxes, system users, PHP scripts and sender addresses whose
//!   counts vary per report around a per-host volume.
//! - About 5% of hosts are "listed": their reports carry blocklist bounces
//!   naming their own IPs and real zone names from the built-in catalog, or
//!   a receiver-side refusal (Microsoft S3140), and a suspicious source.

use std::net::{Ipv4Addr, Ipv6Addr};

use fastrand::Rng;
use rblfleet_controller::catalog::{Catalog, ZoneKind};
use rblfleet_proto::v1::{
    AgentInfo, AgentStatus, BlocklistEvidence, CollectorStatus, DeliveryTotals, HostIp, HostReport, MtaKind,
    NamedCount, QueueCount, QueueStats, ReceiverStats, SourceKind, SourceStats,
};

/// The period one report covers (the agent's default interval).
const PERIOD_MS: i64 = 60_000;
/// First address of 198.18.0.0/15.
const V4_BASE: u32 = u32::from_be_bytes([198, 18, 0, 0]);
const V4_SIZE: u32 = 1 << 17;

/// A simulated fleet: `len()` hosts with fixed identities and habits.
#[derive(Debug, Clone)]
pub struct Fleet {
    seed: u64,
    hosts: Vec<Host>,
    /// (provider id, zone name) of the catalog's IP blocklists without a key.
    zones: Vec<(String, String)>,
    /// Receiver ids of the catalog (microsoft, google, ...).
    receivers: Vec<String>,
}

/// One host's fixed traits.
#[derive(Debug, Clone)]
struct Host {
    id: String,
    mta: MtaKind,
    os: &'static str,
    plesk: &'static str,
    ips: Vec<HostIp>,
    domains: Vec<String>,
    /// Deliveries per report, on average.
    volume: u64,
    /// Reports blocklist bounces (a listed IP) and a suspicious source.
    listed: bool,
}

impl Fleet {
    /// A fleet of `hosts` hosts; the same seed always gives the same fleet.
    pub fn new(seed: u64, hosts: usize) -> Fleet {
        let catalog = Catalog::embedded().expect("the embedded zone catalog parses (checked by its own tests)");
        let zones = catalog
            .zones()
            .iter()
            .filter(|z| z.kind == ZoneKind::Ip && !z.needs_key)
            .map(|z| (provider_of(&z.id), z.bare_zone()))
            .collect();
        let receivers = catalog.receivers().iter().map(|r| r.id.clone()).collect();
        let mut next_v4 = 0u32;
        let hosts = (0..hosts).map(|i| Host::new(seed, i, &mut next_v4)).collect();
        Fleet { seed, hosts, zones, receivers }
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// The host id of host `index` (`host-00042.fleet.example`): also the
    /// identity its agent certificate must carry.
    ///
    /// Panics when `index >= len()`, like slice indexing.
    pub fn host_id(&self, index: usize) -> &str {
        &self.hosts[index].id
    }

    /// The addresses host `index` reports.
    pub fn ips(&self, index: usize) -> &[HostIp] {
        &self.hosts[index].ips
    }

    /// True when host `index` reports blocklist bounces.
    pub fn is_listed(&self, index: usize) -> bool {
        self.hosts[index].listed
    }

    /// The report host `index` sends as `(epoch, seq)` at `now_ms` (Unix ms),
    /// covering the minute before. Deterministic in all four arguments, and
    /// valid for a controller whose clock is near `now_ms`.
    pub fn report(&self, index: usize, epoch: u64, seq: u64, now_ms: i64) -> HostReport {
        let host = &self.hosts[index];
        let mut rng = Rng::with_seed(mix(&[self.seed, index as u64, epoch, seq, now_ms as u64]));
        let start = now_ms.saturating_sub(PERIOD_MS).max(1);
        let end = now_ms.max(start);
        let volume = scale(&mut rng, host.volume);
        let deferred = volume * rng.u64(0..=4) / 100;
        let bounced = volume * rng.u64(0..=2) / 100;
        let blocklist = if host.listed { self.evidence(&mut rng, host, start, end) } else { Vec::new() };
        let blocklisted = blocklist.iter().map(|e| e.count).sum();
        HostReport {
            host_id: host.id.clone(),
            epoch,
            seq,
            period_start_ms: start,
            period_end_ms: end,
            agent: Some(AgentInfo {
                version: "0.1.0".into(),
                os: host.os.into(),
                mta: host.mta as i32,
                plesk_version: host.plesk.into(),
                hostname: host.id.clone(),
            }),
            ips: host.ips.clone(),
            queue: Some(queue(&mut rng, host)),
            deliveries: Some(DeliveryTotals { sent: volume, deferred, bounced, blocklisted }),
            sources: sources(&mut rng, host, volume, blocklisted, start, end),
            receivers: self.receiver_stats(&mut rng, host, volume, blocklisted),
            blocklist,
            status: Some(status(&mut rng, host)),
            domains: None,
            sender_domains: Vec::new(),
            action_results: Vec::new(),
        }
    }

    fn evidence(&self, rng: &mut Rng, host: &Host, start: i64, end: i64) -> Vec<BlocklistEvidence> {
        let v4: Vec<&str> = host.ips.iter().map(|ip| ip.address.as_str()).filter(|a| !a.contains(':')).collect();
        (0..rng.usize(1..=3))
            .map(|_| {
                let ip = v4[rng.usize(..v4.len())].to_string();
                let count = rng.u64(1..=40);
                let first = rng.i64(start..=end);
                let (provider, zone, code, sample) = if self.zones.is_empty() || rng.u8(0..4) == 0 {
                    let sample = format!(
                        "550 5.7.1 Unfortunately, messages from [{ip}] weren't sent. Please contact your Internet \
                         service provider since part of their network is on our block list (S3140)."
                    );
                    ("microsoft".to_string(), String::new(), "S3140".to_string(), sample)
                } else {
                    let (provider, zone) = &self.zones[rng.usize(..self.zones.len())];
                    let sample = format!("554 5.7.1 Service unavailable; Client host [{ip}] blocked using {zone}");
                    (provider.clone(), zone.clone(), String::new(), sample)
                };
                BlocklistEvidence {
                    provider,
                    zone,
                    code,
                    ip,
                    family: "ip".into(),
                    count,
                    first_seen_ms: first,
                    last_seen_ms: rng.i64(first..=end),
                    sample,
                    temporary: false,
                    domain: String::new(),
                }
            })
            .collect()
    }

    fn receiver_stats(&self, rng: &mut Rng, host: &Host, volume: u64, blocklisted: u64) -> Vec<ReceiverStats> {
        if self.receivers.is_empty() {
            return Vec::new();
        }
        let n = rng.usize(1..=4.min(self.receivers.len()));
        let first = rng.usize(..self.receivers.len());
        (0..n)
            .map(|k| {
                let provider = self.receivers[(first + k) % self.receivers.len()].clone();
                let blocked = if k == 0 { blocklisted } else { 0 };
                ReceiverStats {
                    ip: if rng.bool() { host.ips[0].address.clone() } else { String::new() },
                    sent: volume / (k as u64 + 2),
                    deferred: rng.u64(0..=3),
                    bounced: rng.u64(0..=1),
                    blocklisted: blocked,
                    provider,
                }
            })
            .collect()
    }
}

impl Host {
    fn new(seed: u64, index: usize, next_v4: &mut u32) -> Host {
        let mut rng = Rng::with_seed(mix(&[seed, index as u64, u64::MAX]));
        let (mta, os) = match rng.u8(0..20) {
            0..=14 => {
                (MtaKind::Postfix, ["linux debian 12", "linux ubuntu 22.04", "linux almalinux 9"][rng.usize(..3)])
            }
            15..=17 => (MtaKind::Qmail, "linux centos 7"),
            _ => (MtaKind::Mailenable, "windows server 2019"),
        };
        let mut ips: Vec<HostIp> = (0..rng.usize(1..=4))
            .map(|k| {
                let address = Ipv4Addr::from(V4_BASE + (*next_v4 % V4_SIZE));
                *next_v4 = next_v4.wrapping_add(1);
                ip(address.to_string(), k)
            })
            .collect();
        if rng.u8(0..3) == 0 {
            let index = index as u64;
            let v6 = Ipv6Addr::new(0x2001, 0xdb8, (index >> 16) as u16, index as u16, 0, 0, 0, 1);
            ips.push(ip(v6.to_string(), 0));
        }
        let domains = (0..rng.usize(1..=6)).map(|d| format!("site{d}-{index}.example")).collect();
        Host {
            id: format!("host-{index:05}.fleet.example"),
            mta,
            os,
            plesk: ["18.0.61", "18.0.62", "18.0.63", "18.0.64"][rng.usize(..4)],
            ips,
            domains,
            volume: [5, 20, 60, 200, 800][rng.usize(..5)],
            listed: rng.u8(0..20) == 0,
        }
    }
}

fn ip(address: String, k: usize) -> HostIp {
    HostIp {
        address,
        interface: if k == 0 { "eth0".into() } else { format!("eth0:{k}") },
        public: true,
        sends_mail: true,
        nat_public_address: String::new(),
    }
}

fn queue(rng: &mut Rng, host: &Host) -> QueueStats {
    let names: &[&str] = match host.mta {
        MtaKind::Qmail => &["local", "remote", "todo"],
        MtaKind::Mailenable => &["outgoing", "retry"],
        _ => &["active", "deferred", "hold", "incoming", "maildrop"],
    };
    let counts: Vec<QueueCount> =
        names.iter().map(|q| QueueCount { queue: (*q).into(), messages: rng.u64(0..=host.volume / 4) }).collect();
    let total = counts.iter().map(|c| c.messages).sum();
    let top_senders = host
        .domains
        .iter()
        .take(rng.usize(0..=3))
        .map(|d| NamedCount { name: format!("info@{d}"), count: rng.u64(1..=20) })
        .collect();
    let reasons = ["Connection timed out", "Greylisted, please try again later", "Mailbox full"];
    let top_deferral_reasons = reasons
        .iter()
        .take(if total > 0 { rng.usize(0..=3) } else { 0 })
        .map(|r| NamedCount { name: (*r).into(), count: rng.u64(1..=10) })
        .collect();
    QueueStats {
        counts,
        total,
        oldest_age_secs: if total > 0 { rng.u64(1..=86_400) } else { 0 },
        top_senders,
        top_deferral_reasons,
    }
}

fn sources(rng: &mut Rng, host: &Host, volume: u64, blocklisted: u64, start: i64, end: i64) -> Vec<SourceStats> {
    let n = rng.usize(2..=12);
    let mut out: Vec<SourceStats> = (0..n)
        .map(|k| {
            let domain = &host.domains[k % host.domains.len()];
            let uid = 10_000 + (k % host.domains.len()) as u32;
            let (kind, id, uid, scripts) = match k % 4 {
                0 => (SourceKind::SaslUser, format!("user{k}@{domain}"), None, Vec::new()),
                1 => (SourceKind::LocalUser, format!("{uid}"), Some(uid), Vec::new()),
                2 => {
                    let script = format!("/var/www/vhosts/{domain}/httpdocs/contact.php");
                    (SourceKind::Script, script.clone(), Some(uid), vec![script])
                }
                _ => (SourceKind::Sender, format!("noreply@{domain}"), None, Vec::new()),
            };
            let messages = volume / (k as u64 + 2) + rng.u64(0..=3);
            let first = rng.i64(start..=end);
            SourceStats {
                kind: kind as i32,
                id,
                uid,
                subscription: domain.clone(),
                messages,
                recipients: messages + rng.u64(0..=messages / 2 + 1),
                recipient_domains: rng.u64(1..=messages.max(1)),
                sent: messages,
                deferred: rng.u64(0..=messages / 20 + 1),
                bounced: rng.u64(0..=1),
                blocklisted: 0,
                client_ips: if kind == SourceKind::SaslUser { rng.u64(1..=3) } else { 0 },
                scripts,
                first_seen_ms: first,
                last_seen_ms: rng.i64(first..=end),
                suspicion: 0.5,
                reasons: Vec::new(),
            }
        })
        .collect();
    if host.listed {
        // The hijacked mailbox the blocklist bounces point at, most suspicious first.
        let suspect = &mut out[0];
        suspect.blocklisted = blocklisted;
        suspect.client_ips = rng.u64(20..=200);
        suspect.suspicion = 40.0 + f64::from(rng.u8(0..50));
        suspect.reasons = vec![
            "some of its deliveries were refused by blocklists".into(),
            format!("logged in from {} IPs", suspect.client_ips),
        ];
    }
    out
}

fn status(rng: &mut Rng, host: &Host) -> AgentStatus {
    let collectors = ["log", "queue", "ips"]
        .iter()
        .map(|name| CollectorStatus { name: (*name).into(), ok: true, error: String::new() })
        .collect();
    let program = if host.mta == MtaKind::Postfix { "postfix/smtp" } else { "other" };
    let unparsed_lines =
        if rng.u8(0..10) == 0 { vec![NamedCount { name: program.into(), count: rng.u64(1..=5) }] } else { Vec::new() };
    AgentStatus { outbox_dropped: 0, outbox_backlog: 0, collectors, unparsed_lines, ..AgentStatus::default() }
}

/// `base` scaled by a factor in [0.5, 1.5): reports of one host vary.
fn scale(rng: &mut Rng, base: u64) -> u64 {
    base * rng.u64(50..150) / 100
}

/// The provider id of a catalog zone id ("spamhaus-zen" → "spamhaus"), as
/// the agent's bounce taxonomy names the operator.
fn provider_of(zone_id: &str) -> String {
    zone_id.split('-').next().unwrap_or(zone_id).to_string()
}

/// Folds values into one seed (splitmix64 steps), so nearby arguments give
/// unrelated streams.
fn mix(values: &[u64]) -> u64 {
    values.iter().fold(0x9e37_79b9_7f4a_7c15, |acc, v| {
        let mut z = acc ^ v.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rblfleet_controller::ingest::validate::{Limits, validate};
    use std::collections::HashSet;

    const NOW: i64 = 1_767_225_600_000;

    #[test]
    fn every_report_passes_the_controllers_validation() {
        let fleet = Fleet::new(7, 400);
        for i in 0..fleet.len() {
            for seq in 1..=3 {
                let report = fleet.report(i, 9, seq, NOW + seq as i64 * PERIOD_MS);
                if let Err(e) = validate(&report, NOW + 4 * PERIOD_MS, &Limits::default()) {
                    panic!("host {i} seq {seq}: {e}\n{report:?}");
                }
            }
        }
    }

    #[test]
    fn same_seed_same_fleet_and_reports_other_seed_other_reports() {
        let (a, b, c) = (Fleet::new(1, 50), Fleet::new(1, 50), Fleet::new(2, 50));
        for i in 0..50 {
            assert_eq!(a.report(i, 3, 4, NOW), b.report(i, 3, 4, NOW));
        }
        let differ = (0..50).filter(|&i| a.report(i, 3, 4, NOW) != c.report(i, 3, 4, NOW)).count();
        assert_eq!(differ, 50);
        assert_ne!(a.report(0, 3, 4, NOW), a.report(0, 3, 5, NOW), "seq changes the counts");
    }

    #[test]
    fn addresses_are_unique_and_listed_hosts_name_their_own_ips_and_catalog_zones() {
        let fleet = Fleet::new(11, 2000);
        let all: Vec<&str> = (0..fleet.len()).flat_map(|i| fleet.ips(i)).map(|ip| ip.address.as_str()).collect();
        assert_eq!(all.iter().collect::<HashSet<_>>().len(), all.len(), "duplicate addresses");
        assert!(all.iter().any(|a| a.contains(':')), "some hosts have IPv6");
        let listed: Vec<usize> = (0..fleet.len()).filter(|&i| fleet.is_listed(i)).collect();
        // About 5%: 100 expected of 2000; far outside 40..200 means the draw is broken.
        assert!((40..200).contains(&listed.len()), "{} listed hosts", listed.len());
        let catalog: HashSet<&str> = fleet.zones.iter().map(|(_, z)| z.as_str()).collect();
        assert!(catalog.contains("zen.spamhaus.org"), "{catalog:?}");
        let mut zoned = 0;
        for &i in &listed {
            let report = fleet.report(i, 1, 1, NOW);
            assert!(!report.blocklist.is_empty());
            let own: HashSet<&str> = fleet.ips(i).iter().map(|ip| ip.address.as_str()).collect();
            for e in &report.blocklist {
                assert!(own.contains(e.ip.as_str()), "{} is not an IP of host {i}", e.ip);
                assert!(e.zone.is_empty() || catalog.contains(e.zone.as_str()), "{}", e.zone);
                zoned += usize::from(!e.zone.is_empty());
            }
            assert_eq!(report.deliveries.unwrap().blocklisted, report.blocklist.iter().map(|e| e.count).sum::<u64>());
        }
        assert!(zoned > 0, "no evidence named a DNS zone");
        let clean = (0..fleet.len()).find(|&i| !fleet.is_listed(i)).unwrap();
        assert!(fleet.report(clean, 1, 1, NOW).blocklist.is_empty());
    }
}
