//! One verdict per distinct reply wording, not per bounce.
//!
//! A host that is burning its IP logs the same refusal thousands of times,
//! differing only in the recipient, the IP, the queue id or a timestamp.
//! Those parts are masked ([`cache_key`]) and the word-dependent half of the
//! verdict ([`Decision`]) is reused; the captures (code, zone, IP) are still
//! read from the reply itself, so a cached verdict is exactly the verdict.

use std::collections::HashMap;

use super::mask::cache_key;
use super::table::Decision;

/// Distinct wordings kept; past this the cache starts over. A log with more
/// distinct refusals than this is classified at the uncached speed, never
/// with more memory.
const CAPACITY: usize = 4096;

/// Decisions by masked reply.
#[derive(Debug, Default)]
pub(super) struct VerdictCache {
    decisions: HashMap<String, Decision>,
    pub(super) hits: u64,
    pub(super) misses: u64,
}

impl VerdictCache {
    /// The decision for `masked`, computed by `decide` on a miss.
    pub(super) fn get_or_insert(&mut self, masked: &str, decide: impl FnOnce() -> Decision) -> Decision {
        let key = cache_key(masked);
        if let Some(decision) = self.decisions.get(&key) {
            self.hits += 1;
            return decision.clone();
        }
        self.misses += 1;
        let decision = decide();
        if self.decisions.len() >= CAPACITY {
            self.decisions.clear();
        }
        self.decisions.insert(key, decision.clone());
        decision
    }
}
