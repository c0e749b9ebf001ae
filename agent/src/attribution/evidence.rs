//! Blocklist evidence: refusals grouped by (provider, zone, code, IP).
//!
//! One group per listing as the receivers describe it ("spamhaus /
//! zen.spamhaus.org / — / 203.0.113.5"), with how often, when first and
//! last, and one reply as a sample, so that the controller can tie a
//! listing it sees in DNS to the bounces that show its effect, and trigger
//! an immediate recheck of the IP a receiver names.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, Hasher};

use foldhash::quality::RandomState;

use rblfleet_proto::v1::BlocklistEvidence;

use super::printable;
use crate::bounce::{Classification, Family};

/// Longest sample kept, in characters.
pub const SAMPLE_CHARS: usize = 300;

/// The provider id used when a reply names none (the controller requires one).
pub const UNKNOWN_PROVIDER: &str = "unknown";

/// Whether a refusal is blocklist evidence: the sending IP or a domain in
/// the message is listed, or the reply names a blocklist zone.
pub fn is_evidence(c: &Classification) -> bool {
    matches!(c.family, Family::Ip | Family::Domain) || c.zone.is_some()
}

/// Evidence groups of one period (or one scan), at most `max` of them.
///
/// A group is found by a 128-bit hash of its key parts (provider, zone,
/// code, IP, family, domain), computed from the classification as it is:
/// a refusal that joins an existing group costs no allocation, which
/// matters when a third of a busy host's deliveries are refused. The family
/// is part of the key: an IP listing and a listed domain named by the same
/// provider are two different facts, never one count.
#[derive(Debug, Clone)]
pub struct EvidenceBook {
    groups: HashMap<u128, BlocklistEvidence, foldhash::fast::RandomState>,
    hashers: (RandomState, RandomState),
    max: usize,
    /// Refusals not recorded because `max` groups existed already.
    pub dropped: u64,
}

impl EvidenceBook {
    /// An empty book of at most `max` groups.
    pub fn new(max: usize) -> Self {
        EvidenceBook {
            groups: HashMap::default(),
            hashers: (RandomState::default(), RandomState::default()),
            max: max.max(1),
            dropped: 0,
        }
    }

    /// Records one refusal classified as `c`, seen at `ts_ms`, with its
    /// reply. `sender_domain` is the refused message's envelope sender
    /// domain: kept for family `domain` only (the domain a receiver refused).
    pub fn record(&mut self, c: &Classification, ts_ms: Option<i64>, reply: &str, sender_domain: Option<&str>) {
        let domain = if c.family == Family::Domain { sender_domain.unwrap_or("") } else { "" };
        let key = self.key(c, domain);
        let ts = ts_ms.unwrap_or(0);
        if let Some(group) = self.groups.get_mut(&key) {
            group.count += 1;
            if ts > 0 {
                if group.first_seen_ms == 0 || ts < group.first_seen_ms {
                    group.first_seen_ms = ts;
                }
                group.last_seen_ms = group.last_seen_ms.max(ts);
            }
            return;
        }
        if self.groups.len() >= self.max {
            self.dropped += 1;
            return;
        }
        let group = BlocklistEvidence {
            provider: c.provider.clone().unwrap_or_else(|| UNKNOWN_PROVIDER.to_string()),
            zone: c.zone.as_deref().map(|z| printable(z, 253)).unwrap_or_default(),
            code: c.code.as_deref().map(|code| printable(code, 64)).unwrap_or_default(),
            ip: c.ip.map(|ip| ip.to_string()).unwrap_or_default(),
            family: c.family.name().to_string(),
            count: 1,
            first_seen_ms: ts,
            last_seen_ms: ts,
            sample: sample(reply),
            temporary: c.temporary.unwrap_or(false),
            domain: wire_domain(domain),
        };
        self.groups.insert(key, group);
    }

    /// Two independent 64-bit hashes of the key parts (foldhash, each
    /// seeded at random: SipHash was a tenth of recording a refusal): at
    /// 500 groups a collision (two facts counted as one) has odds of about
    /// 2^-110.
    fn key(&self, c: &Classification, domain: &str) -> u128 {
        let parts = |state: &RandomState| {
            let mut h = state.build_hasher();
            c.provider.as_deref().unwrap_or(UNKNOWN_PROVIDER).hash(&mut h);
            c.zone.hash(&mut h);
            c.code.hash(&mut h);
            c.ip.hash(&mut h);
            c.family.name().hash(&mut h);
            domain.len().hash(&mut h);
            domain.bytes().for_each(|b| h.write_u8(b.to_ascii_lowercase()));
            h.finish()
        };
        (u128::from(parts(&self.hashers.0)) << 64) | u128::from(parts(&self.hashers.1))
    }

    /// The groups, most frequent first (ties: provider, zone, code, ip).
    pub fn sorted(&self) -> Vec<BlocklistEvidence> {
        let mut all: Vec<BlocklistEvidence> = self.groups.values().cloned().collect();
        all.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.provider.cmp(&b.provider))
                .then_with(|| a.zone.cmp(&b.zone))
                .then_with(|| a.code.cmp(&b.code))
                .then_with(|| a.ip.cmp(&b.ip))
                .then_with(|| a.family.cmp(&b.family))
                .then_with(|| a.domain.cmp(&b.domain))
        });
        all
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    /// True when no refusal was recorded.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

/// A domain as the controller accepts it (lowercase ASCII, punycode); empty
/// when the text is not a domain (a broken sender address is no evidence).
pub fn wire_domain(text: &str) -> String {
    rblfleet_proto::domain::normalize_domain(text).map(|d| d.ascii).unwrap_or_default()
}

/// A reply as a sample: control characters become spaces (it is shown in
/// terminals and stored by the controller), cut at [`SAMPLE_CHARS`].
pub fn sample(reply: &str) -> String {
    let mut out: String =
        reply.trim().chars().take(SAMPLE_CHARS).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if reply.trim().chars().nth(SAMPLE_CHARS).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bounce::classify;

    #[test]
    fn groups_by_provider_zone_code_and_ip() {
        let mut book = EvidenceBook::new(10);
        let zen = "554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org";
        let c = classify(zen);
        assert!(is_evidence(&c));
        book.record(&c, Some(2_000), zen, None);
        book.record(&c, Some(1_000), zen, None);
        book.record(&c, None, zen, None);
        let tss = "421 4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to user complaints";
        book.record(&classify(tss), Some(3_000), tss, None);
        let all = book.sorted();
        assert_eq!(all.len(), 2);
        let first = &all[0];
        assert_eq!(
            (first.provider.as_str(), first.zone.as_str(), first.code.as_str(), first.ip.as_str()),
            ("spamhaus", "zen.spamhaus.org", "", "203.0.113.5")
        );
        assert_eq!((first.count, first.first_seen_ms, first.last_seen_ms), (3, 1_000, 2_000));
        assert_eq!(first.family, "ip");
        assert!(!first.temporary);
        assert_eq!((all[1].provider.as_str(), all[1].code.as_str(), all[1].temporary), ("yahoo", "TSS04", true));
    }

    #[test]
    fn an_ip_and_a_domain_refusal_are_never_one_group() {
        let mut book = EvidenceBook::new(10);
        // The same operator, no zone, code or IP: only the family tells them apart.
        let ip = "550 5.7.1 Mail from IP was rejected due to listing in Spamhaus SBL";
        let domain = "550 5.7.1 Your email was rejected due to having a domain present in the Spamhaus DBL";
        let (ci, cd) = (classify(ip), classify(domain));
        assert_eq!((ci.family, cd.family), (Family::Ip, Family::Domain));
        book.record(&ci, None, ip, None);
        book.record(&cd, None, domain, None);
        book.record(&cd, None, domain, None);
        let all = book.sorted();
        let families: Vec<(&str, u64)> = all.iter().map(|g| (g.family.as_str(), g.count)).collect();
        assert_eq!(families, [("domain", 2), ("ip", 1)]);
    }

    #[test]
    fn a_domain_refusal_is_grouped_by_the_sender_domain_in_wire_form() {
        let mut book = EvidenceBook::new(10);
        let dbl = "554 5.7.1 Service unavailable; Sender address [a@shop.example] blocked using dbl.spamhaus.org";
        let c = classify(dbl);
        assert_eq!(c.family, Family::Domain);
        book.record(&c, None, dbl, Some("Shop.Example"));
        book.record(&c, None, dbl, Some("shop.example"));
        book.record(&c, None, dbl, Some("other.example"));
        // An IP refusal keeps no domain, whoever sent the message.
        let zen = "554 5.7.1 Client host [192.0.2.1] blocked using zen.spamhaus.org";
        book.record(&classify(zen), None, zen, Some("shop.example"));
        let all = book.sorted();
        let groups: Vec<(&str, &str, u64)> =
            all.iter().map(|g| (g.family.as_str(), g.domain.as_str(), g.count)).collect();
        assert_eq!(groups, [("domain", "shop.example", 2), ("domain", "other.example", 1), ("ip", "", 1)]);
    }

    #[test]
    fn the_number_of_groups_is_bounded() {
        let mut book = EvidenceBook::new(1);
        book.record(&classify("554 blocked using zen.spamhaus.org [192.0.2.1]"), None, "a", None);
        book.record(&classify("554 blocked using bl.spamcop.net [192.0.2.1]"), None, "b", None);
        assert_eq!((book.len(), book.dropped), (1, 1));
    }

    #[test]
    fn samples_are_printable_and_short() {
        assert_eq!(sample(" a\tb\u{7}c "), "a b c");
        let long = "x".repeat(1000);
        assert_eq!(sample(&long).chars().count(), SAMPLE_CHARS + 1);
    }

    #[test]
    fn a_user_unknown_is_not_evidence() {
        assert!(!is_evidence(&classify("550 5.1.1 <a@b.example> User unknown")));
    }
}
