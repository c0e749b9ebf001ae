//! Counting distinct values (recipient domains, client IPs) in bounded memory.
//!
//! Exact up to a cap, then saturated and flagged: a report that says "at
//! least 10,000 recipient domains" is as actionable as an estimate and never
//! wrong. Values are stored as 64-bit hashes (8 bytes each, collisions are
//! negligible far beyond the cap), so a source costs at most `cap × ~16`
//! bytes of set however long its addresses are.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;

/// Default cap on the values counted exactly per counter.
pub const DEFAULT_CAP: usize = 10_000;

/// A set of pre-hashed values; the values already are good hashes, so the
/// set's own hasher only passes them through.
type HashedSet = HashSet<u64, BuildHasherDefault<PassThrough>>;

/// Counts distinct values exactly up to `cap`, then saturates.
#[derive(Debug, Clone, Default)]
pub struct Distinct {
    seen: HashedSet,
    cap: usize,
    saturated: bool,
}

impl Distinct {
    /// An empty counter that is exact up to `cap` values.
    pub fn with_cap(cap: usize) -> Self {
        Distinct { seen: HashedSet::default(), cap: cap.max(1), saturated: false }
    }

    /// Adds a value given by its hash ([`hash_lowercase`], [`hash_ip`]).
    /// Returns true when the value was new (always false once saturated).
    pub fn insert(&mut self, hash: u64) -> bool {
        if self.saturated {
            return false;
        }
        if self.seen.len() >= self.cap && !self.seen.contains(&hash) {
            self.saturated = true;
            return false;
        }
        self.seen.insert(hash)
    }

    /// The number of distinct values seen (the cap when saturated).
    pub fn count(&self) -> u64 {
        self.seen.len() as u64
    }

    /// True when more distinct values arrived than the cap: [`Self::count`]
    /// is then a lower bound.
    pub fn saturated(&self) -> bool {
        self.saturated
    }
}

/// FNV-1a over the ASCII-lowercased bytes of `s`: domains and addresses
/// compare case-insensitively without allocating a lowercase copy.
pub fn hash_lowercase(s: &str) -> u64 {
    let mut hash = FNV_OFFSET;
    for b in s.bytes() {
        hash ^= u64::from(b.to_ascii_lowercase());
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    mix(hash)
}

/// The hash of an IP address for [`Distinct`].
pub fn hash_ip(ip: IpAddr) -> u64 {
    let mut hash = FNV_OFFSET;
    let mut feed = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    };
    match ip {
        IpAddr::V4(v4) => feed(&v4.octets()),
        IpAddr::V6(v6) => feed(&v6.octets()),
    }
    mix(hash)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A final avalanche (from SplitMix64) so that the low bits the hash set
/// uses for its buckets depend on every input byte.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hasher for keys that already are well-mixed `u64` hashes.
#[derive(Debug, Default, Clone, Copy)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed with this hasher; anything else still
        // works, just more slowly and less evenly.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// FxHash (rustc's hasher): several times faster than SipHash on short
/// keys. Only for keys an outsider cannot choose — Postfix queue ids, qmail
/// message numbers — since it offers no protection against crafted
/// collisions; addresses and logins stay in SipHash maps.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher(u64);

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        for &b in chunks.remainder() {
            self.add(u64::from(b));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_exactly_below_the_cap_and_saturates_above() {
        let mut d = Distinct::with_cap(3);
        assert!(d.insert(hash_lowercase("a.example")));
        assert!(!d.insert(hash_lowercase("A.EXAMPLE")), "case-insensitive");
        assert!(d.insert(hash_lowercase("b.example")));
        assert!(d.insert(hash_lowercase("c.example")));
        assert!(!d.saturated());
        assert!(!d.insert(hash_lowercase("a.example")), "a known value at the cap is not saturation");
        assert!(!d.saturated());
        assert!(!d.insert(hash_lowercase("d.example")));
        assert!(d.saturated());
        assert_eq!(d.count(), 3);
    }

    #[test]
    fn ip_hashes_differ_by_family_and_value() {
        let a = hash_ip("192.0.2.1".parse().expect("literal"));
        let b = hash_ip("192.0.2.2".parse().expect("literal"));
        let c = hash_ip("2001:db8::1".parse().expect("literal"));
        assert!(a != b && a != c && b != c);
    }
}
