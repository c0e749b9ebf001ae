//! The aggregator: delivery totals, blocklist evidence and per-source
//! figures for one report period (or one `scan`).
//!
//! It knows no log format: the tracker hands it one [`Attempt`] per
//! delivery attempt, with the [`Origin`] of the message when the message's
//! earlier lines were seen. Every structure is bounded: at most
//! `max_sources` sources (the least suspicious half is dropped when full, so
//! a hijacked mailbox that starts late in a busy period still gets in), at
//! most `max_evidence` evidence groups, distinct counts capped per source.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use foldhash::fast::RandomState;
use rblfleet_proto::v1::{BlocklistEvidence, DeliveryTotals, NamedCount, ReceiverStats, SourceKind};

use super::distinct::{hash_ip, hash_lowercase};
use super::evidence::{EvidenceBook, is_evidence};
use super::passwd::UserMap;
use super::suspicion;
use crate::bounce::{Family, classify};
use crate::parse::DeliveryStatus;

mod ranked;

pub use ranked::RankedSource;
use ranked::SourceAcc;

/// Scripts listed per source at most.
pub const MAX_SCRIPTS: usize = 8;

/// Bounds of one aggregator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sources tracked at once.
    pub max_sources: usize,
    /// Blocklist evidence groups.
    pub max_evidence: usize,
    /// Distinct recipient domains / client IPs counted exactly per source.
    pub distinct_cap: usize,
    /// Envelope sender domains counted per period.
    pub max_sender_domains: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sources: 10_000,
            max_evidence: 500,
            distinct_cap: super::distinct::DEFAULT_CAP,
            max_sender_domains: 2_000,
        }
    }
}

/// One source: its kind, its id (login, uid, script, address) and, for
/// scripts, the uid that owns it (the same script name under two
/// subscriptions is two sources).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceKey {
    /// What kind of sender.
    pub kind: SourceKind,
    /// Login, uid (decimal), script path or envelope address.
    pub id: String,
    /// The local uid (local users and scripts).
    pub uid: Option<u32>,
}

/// Who sent one message, as far as its lines told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// Every source the message is attributed to.
    pub keys: Vec<SourceKey>,
    /// The SMTP client it came from.
    pub client_ip: Option<IpAddr>,
}

impl Origin {
    /// The envelope sender's domain, as logged; None for the null sender.
    pub fn sender_domain(&self) -> Option<&str> {
        let sender = self.keys.iter().find(|k| k.kind == SourceKind::Sender)?;
        domain_of(&sender.id)
    }

    /// The PHP script that submitted the message, listed on its other sources.
    pub fn script(&self) -> Option<&str> {
        self.keys.iter().find(|k| k.kind == SourceKind::Script).map(|k| k.id.as_str())
    }
}

/// The domain of an address as logged (after its last `@`), if not empty.
///
/// Runs twice on every delivery: `rsplit_once('@')` took about 225
/// instructions a call (std's reverse `char` search), memchr's a fraction.
/// `@` is ASCII, so the cut is a char boundary.
pub(crate) fn domain_of(address: &str) -> Option<&str> {
    let at = memchr::memrchr(b'@', address.as_bytes())?;
    address.get(at + 1..).filter(|d| !d.is_empty())
}

/// One delivery attempt to one recipient.
#[derive(Debug, Clone, Copy)]
pub struct Attempt<'a> {
    /// When (Unix ms).
    pub ts_ms: Option<i64>,
    /// The recipient; empty when the log does not say.
    pub to: &'a str,
    /// The MTA's verdict.
    pub status: DeliveryStatus,
    /// The remote reply or local reason.
    pub reply: &'a str,
    /// First outgoing attempt of its message (counts a message).
    pub new_message: bool,
    /// First attempt to this recipient within its message (counts a recipient).
    pub new_recipient: bool,
}

/// Totals, evidence and sources of one period; see the module documentation.
#[derive(Debug, Clone)]
pub struct Aggregator {
    limits: Limits,
    totals: DeliveryTotals,
    evidence: EvidenceBook,
    /// foldhash (seeded per process) instead of SipHash: each delivery looks
    /// its sources up, and SipHash was a tenth of an outbreak's tracking.
    sources: HashMap<SourceKey, SourceAcc, RandomState>,
    /// Deliveries per big receiver (by recipient domain).
    receivers: BTreeMap<&'static str, ReceiverStats>,
    /// Messages per envelope sender domain (lowercase, as logged).
    sender_domains: HashMap<String, u64, RandomState>,
    /// Messages whose sender domain was not counted (`max_sender_domains` reached).
    pub sender_domains_dropped: u64,
    /// Sources forgotten because `max_sources` was reached.
    pub sources_dropped: u64,
}

impl Aggregator {
    /// An empty aggregator.
    pub fn new(limits: Limits) -> Self {
        Aggregator {
            limits,
            totals: DeliveryTotals::default(),
            evidence: EvidenceBook::new(limits.max_evidence),
            sources: HashMap::default(),
            receivers: BTreeMap::new(),
            sender_domains: HashMap::default(),
            sender_domains_dropped: 0,
            sources_dropped: 0,
        }
    }

    /// Returns everything gathered so far and starts a new period.
    pub fn take(&mut self) -> Aggregator {
        std::mem::replace(self, Aggregator::new(self.limits))
    }

    /// Accounts one outgoing delivery attempt. The reply of an attempt that
    /// was not accepted is classified (never the MTA's `status=`: a 5xx
    /// greeting is logged as deferred); "blocklisted" means family `ip`.
    pub fn delivery(&mut self, a: &Attempt<'_>, origin: Option<&Origin>) {
        let blocklisted = match a.status {
            DeliveryStatus::Sent => {
                self.totals.sent += 1;
                false
            }
            DeliveryStatus::Deferred | DeliveryStatus::Bounced | DeliveryStatus::Expired => {
                if a.status == DeliveryStatus::Deferred {
                    self.totals.deferred += 1;
                } else {
                    self.totals.bounced += 1;
                }
                let c = classify(a.reply);
                if is_evidence(&c) {
                    self.evidence.record(&c, a.ts_ms, a.reply, origin.and_then(Origin::sender_domain));
                }
                let listed = c.family == Family::Ip;
                self.totals.blocklisted += u64::from(listed);
                listed
            }
        };
        let domain = domain_of(a.to);
        if let Some(provider) = domain.and_then(super::receivers::provider_of) {
            let r = self
                .receivers
                .entry(provider)
                .or_insert_with(|| ReceiverStats { provider: provider.to_string(), ..ReceiverStats::default() });
            match a.status {
                DeliveryStatus::Sent => r.sent += 1,
                DeliveryStatus::Deferred => r.deferred += 1,
                DeliveryStatus::Bounced | DeliveryStatus::Expired => r.bounced += 1,
            }
            r.blocklisted += u64::from(blocklisted);
        }
        let Some(origin) = origin else { return };
        if a.new_message
            && let Some(domain) = origin.sender_domain()
        {
            self.count_sender_domain(domain);
        }
        for key in &origin.keys {
            let Some(acc) = self.source(key) else { continue };
            acc.seen(a.ts_ms);
            match a.status {
                DeliveryStatus::Sent => acc.sent += 1,
                DeliveryStatus::Deferred => acc.deferred += 1,
                DeliveryStatus::Bounced | DeliveryStatus::Expired => acc.bounced += 1,
            }
            acc.blocklisted += u64::from(blocklisted);
            if a.new_message {
                acc.messages += 1;
                if key.kind == SourceKind::SaslUser
                    && let Some(ip) = origin.client_ip
                {
                    acc.ips.insert(hash_ip(ip));
                }
                if key.kind != SourceKind::Script
                    && let Some(script) = origin.script()
                    && acc.scripts.len() < MAX_SCRIPTS
                    && !acc.scripts.iter().any(|s| s == script)
                {
                    acc.scripts.push(script.to_string());
                }
            }
            if a.new_recipient {
                acc.recipients += 1;
                if let Some(domain) = domain {
                    acc.domains.insert(hash_lowercase(domain));
                }
            }
        }
    }

    /// One more outgoing message from `domain`; allocates only for a domain
    /// not seen yet this period (or logged with capitals).
    fn count_sender_domain(&mut self, domain: &str) {
        if !domain.bytes().any(|b| b.is_ascii_uppercase())
            && let Some(n) = self.sender_domains.get_mut(domain)
        {
            *n += 1;
            return;
        }
        let lower = domain.to_ascii_lowercase();
        if let Some(n) = self.sender_domains.get_mut(&lower) {
            *n += 1;
        } else if self.sender_domains.len() < self.limits.max_sender_domains {
            self.sender_domains.insert(lower, 1);
        } else {
            self.sender_domains_dropped += 1;
        }
    }

    /// Messages per envelope sender domain in wire form (lowercase ASCII,
    /// punycode), most first, at most `top`; addresses whose domain part is
    /// not a domain name are left out.
    pub fn sender_domains(&self, top: usize) -> Vec<NamedCount> {
        let mut merged: HashMap<String, u64> = HashMap::new();
        for (logged, n) in &self.sender_domains {
            let wire = super::evidence::wire_domain(logged);
            if !wire.is_empty() {
                *merged.entry(wire).or_default() += n;
            }
        }
        let mut all: Vec<NamedCount> = merged.into_iter().map(|(name, count)| NamedCount { name, count }).collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        all.truncate(top);
        all
    }

    /// A successful SMTP login that no message line ties to a message
    /// (qmail's `smtp_auth`): it still counts the user's client IPs.
    pub fn login(&mut self, ts_ms: Option<i64>, user: &str, client_ip: Option<IpAddr>) {
        let key = SourceKey { kind: SourceKind::SaslUser, id: user.to_string(), uid: None };
        if let Some(acc) = self.source(&key) {
            acc.seen(ts_ms);
            if let Some(ip) = client_ip {
                acc.ips.insert(hash_ip(ip));
            }
        }
    }

    /// A message refused by Plesk's outgoing-mail limit, charged to `keys`.
    pub fn limit_hit(&mut self, ts_ms: Option<i64>, keys: &[SourceKey]) {
        for key in keys {
            if let Some(acc) = self.source(key) {
                acc.seen(ts_ms);
                acc.limit_hits += 1;
            }
        }
    }

    /// The source's accumulator, created if there is room (made by dropping
    /// the less suspicious half when full).
    fn source(&mut self, key: &SourceKey) -> Option<&mut SourceAcc> {
        if !self.sources.contains_key(key) {
            if self.sources.len() >= self.limits.max_sources {
                self.prune();
            }
            self.sources.insert(key.clone(), SourceAcc::new(self.limits.distinct_cap));
        }
        self.sources.get_mut(key)
    }

    /// Keeps the more suspicious half of the sources (ties: more messages).
    fn prune(&mut self) {
        let mut scored: Vec<(f64, u64, SourceKey)> = self
            .sources
            .iter()
            .map(|(k, acc)| (suspicion::score(&acc.figures()).score, acc.messages, k.clone()))
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        let keep = self.limits.max_sources / 2;
        for (_, _, key) in scored.into_iter().skip(keep) {
            self.sources.remove(&key);
            self.sources_dropped += 1;
        }
    }

    /// Delivery attempts so far.
    pub fn totals(&self) -> DeliveryTotals {
        self.totals
    }

    /// Deliveries per big receiver in this period (the host's own IP: `ip` empty).
    pub fn receivers(&self) -> Vec<ReceiverStats> {
        self.receivers.values().cloned().collect()
    }

    /// Evidence groups, most frequent first, at most `max`.
    pub fn evidence(&self, max: usize) -> Vec<BlocklistEvidence> {
        let mut all = self.evidence.sorted();
        all.truncate(max);
        all
    }

    /// Refusals not grouped because the evidence book was full.
    pub fn evidence_dropped(&self) -> u64 {
        self.evidence.dropped
    }

    /// Sources currently tracked.
    pub fn source_count(&self) -> usize {
        self.sources.len()
    }

    /// The `top` most suspicious sources, most suspicious first (ties: more
    /// deliveries, then kind and id), with subscriptions from `users`.
    pub fn ranked(&self, users: &UserMap, top: usize) -> Vec<RankedSource> {
        ranked::rank(&self.sources, users, top)
    }
}

#[cfg(test)]
mod tests;
