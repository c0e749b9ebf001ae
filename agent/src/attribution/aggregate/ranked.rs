//! One source's figures while a period runs ([`SourceAcc`]) and once
//! scored and ranked for the report ([`RankedSource`]).

use std::collections::HashMap;

use rblfleet_proto::v1::{SourceKind, SourceStats};

use super::SourceKey;
use crate::attribution::distinct::Distinct;
use crate::attribution::passwd::UserMap;
use crate::attribution::printable;
use crate::attribution::suspicion::{self, Figures, Suspicion};

#[derive(Debug, Clone, Default)]
pub(super) struct SourceAcc {
    pub(super) messages: u64,
    pub(super) recipients: u64,
    pub(super) domains: Distinct,
    pub(super) sent: u64,
    pub(super) deferred: u64,
    pub(super) bounced: u64,
    pub(super) blocklisted: u64,
    pub(super) limit_hits: u64,
    pub(super) ips: Distinct,
    pub(super) scripts: Vec<String>,
    pub(super) first_ms: i64,
    pub(super) last_ms: i64,
}

impl SourceAcc {
    pub(super) fn new(cap: usize) -> Self {
        SourceAcc { domains: Distinct::with_cap(cap), ips: Distinct::with_cap(cap), ..SourceAcc::default() }
    }

    pub(super) fn seen(&mut self, ts_ms: Option<i64>) {
        if let Some(ts) = ts_ms.filter(|&t| t > 0) {
            if self.first_ms == 0 || ts < self.first_ms {
                self.first_ms = ts;
            }
            self.last_ms = self.last_ms.max(ts);
        }
    }

    pub(super) fn figures(&self) -> Figures {
        Figures {
            messages: self.messages,
            recipients: self.recipients,
            recipient_domains: self.domains.count(),
            domains_capped: self.domains.saturated(),
            sent: self.sent,
            deferred: self.deferred,
            bounced: self.bounced,
            blocklisted: self.blocklisted,
            client_ips: self.ips.count(),
            ips_capped: self.ips.saturated(),
            limit_hits: self.limit_hits,
            first_seen_ms: self.first_ms,
            last_seen_ms: self.last_ms,
        }
    }
}

/// A source with its figures and score, ready to report.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedSource {
    /// Which source.
    pub key: SourceKey,
    /// The Plesk subscription, when known.
    pub subscription: Option<String>,
    /// Its counters.
    pub figures: Figures,
    /// PHP scripts seen sending as this source.
    pub scripts: Vec<String>,
    /// Its score and reasons.
    pub suspicion: Suspicion,
}

impl RankedSource {
    /// The wire form, every text made printable and cut to the controller's
    /// limits (id 512 bytes, subscription 253, scripts 1024).
    pub fn to_proto(&self) -> SourceStats {
        let f = &self.figures;
        let id = printable(&self.key.id, 512);
        SourceStats {
            kind: self.key.kind as i32,
            id: if id.is_empty() { "?".to_string() } else { id },
            uid: self.key.uid,
            subscription: self.subscription.as_deref().map(|s| printable(s, 253)).unwrap_or_default(),
            messages: f.messages,
            recipients: f.recipients,
            recipient_domains: f.recipient_domains,
            sent: f.sent,
            deferred: f.deferred,
            bounced: f.bounced,
            blocklisted: f.blocklisted,
            client_ips: f.client_ips,
            scripts: self.scripts.iter().map(|s| printable(s, 1024)).filter(|s| !s.is_empty()).collect(),
            first_seen_ms: f.first_seen_ms,
            last_seen_ms: f.last_seen_ms,
            suspicion: self.suspicion.score,
            reasons: self.suspicion.reasons.clone(),
        }
    }
}

/// The `top` most suspicious of `sources`; see [`super::Aggregator::ranked`].
pub(super) fn rank(
    sources: &HashMap<SourceKey, SourceAcc, impl std::hash::BuildHasher>,
    users: &UserMap,
    top: usize,
) -> Vec<RankedSource> {
    let mut all: Vec<RankedSource> = sources
        .iter()
        .map(|(key, acc)| {
            let figures = acc.figures();
            RankedSource {
                key: key.clone(),
                subscription: subscription(key, users),
                figures,
                scripts: acc.scripts.clone(),
                suspicion: suspicion::score(&figures),
            }
        })
        .collect();
    all.sort_by(|a, b| {
        let volume = |s: &RankedSource| s.figures.sent + s.figures.deferred + s.figures.bounced;
        b.suspicion
            .score
            .total_cmp(&a.suspicion.score)
            .then_with(|| volume(b).cmp(&volume(a)))
            .then_with(|| a.key.kind.cmp(&b.key.kind))
            .then_with(|| a.key.id.cmp(&b.key.id))
            .then_with(|| a.key.uid.cmp(&b.key.uid))
    });
    all.truncate(top);
    all
}

/// The subscription a source belongs to: the uid's home for local users and
/// scripts; the mailbox's domain for a SASL user (a domain hosted here,
/// possibly an add-on domain of a subscription); unknown for sender
/// addresses, which anyone can write.
fn subscription(key: &SourceKey, users: &UserMap) -> Option<String> {
    match key.kind {
        SourceKind::LocalUser | SourceKind::Script => {
            key.uid.and_then(|uid| users.subscription(uid)).map(str::to_string)
        }
        SourceKind::SaslUser => key.id.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).filter(|d| !d.is_empty()),
        SourceKind::Sender | SourceKind::Unspecified => None,
    }
}
