//! The ingest pipeline for one decoded report: validate → store → cases →
//! recheck. Transport-free: the server checks who sent it, calls
//! [`Pipeline::ingest`] and maps the typed result to a gRPC status.

use std::sync::Arc;

use rblfleet_proto::v1::{ActionRecord, HostReport, SignedAction};

use super::stats::Refusal;
use super::validate::{Invalid, Limits, validate};
use crate::cases::receivers::ReceiverPolicy;
use crate::cases::work;
use crate::catalog::Catalog;
use crate::dnsbl::engine::Engine;
use crate::store::{AckReads, Applied, Store, StoreError};

/// What a report goes through once its sender is known.
#[derive(Debug)]
pub struct Pipeline {
    pub store: Store,
    pub engine: Option<Engine>,
    pub catalog: Arc<Catalog>,
    pub receivers: ReceiverPolicy,
    pub limits: Limits,
    /// The outbreak detector's per-host state (issue 15).
    pub detectors: super::outbreak::Detectors,
}

/// How a report was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingested {
    Stored,
    /// A resend of a stored report: acknowledged again, nothing changed.
    Duplicate,
}

/// A taken report and what its ack carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub ingested: Ingested,
    /// The signed containment actions waiting for the host (see
    /// [`Pipeline::actions_for`]).
    pub actions: Vec<SignedAction>,
}

/// Why a report was refused; nothing of it was stored. The store's error is
/// in the message, not a source, so `{:#}` prints it once.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("invalid report: {0}")]
    Invalid(Invalid),
    /// Sequence number or epoch behind what is stored.
    #[error("{0}")]
    OutOfSequence(StoreError),
    /// The same (epoch, seq) with other content.
    #[error("{0}")]
    Conflict(StoreError),
    #[error("{0}")]
    DiskFull(StoreError),
    /// Shed under overload; the agent retries later.
    #[error("{0}")]
    Overloaded(StoreError),
    #[error("{0}")]
    Storage(StoreError),
}

impl IngestError {
    /// The refusal counter this error counts under.
    pub fn refusal(&self) -> Refusal {
        match self {
            IngestError::Invalid(_) => Refusal::Invalid,
            IngestError::OutOfSequence(_) | IngestError::Conflict(_) => Refusal::Sequence,
            IngestError::DiskFull(_) | IngestError::Storage(_) => Refusal::Storage,
            IngestError::Overloaded(_) => Refusal::Overloaded,
        }
    }
}

impl Pipeline {
    /// The signed containment actions waiting for `host` (sent with every
    /// ack until the agent reports their result). A store error sends none
    /// this time; they go with the next ack.
    ///
    /// `read` are the host's records as the report's batch read them; a
    /// report that carried action results changed them since, and they are
    /// read afresh.
    pub fn actions_for(&self, report: &HostReport, read: Option<Vec<ActionRecord>>, now: i64) -> Vec<SignedAction> {
        let pending = match read.filter(|_| report.action_results.is_empty()) {
            Some(records) => crate::contain::pending_of(&self.store, records, now),
            None => crate::contain::pending(&self.store, &report.host_id, now),
        };
        pending.unwrap_or_else(|error| {
            tracing::error!(%error, "could not read the host's pending actions");
            Vec::new()
        })
    }

    /// Validates `report`, stores it, applies its evidence to cases and asks
    /// the engine to recheck the IPs receivers refused. Once the report is
    /// stored it is acknowledged: a failure after that is logged, not returned.
    /// The store reads what this needs, and the ack's actions, with the
    /// report's batch (`Store::ingest_report`).
    pub async fn ingest(&self, report: &HostReport, now: i64) -> Result<Accepted, IngestError> {
        if let Err(invalid) = validate(report, now, &self.limits) {
            tracing::warn!(%invalid, "malformed report refused");
            return Err(IngestError::Invalid(invalid));
        }
        let pairs = work::receiver_pairs(&self.catalog, report);
        let (applied, reads) = self.store.ingest_report(report, now, pairs).await.map_err(|e| match e {
            StoreError::SeqBackwards { .. } | StoreError::StaleEpoch { .. } => {
                tracing::warn!(error = %e, "report out of sequence refused");
                IngestError::OutOfSequence(e)
            }
            StoreError::Conflict { .. } => {
                tracing::warn!(error = %e, "conflicting resend refused");
                IngestError::Conflict(e)
            }
            StoreError::DiskFull { .. } => {
                tracing::error!(error = %e, "report refused: the disk is full");
                IngestError::DiskFull(e)
            }
            StoreError::Overloaded { .. } => {
                tracing::debug!(error = %e, "report shed");
                IngestError::Overloaded(e)
            }
            other => IngestError::Storage(other),
        })?;
        let AckReads { receivers, actions } = reads;
        let ingested = match applied {
            Applied::Stored(summary) => {
                if summary.reports_stored == 1 {
                    tracing::info!("first report from a new host");
                }
                // Receiver-side listings follow the bounces. The report is
                // already stored: a failure here is logged, not returned.
                if let Err(error) =
                    work::report_stored(&self.store, &self.catalog, report, now, &self.receivers, receivers)
                {
                    tracing::error!(%error, "could not apply the report's receiver evidence");
                }
                // Results of containment actions go to their records and cases.
                if let Err(error) = crate::contain::take_results(&self.store, report, now) {
                    tracing::error!(%error, "could not record the report's action results");
                }
                // Early warning: the host's and its sources' baselines learn
                // the report, and an outbreak opens a warning (issue 15).
                match self.detectors.observe(&self.store, report) {
                    Ok(records) => {
                        for w in records.iter().filter(|w| w.first_seen_ms == w.last_seen_ms && w.cleared_ms == 0) {
                            tracing::warn!(source = %w.source_id, score = w.score, reasons = ?w.reasons, "outbreak warning");
                        }
                    }
                    Err(error) => tracing::error!(%error, "could not update the outbreak detector"),
                }
                // A receiver that refused mail naming a listed IP: check it now,
                // not at its next scheduled time. Only IP listings: a listed
                // domain, or a recipient refusal quoting our IP, says nothing
                // about the IP's DNS listings.
                // A refusal of family "domain" names the message's sender
                // domain: its domain-list checks jump the queue the same way.
                if let Some(engine) = &self.engine {
                    for ip in report.blocklist.iter().filter(|e| e.family == "ip").filter_map(|e| e.ip.parse().ok()) {
                        engine.recheck(ip);
                    }
                    for e in report.blocklist.iter().filter(|e| e.family == "domain" && !e.domain.is_empty()) {
                        engine.recheck_domain(&e.domain);
                    }
                }
                Ingested::Stored
            }
            Applied::Duplicate(_) => {
                tracing::debug!("duplicate report acknowledged again");
                Ingested::Duplicate
            }
        };
        Ok(Accepted { ingested, actions: self.actions_for(report, actions, now) })
    }
}
