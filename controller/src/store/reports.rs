//! Host reports and the per-host summary derived from them.

use rblfleet_proto::v1::{HostReport, HostSummary, HourRollup};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::encoding::{decode, encode, report_key, report_prefix};
use super::history::rollup_key;
use super::{Store, StoreError};
use crate::history;

/// What storing a report did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The report was new and is now stored (and flushed).
    Stored(HostSummary),
    /// The same report was stored before; nothing changed.
    Duplicate(HostSummary),
}

impl Store {
    /// Stores one report in one transaction, without flushing: the caller
    /// (the group-commit writer, in the writer's turn) flushes the batch.
    pub(super) fn apply_unflushed(&self, report: &HostReport, now_ms: i64) -> Result<Applied, StoreError> {
        let key = report_key(&report.host_id, report.epoch, report.seq);
        let bytes = encode(report);
        let result = (&self.hosts, &self.reports, &self.rollups).transaction(|(hosts, reports, rollups)| {
            let abort = ConflictableTransactionError::Abort;
            let host_key = report.host_id.as_bytes();
            let previous = match hosts.get(host_key)? {
                Some(raw) => Some(decode::<HostSummary>(host_key, &raw).map_err(abort)?),
                None => None,
            };
            if let Some(stored) = reports.get(&key)? {
                let summary = previous.clone().unwrap_or_default();
                return if stored.as_ref() == bytes.as_slice() {
                    Ok(Applied::Duplicate(summary))
                } else {
                    Err(abort(StoreError::Conflict {
                        host_id: report.host_id.clone(),
                        epoch: report.epoch,
                        seq: report.seq,
                    }))
                };
            }
            let summary = next_summary(previous, report, now_ms).map_err(abort)?;
            reports.insert(key.as_slice(), bytes.as_slice())?;
            hosts.insert(host_key, encode(&summary))?;
            // The hour's roll-up changes with the report, so it counts each report once.
            let hour_key = rollup_key(&report.host_id, history::hour_of(report.period_end_ms));
            let mut rollup: HourRollup = match rollups.get(&hour_key)? {
                Some(raw) => decode(&hour_key, &raw).map_err(abort)?,
                None => HourRollup::default(),
            };
            history::merge(&mut rollup, report);
            rollups.insert(hour_key, encode(&rollup))?;
            Ok(Applied::Stored(summary))
        });
        result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => StoreError::from(e),
        })
    }

    /// Every host the controller has heard from, ordered by host id.
    pub fn list_hosts(&self) -> Result<Vec<HostSummary>, StoreError> {
        self.hosts
            .iter()
            .map(|entry| {
                let (key, raw) = entry?;
                decode(&key, &raw)
            })
            .collect()
    }

    /// One host's summary and its latest report, if the host is known.
    pub fn get_host(&self, host_id: &str) -> Result<Option<(HostSummary, Option<HostReport>)>, StoreError> {
        let Some(raw) = self.hosts.get(host_id.as_bytes())? else {
            return Ok(None);
        };
        let summary: HostSummary = decode(host_id.as_bytes(), &raw)?;
        let key = report_key(host_id, summary.epoch, summary.last_seq);
        let report = match self.reports.get(&key)? {
            Some(raw) => Some(decode(&key, &raw)?),
            None => None,
        };
        Ok(Some((summary, report)))
    }

    /// All stored reports of one host, oldest first.
    pub fn host_reports(&self, host_id: &str) -> Result<Vec<HostReport>, StoreError> {
        self.reports
            .scan_prefix(report_prefix(host_id))
            .map(|entry| {
                let (key, raw) = entry?;
                decode(&key, &raw)
            })
            .collect()
    }
}

/// The host summary after accepting `report`, or why it cannot be accepted.
fn next_summary(previous: Option<HostSummary>, report: &HostReport, now_ms: i64) -> Result<HostSummary, StoreError> {
    let mut summary = previous.unwrap_or_else(|| HostSummary {
        host_id: report.host_id.clone(),
        first_seen_ms: now_ms,
        ..HostSummary::default()
    });
    let host_id = report.host_id.clone();
    if summary.reports_stored > 0 {
        if report.epoch < summary.epoch {
            return Err(StoreError::StaleEpoch { host_id, epoch: report.epoch, current: summary.epoch });
        }
        if report.epoch == summary.epoch && report.seq <= summary.last_seq {
            return Err(StoreError::SeqBackwards {
                host_id,
                epoch: report.epoch,
                seq: report.seq,
                last_seq: summary.last_seq,
            });
        }
    }
    // Reports the agent dropped from a full outbox show up as gaps.
    let expected = if report.epoch == summary.epoch { summary.last_seq + 1 } else { 1 };
    summary.seq_gaps += report.seq.saturating_sub(expected);
    summary.epoch = report.epoch;
    summary.last_seq = report.seq;
    summary.reports_stored += 1;
    summary.last_report_ms = now_ms;
    if let Some(agent) = &report.agent {
        summary.agent_version = agent.version.clone();
        summary.os = agent.os.clone();
        summary.mta = agent.mta;
        summary.plesk_version = agent.plesk_version.clone();
    }
    summary.ips = report.ips.clone();
    Ok(summary)
}
