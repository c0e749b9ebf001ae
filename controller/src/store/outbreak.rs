//! The outbreak detector's state and the early warnings it raised (issue 15).
//!
//! Trees:
//! - `outbreak`: host id → the detector's state for the host (its own bytes,
//!   versioned by the detector; the store does not read them).
//! - `warnings`: host id, 0x00, source kind (one byte), source id, 0x00,
//!   first seen (u64 BE) → [`encoding`](super::encoding) of an
//!   `OutbreakWarning`. One record per warning episode; a host keeps at most
//!   [`MAX_WARNINGS_PER_HOST`], the oldest cleared ones going first.
//!
//! Both are derived from stored reports, written after the report's own
//! transaction and not flushed with it (the detector keeps its state in
//! memory and saves it every few minutes and on every warning): a crash
//! loses at most the last minutes of observations, never a report.

use rblfleet_proto::v1::OutbreakWarning;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::encoding::{decode, encode, report_prefix};
use super::{Sled, StoreError};

/// Warning records kept per host.
pub const MAX_WARNINGS_PER_HOST: usize = 200;

/// Key of one warning episode.
pub(super) fn warning_key(w: &OutbreakWarning) -> Vec<u8> {
    let mut key = report_prefix(&w.host_id);
    key.push(u8::try_from(w.source_kind).unwrap_or(u8::MAX));
    key.extend_from_slice(w.source_id.as_bytes());
    key.push(0);
    key.extend_from_slice(&u64::try_from(w.first_seen_ms.max(0)).unwrap_or(0).to_be_bytes());
    key
}

impl Sled {
    /// Stores the host's detector state and the warning records given (new,
    /// updated or cleared episodes, keyed by host, source and first seen),
    /// in one transaction; the oldest cleared episodes past the bound go.
    pub fn save_outbreak(&self, host_id: &str, state: &[u8], warnings: &[OutbreakWarning]) -> Result<(), StoreError> {
        let prune = if warnings.is_empty() { Vec::new() } else { self.warnings_to_prune(host_id, warnings)? };
        (&self.outbreak, &self.warnings)
            .transaction(|(outbreak, records)| {
                outbreak.insert(host_id.as_bytes(), state)?;
                for w in warnings {
                    records.insert(warning_key(w), encode(w))?;
                }
                for key in &prune {
                    records.remove(key.as_slice())?;
                }
                Ok::<_, ConflictableTransactionError<StoreError>>(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::from(e),
            })
    }

    /// Keys of the host's oldest cleared warnings past the bound, once
    /// `incoming` is written.
    fn warnings_to_prune(&self, host_id: &str, incoming: &[OutbreakWarning]) -> Result<Vec<Vec<u8>>, StoreError> {
        let mut stored = self.warnings_of(host_id)?;
        let new = incoming.iter().filter(|w| !stored.iter().any(|s| warning_key(s) == warning_key(w))).count();
        let excess = (stored.len() + new).saturating_sub(MAX_WARNINGS_PER_HOST);
        if excess == 0 {
            return Ok(Vec::new());
        }
        stored.retain(|w| w.cleared_ms != 0 && !incoming.iter().any(|i| warning_key(i) == warning_key(w)));
        stored.sort_by_key(|w| w.cleared_ms);
        Ok(stored.iter().take(excess).map(warning_key).collect())
    }

    /// The host's detector state as stored (see [`Store::save_outbreak`]).
    pub fn outbreak_state(&self, host_id: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.outbreak.get(host_id.as_bytes())?.map(|v| v.to_vec()))
    }

    /// The host's warning records, newest first.
    pub fn warnings_of(&self, host_id: &str) -> Result<Vec<OutbreakWarning>, StoreError> {
        let mut out = Vec::new();
        for item in self.warnings.scan_prefix(report_prefix(host_id)) {
            let (key, value) = item?;
            out.push(decode::<OutbreakWarning>(&key, &value)?);
        }
        out.sort_by_key(|w| std::cmp::Reverse(w.first_seen_ms));
        Ok(out)
    }

    /// Every warning record of the fleet (active and cleared), newest first.
    /// Bounded by [`MAX_WARNINGS_PER_HOST`] per host.
    pub fn all_warnings(&self) -> Result<Vec<OutbreakWarning>, StoreError> {
        let mut out = Vec::new();
        for item in self.warnings.iter() {
            let (key, value) = item?;
            out.push(decode::<OutbreakWarning>(&key, &value)?);
        }
        out.sort_by_key(|w| std::cmp::Reverse(w.first_seen_ms));
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::backends::backends;

    fn warning(host: &str, source: &str, first: i64, cleared: i64) -> OutbreakWarning {
        OutbreakWarning {
            host_id: host.into(),
            source_kind: 1,
            source_id: source.into(),
            first_seen_ms: first,
            last_seen_ms: first,
            cleared_ms: cleared,
            ..Default::default()
        }
    }

    #[test]
    fn state_and_warnings_round_trip_and_stay_bounded() {
        for backing in backends("store::outbreak::tests::state_and_warnings_round_trip_and_stay_bounded") {
            let store = backing.open();
            assert_eq!(store.outbreak_state("web1").unwrap(), None);
            store.save_outbreak("web1", b"state-1", &[warning("web1", "a@x.example", 1_000, 0)]).unwrap();
            assert_eq!(store.outbreak_state("web1").unwrap().as_deref(), Some(&b"state-1"[..]));
            // The same episode is updated in place.
            store.save_outbreak("web1", b"state-2", &[warning("web1", "a@x.example", 1_000, 9_000)]).unwrap();
            let stored = store.warnings_of("web1").unwrap();
            assert_eq!(stored.len(), 1);
            assert_eq!(stored[0].cleared_ms, 9_000);
            assert_eq!(store.outbreak_state("web1").unwrap().as_deref(), Some(&b"state-2"[..]));
            // "web10" is another host, not a prefix match.
            assert!(store.warnings_of("web").unwrap().is_empty());
            // Past the bound, the oldest cleared episodes go first.
            for i in 0..MAX_WARNINGS_PER_HOST as i64 + 5 {
                store.save_outbreak("web1", b"s", &[warning("web1", "b@x.example", 10_000 + i, 20_000 + i)]).unwrap();
            }
            let stored = store.warnings_of("web1").unwrap();
            assert_eq!(stored.len(), MAX_WARNINGS_PER_HOST);
            assert!(stored.iter().all(|w| w.first_seen_ms != 1_000), "the oldest cleared episode was pruned");
            assert_eq!(store.all_warnings().unwrap().len(), MAX_WARNINGS_PER_HOST);
        }
    }
}
