//! One DNSBL lookup: (IP, zone) → listed, clean, error or skipped.
//!
//! The rules: NXDOMAIN (or NOERROR without an A record) is clean; A records
//! are decoded by the zone (every record kept), and a listing fetches the TXT
//! at the same name; a timeout, SERVFAIL, REFUSED, an answer outside
//! 127.0.0.0/8 or a documented error code is an error — never clean, never
//! listed. The resolver's cache is off: a delisting must be seen when it
//! happens, not when a TTL runs out.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::catalog::{Decoded, Zone};

/// The status of one (IP, zone) check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Listed,
    Clean,
    Error,
    /// Not asked: the zone does not cover this address family or lacks its key.
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Listed => "listed",
            Status::Clean => "clean",
            Status::Error => "error",
            Status::Skipped => "skipped",
        }
    }
}

/// The result of one check, in the shape `rblfleet check --format json` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Outcome {
    pub ip: IpAddr,
    /// The zone as shown to people: any key redacted.
    pub zone: String,
    pub zone_id: String,
    pub status: Status,
    /// Every A record of the answer, as text.
    pub codes: Vec<String>,
    /// What each code means for this zone.
    pub meanings: Vec<String>,
    pub txt: Option<String>,
    pub error: Option<String>,
    /// Why a check was skipped.
    pub reason: Option<String>,
}

/// How lookups reach DNS.
#[derive(Debug, Clone)]
pub struct ResolverSettings {
    /// Nameservers to ask; empty means the system's (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// Retries after the first attempt.
    pub retries: usize,
}

impl Default for ResolverSettings {
    fn default() -> Self {
        ResolverSettings { nameservers: Vec::new(), timeout: Duration::from_secs(3), retries: 1 }
    }
}

/// Why a resolver could not be built.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error("cannot read the system resolver configuration: {0} (give nameservers explicitly)")]
    SystemConfig(String),
    #[error("cannot build the DNS resolver: {0}")]
    Build(String),
}

/// Performs DNSBL lookups. Cheap to clone; clones share connections.
#[derive(Clone)]
pub struct Lookups {
    resolver: TokioResolver,
    nameservers: Vec<SocketAddr>,
    settings: ResolverSettings,
}

impl std::fmt::Debug for Lookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookups").field("nameservers", &self.nameservers).finish_non_exhaustive()
    }
}

impl Lookups {
    pub fn new(settings: &ResolverSettings) -> Result<Lookups, LookupError> {
        let mut builder = if settings.nameservers.is_empty() {
            TokioResolver::builder_tokio().map_err(|e| LookupError::SystemConfig(e.to_string()))?
        } else {
            let servers = settings
                .nameservers
                .iter()
                .map(|addr| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = addr.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = addr.port();
                    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                })
                .collect();
            TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
        };
        let options = builder.options_mut();
        options.cache_size = 0;
        options.timeout = settings.timeout;
        options.attempts = settings.retries;
        options.ndots = 0;
        // Each query is its own question; never fan one out to several servers.
        options.num_concurrent_reqs = 1;
        options.max_active_requests = 1024;
        let resolver = builder.build().map_err(|e| LookupError::Build(e.to_string()))?;
        let nameservers =
            if settings.nameservers.is_empty() { system_nameservers() } else { settings.nameservers.clone() };
        Ok(Lookups { resolver, nameservers, settings: settings.clone() })
    }

    /// The nameservers in use (the system's, when none were given).
    pub fn nameservers(&self) -> &[SocketAddr] {
        &self.nameservers
    }

    /// Checks one IP against one zone.
    pub async fn check(&self, zone: &Zone, ip: IpAddr) -> Outcome {
        self.lookup(zone, ip, true).await
    }

    /// Checks a test point: like `check`, without fetching the TXT of a
    /// listing (a probe only needs the verdict; the TXT would cost budget).
    pub async fn probe(&self, zone: &Zone, ip: IpAddr) -> Outcome {
        self.lookup(zone, ip, false).await
    }

    async fn lookup(&self, zone: &Zone, ip: IpAddr, fetch_txt: bool) -> Outcome {
        let mut outcome = Outcome {
            ip,
            zone: zone.display_zone(),
            zone_id: zone.id.clone(),
            status: Status::Skipped,
            codes: Vec::new(),
            meanings: Vec::new(),
            txt: None,
            error: None,
            reason: None,
        };
        let Some(name) = zone.query_name(ip) else {
            outcome.reason = Some(if ip.is_ipv6() && !zone.ipv6 {
                "the zone does not list IPv6 addresses".into()
            } else if ip.is_ipv4() && !zone.ipv4 {
                "the zone does not list IPv4 addresses".into()
            } else {
                "the zone needs a key (set dnsbl.catalog.zone.<id>.key)".into()
            });
            return outcome;
        };
        let fqdn = format!("{name}.");
        match self.resolver.lookup(fqdn.as_str(), RecordType::A).await {
            Ok(lookup) => {
                let answers: Vec<_> = lookup
                    .answers()
                    .iter()
                    .filter_map(|r| match &r.data {
                        RData::A(a) => Some(a.0),
                        _ => None,
                    })
                    .collect();
                if answers.is_empty() {
                    outcome.status = Status::Clean;
                    return outcome;
                }
                outcome.codes = answers.iter().map(ToString::to_string).collect();
                match zone.decode(&answers) {
                    Decoded::Listed { meanings, .. } => {
                        outcome.status = Status::Listed;
                        outcome.meanings = meanings;
                        if zone.txt && fetch_txt {
                            outcome.txt = self.txt(&fqdn).await.map(|t| zone.redact(&t));
                        }
                    }
                    Decoded::NotListed { meanings, .. } => {
                        outcome.status = Status::Clean;
                        outcome.meanings = meanings;
                    }
                    Decoded::Error { meaning, .. } => {
                        outcome.status = Status::Error;
                        outcome.error = Some(meaning);
                    }
                }
            }
            Err(e) if is_clean(&e) => outcome.status = Status::Clean,
            Err(e) => {
                outcome.status = Status::Error;
                outcome.error = Some(zone.redact(&self.describe(&e)));
            }
        }
        outcome
    }

    /// Checks every (zone, IP) pair with at most `concurrency` lookups in flight.
    /// Outcomes come back in the order of `pairs`.
    pub async fn check_all(&self, pairs: Vec<(Arc<Zone>, IpAddr)>, concurrency: usize) -> Vec<Outcome> {
        let limit = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut tasks = JoinSet::new();
        for (index, (zone, ip)) in pairs.into_iter().enumerate() {
            let lookups = self.clone();
            let limit = limit.clone();
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                (index, lookups.check(&zone, ip).await)
            });
        }
        let mut outcomes = Vec::with_capacity(tasks.len());
        while let Some(done) = tasks.join_next().await {
            if let Ok(pair) = done {
                outcomes.push(pair);
            }
        }
        outcomes.sort_by_key(|(index, _)| *index);
        outcomes.into_iter().map(|(_, outcome)| outcome).collect()
    }

    /// The TXT at `fqdn`, strings joined; None when absent or failing (a
    /// listing stands without its explanation).
    async fn txt(&self, fqdn: &str) -> Option<String> {
        let lookup = self.resolver.lookup(fqdn, RecordType::TXT).await.ok()?;
        let texts: Vec<String> = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::TXT(txt) => Some(txt.to_string()),
                _ => None,
            })
            .collect();
        (!texts.is_empty()).then(|| texts.join(" "))
    }

    fn describe(&self, error: &NetError) -> String {
        match error {
            NetError::Timeout => format!(
                "timed out: no answer within {} ({} attempt{})",
                humantime::format_duration(self.settings.timeout),
                self.settings.retries + 1,
                if self.settings.retries == 0 { "" } else { "s" }
            ),
            NetError::Dns(DnsError::ResponseCode(ResponseCode::ServFail)) => {
                "SERVFAIL: the resolver could not get an answer from the zone's servers".into()
            }
            NetError::Dns(DnsError::ResponseCode(ResponseCode::Refused)) => {
                "REFUSED: the resolver or the zone refused the query".into()
            }
            NetError::Dns(DnsError::ResponseCode(code)) => format!("DNS error {code}"),
            other => other.to_string(),
        }
    }
}

/// NXDOMAIN, or NOERROR with no records: the IP is not listed.
fn is_clean(error: &NetError) -> bool {
    match error {
        NetError::Dns(DnsError::NoRecordsFound(no)) => {
            matches!(no.response_code, ResponseCode::NXDomain | ResponseCode::NoError)
        }
        _ => false,
    }
}

/// The nameservers of the system configuration, as hickory reads it (hickory
/// does not expose the pool it built from it).
fn system_nameservers() -> Vec<SocketAddr> {
    hickory_resolver::system_conf::read_system_conf()
        .map(|(config, _)| {
            config
                .name_servers()
                .iter()
                .map(|ns| SocketAddr::new(ns.ip, ns.connections.first().map_or(53, |c| c.port)))
                .collect()
        })
        .unwrap_or_default()
}

/// A nameserver as "IP", "IP:PORT" or "[IPv6]:PORT" (port 53 by default).
pub fn parse_nameserver(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>()
        .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| format!("{text:?} is not an address (IP or IP:PORT; [v6]:PORT for IPv6)"))
}

/// Well-known public resolvers, which Spamhaus and others refuse to answer
/// (they answer an error code instead of the listing).
const PUBLIC_RESOLVERS: &[&str] = &[
    "8.8.8.8",
    "8.8.4.4",
    "1.1.1.1",
    "1.0.0.1",
    "9.9.9.9",
    "149.112.112.112",
    "208.67.222.222",
    "208.67.220.220",
    "64.6.64.6",
    "64.6.65.6",
    "94.140.14.14",
    "94.140.15.15",
    "76.76.2.0",
    "76.76.10.0",
    "185.228.168.9",
    "2001:4860:4860::8888",
    "2001:4860:4860::8844",
    "2606:4700:4700::1111",
    "2606:4700:4700::1001",
    "2620:fe::fe",
    "2620:fe::9",
    "2620:119:35::35",
    "2620:119:53::53",
];

/// One warning per public resolver in use when a selected zone refuses them.
pub fn public_resolver_warnings(nameservers: &[SocketAddr], zones: &[&Zone]) -> Vec<String> {
    let refusing: Vec<&str> = zones.iter().filter(|z| z.blocks_public_resolvers).map(|z| z.id.as_str()).collect();
    if refusing.is_empty() {
        return Vec::new();
    }
    nameservers
        .iter()
        .filter(|ns| PUBLIC_RESOLVERS.iter().any(|p| p.parse::<IpAddr>().is_ok_and(|ip| ip == ns.ip())))
        .map(|ns| {
            format!(
                "nameserver {} is a public resolver; {} refuse queries from public resolvers and will answer with error codes \
                 (run a local recursive resolver, or use a DQS key)",
                ns.ip(),
                refusing.join(", ")
            )
        })
        .collect()
}
