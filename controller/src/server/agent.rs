//! `AgentService`: report ingest.

use rblfleet_proto::v1::agent_service_server::AgentService;
use rblfleet_proto::v1::{HostReport, ReportAck};
use tonic::{Request, Response, Status};

use std::sync::Arc;

use crate::casework;
use crate::dnsbl::catalog::Catalog;
use crate::dnsbl::engine::Engine;
use crate::identity::Role;
use crate::ingest::validate::truncate;
use crate::ingest::{self, IngestStats, Limits, Refusal};
use crate::receivers::ReceiverPolicy;
use crate::store::{Applied, Store, StoreError};

#[derive(Debug)]
pub(super) struct AgentApi {
    pub(super) stats: Arc<IngestStats>,
    pub(super) store: Store,
    pub(super) engine: Option<Engine>,
    pub(super) catalog: Arc<Catalog>,
    pub(super) receivers: ReceiverPolicy,
    pub(super) limits: Limits,
    /// Retry hint for reports shed under overload.
    pub(super) retry_after: std::time::Duration,
    /// No client certificates (`serve --insecure`): the report's host id is trusted.
    pub(super) insecure: bool,
}

#[tonic::async_trait]
impl AgentService for AgentApi {
    #[tracing::instrument(skip_all, fields(host = tracing::field::Empty, seq = tracing::field::Empty))]
    async fn report(&self, request: Request<HostReport>) -> Result<Response<ReportAck>, Status> {
        let started = std::time::Instant::now();
        let _in_flight = self.stats.enter();
        let result = self.ingest(request).await;
        match &result {
            Ok(ack) if ack.get_ref().duplicate => self.stats.duplicate(started.elapsed()),
            Ok(_) => self.stats.stored(started.elapsed()),
            Err(_) => {}
        }
        result
    }
}

impl AgentApi {
    async fn ingest(&self, request: Request<HostReport>) -> Result<Response<ReportAck>, Status> {
        let refuse = |why: Refusal, status: Status| {
            self.stats.refused(why);
            status
        };
        let certified = if self.insecure {
            None
        } else {
            Some(super::peer_identity(&request, Role::Agent).map_err(|s| refuse(Refusal::Identity, s))?)
        };
        let report = request.into_inner();
        if let Some(identity) = certified
            && report.host_id != identity.name
        {
            tracing::warn!(claimed = %truncate(&report.host_id, 64), certificate = %identity.name, "report for another host refused");
            return Err(refuse(
                Refusal::Identity,
                Status::permission_denied(format!(
                    "the report claims host id {:?}, but the client certificate holds {:?}",
                    truncate(&report.host_id, 64),
                    identity.name
                )),
            ));
        }
        let span = tracing::Span::current();
        span.record("host", report.host_id.as_str());
        span.record("seq", report.seq);

        let now = crate::clock::now_ms();
        if let Err(invalid) = ingest::validate(&report, now, &self.limits) {
            tracing::warn!(%invalid, "malformed report refused");
            return Err(refuse(Refusal::Invalid, Status::invalid_argument(format!("invalid report: {invalid}"))));
        }
        let applied = self.store.apply_report(&report, now).await.map_err(|e| match e {
            StoreError::SeqBackwards { .. } | StoreError::StaleEpoch { .. } => {
                tracing::warn!(error = %e, "report out of sequence refused");
                refuse(Refusal::Sequence, Status::failed_precondition(e.to_string()))
            }
            StoreError::Conflict { .. } => {
                tracing::warn!(error = %e, "conflicting resend refused");
                refuse(Refusal::Sequence, Status::invalid_argument(e.to_string()))
            }
            StoreError::DiskFull { .. } => {
                tracing::error!(error = %e, "report refused: the disk is full");
                refuse(Refusal::Storage, super::exhausted(e.to_string(), self.retry_after))
            }
            StoreError::Overloaded { .. } => {
                tracing::debug!(error = %e, "report shed");
                refuse(Refusal::Overloaded, super::exhausted(e.to_string(), self.retry_after))
            }
            other => refuse(Refusal::Storage, super::storage_status(&other)),
        })?;
        let duplicate = match applied {
            Applied::Stored(summary) => {
                if summary.reports_stored == 1 {
                    tracing::info!("first report from a new host");
                }
                // Receiver-side listings follow the bounces. The report is
                // already stored: a failure here is logged, not returned.
                if let Err(error) = casework::report_stored(&self.store, &self.catalog, &report, now, &self.receivers) {
                    tracing::error!(%error, "could not apply the report's receiver evidence");
                }
                // A receiver that refused mail naming a listed IP: check it now,
                // not at its next scheduled time. Only IP listings: a listed
                // domain, or a recipient refusal quoting our IP, says nothing
                // about the IP's DNS listings.
                if let Some(engine) = &self.engine {
                    for ip in report.blocklist.iter().filter(|e| e.family == "ip").filter_map(|e| e.ip.parse().ok()) {
                        engine.recheck(ip);
                    }
                }
                false
            }
            Applied::Duplicate(_) => {
                tracing::debug!("duplicate report acknowledged again");
                true
            }
        };
        Ok(Response::new(ReportAck { epoch: report.epoch, seq: report.seq, duplicate, stored_at_ms: now }))
    }
}
