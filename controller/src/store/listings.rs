//! Blocklist check state per (IP, zone), listing episodes, and zone usage.
//!
//! Trees:
//! - `checks`: ip, 0x00, zone id → `ZoneCheck` (the latest check).
//! - `episodes`: ip, 0x00, zone id, 0x00, first seen (i64 BE) → `ListingEpisode`.
//! - `zone_usage`: zone id, 0x00, UTC day number (u32 BE) → queries (u64 BE),
//!   so daily budgets survive a restart.

use rblfleet_proto::v1::{ListingEpisode, ZoneCheck};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::encoding::{decode, encode};
use super::{Sled, StoreError};

fn check_key(ip: &str, zone_id: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(ip.len() + zone_id.len() + 1);
    key.extend_from_slice(ip.as_bytes());
    key.push(0);
    key.extend_from_slice(zone_id.as_bytes());
    key
}

fn episode_key(episode: &ListingEpisode) -> Vec<u8> {
    let mut key = check_key(&episode.ip, &episode.zone_id);
    key.push(0);
    key.extend_from_slice(&episode.first_seen_ms.to_be_bytes());
    key
}

fn ip_prefix(ip: &str) -> Vec<u8> {
    let mut key = ip.as_bytes().to_vec();
    key.push(0);
    key
}

impl Sled {
    /// The latest check of (ip, zone), if any.
    pub fn zone_check(&self, ip: &str, zone_id: &str) -> Result<Option<ZoneCheck>, StoreError> {
        let key = check_key(ip, zone_id);
        self.checks.get(&key)?.map(|raw| decode(&key, &raw)).transpose()
    }

    /// Every stored check, in key order.
    pub fn all_checks(&self) -> Result<Vec<ZoneCheck>, StoreError> {
        self.checks
            .iter()
            .map(|entry| {
                let (key, raw) = entry?;
                decode(&key, &raw)
            })
            .collect()
    }

    /// The checks of one IP.
    pub fn ip_checks(&self, ip: &str) -> Result<Vec<ZoneCheck>, StoreError> {
        self.checks
            .scan_prefix(ip_prefix(ip))
            .map(|entry| {
                let (key, raw) = entry?;
                decode(&key, &raw)
            })
            .collect()
    }

    /// The episode of (ip, zone) that began at `first_seen_ms`.
    pub fn episode(&self, ip: &str, zone_id: &str, first_seen_ms: i64) -> Result<Option<ListingEpisode>, StoreError> {
        let probe =
            ListingEpisode { ip: ip.into(), zone_id: zone_id.into(), first_seen_ms, ..ListingEpisode::default() };
        let key = episode_key(&probe);
        self.episodes.get(&key)?.map(|raw| decode(&key, &raw)).transpose()
    }

    /// Every episode of one IP, oldest first per zone.
    pub fn ip_episodes(&self, ip: &str) -> Result<Vec<ListingEpisode>, StoreError> {
        self.episodes
            .scan_prefix(ip_prefix(ip))
            .map(|entry| {
                let (key, raw) = entry?;
                decode(&key, &raw)
            })
            .collect()
    }

    /// Stores a check and, when it opened, extended or closed one, its episode,
    /// in one transaction.
    pub fn record_check(&self, check: &ZoneCheck, episode: Option<&ListingEpisode>) -> Result<(), StoreError> {
        self.record_checks(&[(check, episode)])
    }

    /// Stores checks with their episodes in one transaction (a pass's
    /// outcomes, chunk by chunk: one transaction per check bounded a sweep).
    pub fn record_checks(&self, writes: &[(&ZoneCheck, Option<&ListingEpisode>)]) -> Result<(), StoreError> {
        type Pair = (Vec<u8>, Vec<u8>);
        let encoded: Vec<(Vec<u8>, Vec<u8>, Option<Pair>)> = writes
            .iter()
            .map(|(c, e)| (check_key(&c.ip, &c.zone_id), encode(*c), e.map(|e| (episode_key(e), encode(e)))))
            .collect();
        let _turn = self.write_turn();
        (&self.checks, &self.episodes)
            .transaction(|(checks, episodes)| {
                for (key, value, episode) in &encoded {
                    checks.insert(key.as_slice(), value.as_slice())?;
                    if let Some((k, v)) = episode {
                        episodes.insert(k.as_slice(), v.as_slice())?;
                    }
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::from(e),
            })
    }

    /// Stores an episode on its own (receiver-side listings have no check).
    pub fn put_episode(&self, episode: &ListingEpisode) -> Result<(), StoreError> {
        self.episodes.insert(episode_key(episode), encode(episode))?;
        Ok(())
    }

    /// Adds `n` queries to a zone's count for `day` and returns the new total.
    pub fn add_zone_usage(&self, zone_id: &str, day: u32, n: u64) -> Result<u64, StoreError> {
        let key = usage_key(zone_id, day);
        let updated = self.zone_usage.update_and_fetch(&key, |old| {
            let old = old.and_then(|b| <[u8; 8]>::try_from(b).ok()).map_or(0, u64::from_be_bytes);
            Some(old.saturating_add(n).to_be_bytes().to_vec())
        })?;
        Ok(updated.and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok()).map_or(0, u64::from_be_bytes))
    }

    /// The query counts of `zone_ids` for `day`, in that order.
    pub fn zones_usage(&self, zone_ids: &[String], day: u32) -> Result<Vec<u64>, StoreError> {
        zone_ids.iter().map(|id| self.zone_usage(id, day)).collect()
    }

    /// A zone's query count for `day`.
    pub fn zone_usage(&self, zone_id: &str, day: u32) -> Result<u64, StoreError> {
        let raw = self.zone_usage.get(usage_key(zone_id, day))?;
        Ok(raw.and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok()).map_or(0, u64::from_be_bytes))
    }
}

fn usage_key(zone_id: &str, day: u32) -> Vec<u8> {
    let mut key = zone_id.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&day.to_be_bytes());
    key
}
