//! One verdict per distinct reply wording, not per bounce.
//!
//! A host that is burning its IP logs the same refusal thousands of times,
//! differing only in the recipient, the IP, the receiver's tracking ids or a
//! timestamp. Those parts are masked ([`cache_key`]) and what depends only on
//! the words is reused: the [`Decision`] always, and the whole verdict when
//! its code and zone were not read from a masked part. Then only the IP (read
//! again from this reply, at the place the first reply had it) and, when the
//! reply names nobody, the provider (from the host that answered) are
//! recomputed; otherwise the captures run again. Either way a cached verdict
//! is exactly the verdict.
//!
//! The needles are matched on the key, not on the reply, so a hit costs the
//! key and one lookup: no needle scan (a third of a new wording's cost).

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::Classification;
use super::key::{Slots, cache_key};
use super::reply::{ReplyCodes, first_named_ip};
use super::table::{Decision, IpFrom, Scan, Table, Trace};

/// Distinct wordings kept; past this the cache starts over. A log with more
/// distinct refusals than this is classified at the uncached speed, never
/// with more memory.
const CAPACITY: usize = 4096;

/// Decisions by masked reply, and scratch space for building keys.
///
/// The map's hasher is foldhash, seeded per process: SipHash of every key
/// was a tenth of an outbreak log's classification, and a random seed keeps
/// a receiver from choosing replies that collide.
#[derive(Debug, Default)]
pub(super) struct VerdictCache {
    entries: HashMap<String, Entry, RandomState>,
    key: String,
    slots: Slots,
    /// The needles found in a new wording.
    scan: Scan,
    pub(super) hits: u64,
    pub(super) misses: u64,
}

#[derive(Debug)]
struct Entry {
    decision: Decision,
    /// The provider the wording names (from the needles).
    named: Option<usize>,
    fast: Option<Fast>,
}

/// A verdict that holds for every reply with the key, but for its IP and,
/// when the reply names nobody, its provider.
#[derive(Debug)]
struct Fast {
    verdict: Classification,
    ip: IpFrom,
    provider_from_line: bool,
}

impl VerdictCache {
    /// The verdict for `text`, whose reply has `codes` and reads `masked`
    /// once addresses are blanked.
    pub(super) fn classify(&mut self, table: &Table, text: &str, codes: &ReplyCodes, masked: &str) -> Classification {
        let VerdictCache { entries, key, slots, scan, hits, misses } = self;
        let start = cache_key(masked, table.verbatim(masked), codes, key, slots);
        if let Some(entry) = entries.get(key.as_str()) {
            *hits += 1;
            if let Some(verdict) = entry.fast.as_ref().and_then(|fast| fast.verdict(table, text, masked, slots)) {
                return verdict;
            }
            return entry.decision.apply(table, text, codes, masked, entry.named).0;
        }
        *misses += 1;
        table.scan_into(&key[start..], scan);
        let decision = table.decide(codes, masked, &scan.candidates);
        let (verdict, trace) = decision.apply(table, text, codes, masked, scan.named);
        let fast = Fast::new(&verdict, &trace, slots);
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(key.clone(), Entry { decision, named: scan.named, fast });
        verdict
    }
}

impl Fast {
    /// The reusable verdict, if its code and zone were read from the words
    /// and its IP (if any) from exactly one masked part.
    fn new(verdict: &Classification, trace: &Trace, slots: &Slots) -> Option<Fast> {
        let overlaps = |(s, e): (usize, usize)| slots.iter().any(|&(ss, se)| ss < e && s < se);
        if trace.read.iter().any(|&span| overlaps(span)) {
            return None;
        }
        let ip = match trace.ip {
            IpFrom::Capture(s, e) => {
                let k = slots.iter().position(|&(ss, se)| ss <= s && e <= se)?;
                let (ss, se) = slots[k];
                IpFrom::Slot { slot: k, skip: s - ss, trim: se - e }
            }
            IpFrom::Unsure => return None,
            other => other,
        };
        let verdict = Classification { ip: None, ..verdict.clone() };
        Some(Fast { verdict, ip, provider_from_line: trace.provider_from_line })
    }

    /// This reply's verdict, or `None` if its IP cannot be read the way the
    /// first reply's was (then the captures run again).
    fn verdict(&self, table: &Table, text: &str, masked: &str, slots: &Slots) -> Option<Classification> {
        let mut out = self.verdict.clone();
        out.ip = match self.ip {
            IpFrom::Slot { slot, skip, trim } => {
                let &(s, e) = slots.get(slot)?;
                let ip = masked.get(s + skip..e.checked_sub(trim)?)?.parse::<std::net::IpAddr>().ok()?;
                Some(ip)
            }
            IpFrom::Named => first_named_ip(masked),
            IpFrom::Capture(..) | IpFrom::Unsure => return None,
        };
        if self.provider_from_line {
            out.provider = table.provider_from_line(text).map(str::to_string);
        }
        Some(out)
    }
}
