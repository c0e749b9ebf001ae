//! One DNSBL lookup: (IP or domain, zone) → listed, clean, error or skipped.
//!
//! The rules: NXDOMAIN (or NOERROR without an A record) is clean; A records
//! are decoded by the zone (every record kept), and a listing fetches the TXT
//! at the same name; a timeout, SERVFAIL, REFUSED, an answer outside
//! 127.0.0.0/8 or a documented error code is an error — never clean, never
//! listed. There is no cache: a delisting must be seen when it happens, not
//! when a TTL runs out. Queries go through hickory's name-server pool (UDP,
//! TCP after TC, retries) but the answer is read by [`answer`], which sees
//! the whole message: the resolver layer above the pool drops records for
//! other names, and that would read as "clean".

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::xfer::{DnsHandle, FirstAnswer, RetryDnsHandle};
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::{DnsRequestOptions, Message, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, RecordType};
use hickory_resolver::{NameServerPool, PoolContext, TlsConfig};
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::answer;
use crate::catalog::{Decoded, Target, Zone, ZoneKind};

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
    /// `"ip": …` or `"domain": …` in JSON.
    #[serde(flatten)]
    pub target: Target,
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

impl Outcome {
    /// The error outcome of a lookup task that did not finish (it panicked or
    /// was cancelled); logged, since it is a bug, and counted like any error.
    pub fn failed(zone: &Zone, target: Target, error: &tokio::task::JoinError) -> Outcome {
        let what = if error.is_panic() { "panicked" } else { "was cancelled" };
        tracing::error!(zone = %zone.display_zone(), %target, "a blocklist lookup {what}");
        Outcome {
            target,
            zone: zone.display_zone(),
            zone_id: zone.id.clone(),
            status: Status::Error,
            codes: Vec::new(),
            meanings: Vec::new(),
            txt: None,
            error: Some(format!("internal error: the lookup {what} (a bug; the log has the details)")),
            reason: None,
        }
    }
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

/// The longest wait for one answer, and the most retries, a lookup accepts.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(300);
pub const MAX_RETRIES: usize = 10;

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
    handle: RetryDnsHandle<NameServerPool<TokioRuntimeProvider>>,
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
        let servers: Vec<NameServerConfig> = if settings.nameservers.is_empty() {
            let (config, _) = hickory_resolver::system_conf::read_system_conf()
                .map_err(|e| LookupError::SystemConfig(e.to_string()))?;
            config.name_servers().to_vec()
        } else {
            settings
                .nameservers
                .iter()
                .map(|addr| {
                    let mut udp = ConnectionConfig::udp();
                    udp.port = addr.port();
                    let mut tcp = ConnectionConfig::tcp();
                    tcp.port = addr.port();
                    NameServerConfig::new(addr.ip(), true, vec![udp, tcp])
                })
                .collect()
        };
        if servers.is_empty() {
            return Err(LookupError::SystemConfig("it names no nameserver".into()));
        }
        let nameservers =
            servers.iter().map(|ns| SocketAddr::new(ns.ip, ns.connections.first().map_or(53, |c| c.port))).collect();
        let mut options = ResolverOpts::default();
        // hickory adds the timeout to an Instant, which panics on overflow:
        // the loaders bound it, and so does this library, for every caller.
        options.timeout = settings.timeout.clamp(Duration::from_millis(1), MAX_TIMEOUT);
        // Each query is its own question; never fan one out to several servers.
        options.num_concurrent_reqs = 1;
        options.max_active_requests = 1024;
        let tls = TlsConfig::new().map_err(|e| LookupError::Build(e.to_string()))?;
        let context = Arc::new(PoolContext::new(options, tls));
        let pool = NameServerPool::from_config(servers, context, TokioRuntimeProvider::default());
        let handle = RetryDnsHandle::new(pool, settings.retries.min(MAX_RETRIES));
        Ok(Lookups { handle, nameservers, settings: settings.clone() })
    }

    /// The nameservers in use (the system's, when none were given).
    pub fn nameservers(&self) -> &[SocketAddr] {
        &self.nameservers
    }

    /// Checks one IP or domain against one zone.
    pub async fn check(&self, zone: &Zone, target: &Target) -> Outcome {
        self.lookup(zone, target, true).await
    }

    /// Like `check`, without fetching a listing's TXT: the engine fetches
    /// it apart ([`Lookups::txt_of`]) once the zone's budget has room for
    /// that query too.
    pub async fn verdict(&self, zone: &Zone, target: &Target) -> Outcome {
        self.lookup(zone, target, false).await
    }

    /// The TXT of `target`'s listing on `zone`, redacted; None when the zone
    /// has none or the query fails.
    pub async fn txt_of(&self, zone: &Zone, target: &Target) -> Option<String> {
        let name = zone.query_name(target)?;
        let qname = Name::from_ascii(format!("{name}.")).ok()?;
        self.txt(&qname).await.map(|t| zone.redact(&t))
    }

    /// Checks a test point: like `check`, without fetching the TXT of a
    /// listing (a probe only needs the verdict; the TXT would cost budget).
    pub async fn probe(&self, zone: &Zone, target: &Target) -> Outcome {
        self.lookup(zone, target, false).await
    }

    async fn lookup(&self, zone: &Zone, target: &Target, fetch_txt: bool) -> Outcome {
        let mut outcome = Outcome {
            target: target.clone(),
            zone: zone.display_zone(),
            zone_id: zone.id.clone(),
            status: Status::Skipped,
            codes: Vec::new(),
            meanings: Vec::new(),
            txt: None,
            error: None,
            reason: None,
        };
        let Some(name) = zone.query_name(target) else {
            outcome.reason = Some(match target {
                Target::Domain(_) if zone.kind != ZoneKind::Domain => "the zone lists addresses, not domains".into(),
                Target::Ip(_) if zone.kind == ZoneKind::Domain => "the zone lists domains, not addresses".into(),
                Target::Ip(ip) if ip.is_ipv6() && !zone.ipv6 => "the zone does not list IPv6 addresses".into(),
                Target::Ip(ip) if ip.is_ipv4() && !zone.ipv4 => "the zone does not list IPv4 addresses".into(),
                _ => "the zone needs a key (set dnsbl.catalog.zone.<id>.key)".into(),
            });
            return outcome;
        };
        let answers = match Name::from_ascii(format!("{name}.")) {
            Err(e) => Err(format!("cannot form the query name: {e}")),
            Ok(qname) => match self.query(&qname, RecordType::A).await {
                Ok(message) => answer::a_records(&qname, &message).map(|codes| (qname, codes)),
                Err(e) if is_clean(&e) => Ok((qname, Vec::new())),
                Err(e) => Err(answer::describe(&e, self.settings.timeout, self.settings.retries + 1)),
            },
        };
        let (qname, answers) = match answers {
            Ok(pair) => pair,
            Err(error) => {
                outcome.status = Status::Error;
                outcome.error = Some(zone.redact(&error));
                return outcome;
            }
        };
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
                    outcome.txt = self.txt(&qname).await.map(|t| zone.redact(&t));
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
        outcome
    }

    /// One question to the pool: the whole answer message, or why there is none.
    async fn query(&self, qname: &Name, rtype: RecordType) -> Result<Message, NetError> {
        let mut options = DnsRequestOptions::default();
        options.recursion_desired = true;
        let response = self.handle.lookup(Query::query(qname.clone(), rtype), options).first_answer().await?;
        Ok(response.into_message())
    }

    /// Checks every (zone, IP) pair with at most `concurrency` lookups in flight.
    /// Outcomes come back in the order of `pairs`, one per pair: a lookup that
    /// panicked is an error outcome, not a missing row.
    pub async fn check_all(&self, pairs: Vec<(Arc<Zone>, Target)>, concurrency: usize) -> Vec<Outcome> {
        let limit = Arc::new(Semaphore::new(concurrency.clamp(1, Semaphore::MAX_PERMITS)));
        let mut tasks = JoinSet::new();
        let mut started = HashMap::new();
        for (index, (zone, target)) in pairs.into_iter().enumerate() {
            let lookups = self.clone();
            let limit = limit.clone();
            let task_zone = zone.clone();
            let task_target = target.clone();
            let handle = tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                (index, lookups.check(&task_zone, &task_target).await)
            });
            started.insert(handle.id(), (index, zone, target));
        }
        let mut outcomes = Vec::with_capacity(tasks.len());
        while let Some(done) = tasks.join_next_with_id().await {
            match done {
                Ok((_, pair)) => outcomes.push(pair),
                Err(error) => {
                    if let Some((index, zone, target)) = started.remove(&error.id()) {
                        outcomes.push((index, Outcome::failed(&zone, target, &error)));
                    }
                }
            }
        }
        outcomes.sort_by_key(|(index, _)| *index);
        outcomes.into_iter().map(|(_, outcome)| outcome).collect()
    }

    /// The TXT at `qname`, printable and bounded; None when absent or failing
    /// (a listing stands without its explanation).
    async fn txt(&self, qname: &Name) -> Option<String> {
        let message = self.query(qname, RecordType::TXT).await.ok()?;
        answer::txt_text(qname, &message)
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
