//! A map with a hard size limit that forgets its oldest entries first.
//!
//! The tracker keeps one entry per message in flight. A message normally
//! leaves when its last line (`removed`, `end msg`) arrives, but lines get
//! lost (a restart, a log that starts mid-stream, a message deferred for
//! days), so without a limit the map would grow for ever. Insertion order is
//! a `VecDeque` of keys; removing an entry leaves its key in the queue
//! ("stale", recognised by its sequence number) until it reaches the front,
//! and the queue is compacted when stale keys outnumber live ones, so both
//! structures stay within a small factor of the limit.
//!
//! Keys are MTA-made (queue ids, message numbers), so the map uses the fast
//! [`FxHasher`] rather than SipHash.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash};

use super::distinct::FxHasher;

/// A map of at most `cap` entries; inserting beyond evicts the oldest.
#[derive(Debug)]
pub struct BoundedMap<K, V> {
    map: HashMap<K, (u64, V), BuildHasherDefault<FxHasher>>,
    order: VecDeque<(u64, K)>,
    next_seq: u64,
    cap: usize,
}

impl<K: Hash + Eq + Clone, V> BoundedMap<K, V> {
    /// An empty map holding at most `cap` entries (at least 1).
    pub fn new(cap: usize) -> Self {
        BoundedMap { map: HashMap::default(), order: VecDeque::new(), next_seq: 0, cap: cap.max(1) }
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The entry under `key`.
    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.get_mut(key).map(|(_, v)| v)
    }

    /// Whether `key` is held.
    #[cfg(test)]
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.contains_key(key)
    }

    /// Inserts (or replaces) `key`, evicting the oldest entries beyond the
    /// cap. Returns how many entries were evicted.
    pub fn insert(&mut self, key: K, value: V) -> usize {
        let evicted = if self.map.contains_key(&key) { 0 } else { self.make_room() };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push_back((seq, key.clone()));
        self.map.insert(key, (seq, value));
        self.compact();
        evicted
    }

    /// The entry under `key`, inserted with `make` when missing (the key is
    /// made only then, once: with `Arc<str>` keys the order queue shares it). Also returns whether it was inserted and how many
    /// entries that evicted. The entry is always there; it comes as an
    /// `Option` only because the map is looked up again after inserting.
    pub fn get_or_insert_with<Q>(&mut self, key: &Q, make: impl FnOnce() -> V) -> (Option<&mut V>, bool, usize)
    where
        K: Borrow<Q> + for<'a> From<&'a Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (inserted, evicted) = if self.map.contains_key(key) {
            (false, 0)
        } else {
            let evicted = self.make_room();
            // Before the new key is queued: compaction keeps only keys in the map.
            self.compact();
            let seq = self.next_seq;
            self.next_seq += 1;
            let owned = K::from(key);
            self.order.push_back((seq, owned.clone()));
            self.map.insert(owned, (seq, make()));
            (true, evicted)
        };
        (self.map.get_mut(key).map(|(_, v)| v), inserted, evicted)
    }

    /// Evicts the oldest entries until one more fits.
    fn make_room(&mut self) -> usize {
        let mut evicted = 0;
        while self.map.len() >= self.cap {
            let Some((seq, key)) = self.order.pop_front() else { break };
            if self.map.get(&key).is_some_and(|(live, _)| *live == seq) {
                self.map.remove(&key);
                evicted += 1;
            }
        }
        evicted
    }

    /// Removes and returns the entry under `key`.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let removed = self.map.remove(key).map(|(_, v)| v);
        if removed.is_some() {
            self.compact();
        }
        removed
    }

    /// Drops stale keys from the order queue once they are the majority.
    fn compact(&mut self) {
        while let Some((seq, key)) = self.order.front() {
            if self.map.get(key).is_some_and(|(live, _)| live == seq) {
                break;
            }
            self.order.pop_front();
        }
        if self.order.len() > 2 * self.map.len() + 64 {
            let map = &self.map;
            self.order.retain(|(seq, key)| map.get(key).is_some_and(|(live, _)| live == seq));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evicts_the_oldest_beyond_the_cap() {
        let mut m = BoundedMap::new(2);
        assert_eq!(m.insert("a".to_string(), 1), 0);
        assert_eq!(m.insert("b".to_string(), 2), 0);
        assert_eq!(m.insert("c".to_string(), 3), 1);
        assert!(!m.contains_key("a"));
        assert_eq!(m.get_mut("b"), Some(&mut 2));
        assert_eq!(m.remove("b"), Some(2));
        assert_eq!(m.insert("d".to_string(), 4), 0);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn replaced_keys_are_not_evicted_by_their_stale_position() {
        let mut m = BoundedMap::new(2);
        m.insert(1u64, "old");
        m.insert(2u64, "two");
        m.insert(1u64, "new");
        // 2 is now the oldest live entry.
        assert_eq!(m.insert(3u64, "three"), 1);
        assert!(m.contains_key(&1) && m.contains_key(&3) && !m.contains_key(&2));
    }

    #[test]
    fn the_order_queue_stays_bounded_when_entries_leave_normally() {
        let mut m = BoundedMap::new(10);
        m.insert(0u64, ()); // a message that never completes
        for i in 1..100_000u64 {
            m.insert(i, ());
            m.remove(&i);
        }
        assert_eq!(m.len(), 1);
        assert!(m.order.len() <= 2 * m.len() + 64, "{}", m.order.len());
    }
}
