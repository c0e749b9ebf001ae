//! Hourly roll-ups per host and retention of raw reports.
//!
//! Trees:
//! - `rollups`: host id, 0x00, hour start (i64 BE) → `HourRollup`.
//!
//! Raw reports (`reports`) are kept for `raw` retention, roll-ups for
//! `rollup` retention; `prune` deletes what is older.

use rblfleet_proto::v1::{HostReport, HourRollup};

use super::encoding::{decode, report_prefix};
use super::rollup;
use super::{Sled, StoreError};

pub(super) fn rollup_key(host_id: &str, hour_ms: i64) -> Vec<u8> {
    let mut key = report_prefix(host_id);
    key.extend_from_slice(&hour_ms.to_be_bytes());
    key
}

/// What one `prune` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub reports: u64,
    pub rollups: u64,
}

impl Sled {
    /// A host's roll-ups with `from_ms <= hour < to_ms`, oldest first.
    pub fn rollups(&self, host_id: &str, from_ms: i64, to_ms: i64) -> Result<Vec<HourRollup>, StoreError> {
        let start = rollup_key(host_id, rollup::hour_of(from_ms));
        let end = rollup_key(host_id, to_ms);
        self.rollups
            .range(start..end)
            .map(|entry| {
                let (key, raw) = entry?;
                decode(&key, &raw)
            })
            .collect()
    }

    /// [`Sled::rollups`] of each host in turn.
    pub fn hosts_rollups(&self, host_ids: &[String], from_ms: i64, to_ms: i64) -> Result<Vec<HourRollup>, StoreError> {
        let mut all = Vec::new();
        for host_id in host_ids {
            all.extend(self.rollups(host_id, from_ms, to_ms)?);
        }
        Ok(all)
    }

    /// Deletes raw reports whose period ended before `raw_before_ms` (always
    /// keeping each host's latest) and roll-ups older than `rollup_before_ms`.
    pub fn prune(&self, raw_before_ms: i64, rollup_before_ms: i64) -> Result<Pruned, StoreError> {
        let mut pruned = Pruned::default();
        for host in self.list_hosts()? {
            let latest = super::encoding::report_key(&host.host_id, host.epoch, host.last_seq);
            for entry in self.reports.scan_prefix(report_prefix(&host.host_id)) {
                let (key, raw) = entry?;
                if key.as_ref() == latest.as_slice() {
                    break;
                }
                let report: HostReport = decode(&key, &raw)?;
                if report.period_end_ms >= raw_before_ms {
                    break;
                }
                self.reports.remove(&key)?;
                pruned.reports += 1;
            }
            let old_end = rollup_key(&host.host_id, rollup_before_ms);
            for entry in self.rollups.range(report_prefix(&host.host_id)..old_end) {
                let (key, _) = entry?;
                self.rollups.remove(&key)?;
                pruned.rollups += 1;
            }
        }
        Ok(pruned)
    }
}
