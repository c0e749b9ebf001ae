//! Host reports and the per-host summary derived from them.

use rblfleet_proto::v1::{HostReport, HostSummary, HourRollup};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::encoding::{decode, encode, report_key, report_prefix};
use super::history::rollup_key;
use super::rollup;
use super::{Sled, StoreError};

/// What storing a report did.
#[derive(Debug, Clone, PartialEq)]
pub enum Applied {
    /// The report was new and is now stored (and flushed).
    Stored(HostSummary),
    /// The same report was stored before; nothing changed.
    Duplicate(HostSummary),
}

/// One report's outcome inside a batch: refusals (`Conflict`, sequence
/// errors) are values, so one bad report does not undo its batch.
pub(super) type Outcome = Result<Applied, StoreError>;

impl Sled {
    /// Stores a batch of reports in one transaction, without flushing: the
    /// caller (the group-commit writer, in the writer's turn) flushes.
    ///
    /// One transaction per batch, not per report: sled's transaction cost,
    /// not the work per report, bounded ingest. A report refused for its
    /// content writes nothing and the others go on; a storage failure or a
    /// corrupt stored record undoes the whole batch (the outer error).
    pub(super) fn apply_batch_unflushed(&self, batch: &[(&HostReport, i64)]) -> Result<Vec<Outcome>, StoreError> {
        let encoded: Vec<(Vec<u8>, Vec<u8>)> =
            batch.iter().map(|(r, _)| (report_key(&r.host_id, r.epoch, r.seq), encode(*r))).collect();
        let trees = (&self.hosts, &self.reports, &self.rollups, &self.host_domains, &self.sending);
        let domains_changed = std::cell::Cell::new(false);
        let result = trees.transaction(|(hosts, reports, rollups, host_domains, sending)| {
            let mut outcomes = Vec::with_capacity(batch.len());
            for ((report, now_ms), (key, bytes)) in batch.iter().zip(&encoded) {
                let outcome = apply_one(hosts, reports, rollups, report, *now_ms, key, bytes)?;
                if matches!(outcome, Ok(Applied::Stored(_)))
                    && super::domains::apply_report(host_domains, sending, report, *now_ms)?
                {
                    domains_changed.set(true);
                }
                outcomes.push(outcome);
            }
            Ok(outcomes)
        });
        if domains_changed.get() {
            self.domains_changed();
        }
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

/// Stores one report inside the batch's transaction: the report, the
/// host's summary and the hour's roll-up change together, so each report is
/// counted once. Reads see the batch's earlier writes.
fn apply_one(
    hosts: &TransactionalTree,
    reports: &TransactionalTree,
    rollups: &TransactionalTree,
    report: &HostReport,
    now_ms: i64,
    key: &[u8],
    bytes: &[u8],
) -> Result<Outcome, ConflictableTransactionError<StoreError>> {
    let abort = ConflictableTransactionError::Abort;
    let host_key = report.host_id.as_bytes();
    let previous = match hosts.get(host_key)? {
        Some(raw) => Some(decode::<HostSummary>(host_key, &raw).map_err(abort)?),
        None => None,
    };
    if let Some(stored) = reports.get(key)? {
        let summary = previous.unwrap_or_default();
        return Ok(if stored.as_ref() == bytes {
            Ok(Applied::Duplicate(summary))
        } else {
            Err(StoreError::Conflict { host_id: report.host_id.clone(), epoch: report.epoch, seq: report.seq })
        });
    }
    let summary = match next_summary(previous, report, now_ms) {
        Ok(summary) => summary,
        Err(refused) => return Ok(Err(refused)),
    };
    let hour_key = rollup_key(&report.host_id, rollup::hour_of(report.period_end_ms));
    let mut rollup: HourRollup = match rollups.get(&hour_key)? {
        Some(raw) => decode(&hour_key, &raw).map_err(abort)?,
        None => HourRollup::default(),
    };
    rollup::merge(&mut rollup, report);
    reports.insert(key, bytes)?;
    hosts.insert(host_key, encode(&summary))?;
    rollups.insert(hour_key, encode(&rollup))?;
    Ok(Ok(Applied::Stored(summary)))
}

/// The host summary after accepting `report`, or why it cannot be accepted.
pub(super) fn next_summary(
    previous: Option<HostSummary>,
    report: &HostReport,
    now_ms: i64,
) -> Result<HostSummary, StoreError> {
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
