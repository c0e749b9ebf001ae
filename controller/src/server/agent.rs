//! `AgentService`: the transport of report ingest - decode, the peer's
//! identity, then [`crate::ingest::Pipeline`], its result mapped to a status.

use rblfleet_proto::v1::agent_service_server::AgentService;
use rblfleet_proto::v1::{HelloRequest, HelloResponse, HostReport, ReportAck};
use tonic::{Request, Response, Status};

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tonic::body::Body;
use tonic::codegen::{BoxFuture, Service, http};
use tonic::server::NamedService;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use crate::identity::Role;
use crate::ingest::validate::truncate;
use crate::ingest::{IngestError, IngestStats, Ingested, Pipeline, Refusal};

#[derive(Debug)]
pub(super) struct AgentApi {
    pub(super) stats: Arc<IngestStats>,
    pub(super) pipeline: Pipeline,
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

    /// Who the caller is and the controller's clock; stores nothing (for
    /// `rblfleet-agent doctor`). The identity rules are `report`'s.
    async fn hello(&self, request: Request<HelloRequest>) -> Result<Response<HelloResponse>, Status> {
        let certified = if self.insecure { None } else { Some(super::peer_identity(&request, Role::Agent)?) };
        let leaf = request.peer_certs();
        let claimed = request.into_inner().host_id;
        let host_id = match certified {
            Some(identity) if !claimed.is_empty() && claimed != identity.name => {
                return Err(Status::permission_denied(format!(
                    "this agent reports as host id {:?}, but its client certificate holds {:?}",
                    truncate(&claimed, 64),
                    identity.name
                )));
            }
            Some(identity) => {
                record_expiry(&identity.name, leaf.as_ref());
                identity.name
            }
            None => claimed,
        };
        Ok(Response::new(HelloResponse {
            host_id,
            now_ms: crate::clock::now_ms(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            max_clock_skew_ms: crate::clock::millis(self.pipeline.limits.max_clock_skew),
        }))
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
        let leaf = request.peer_certs();
        let report = request.into_inner();
        if let Some(identity) = &certified
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
        if certified.is_some() {
            record_expiry(&report.host_id, leaf.as_ref());
        }
        let span = tracing::Span::current();
        span.record("host", report.host_id.as_str());
        span.record("seq", report.seq);

        let now = crate::clock::now_ms();
        let (duplicate, actions) = match self.pipeline.ingest(&report, now).await {
            Ok(accepted) => (accepted.ingested == Ingested::Duplicate, accepted.actions),
            Err(error) => return Err(refuse(error.refusal(), self.status(error))),
        };
        Ok(Response::new(ReportAck { epoch: report.epoch, seq: report.seq, duplicate, stored_at_ms: now, actions }))
    }

    /// The status an agent gets for a refused report: RESOURCE_EXHAUSTED with
    /// a retry hint when the controller is full or overloaded.
    fn status(&self, error: IngestError) -> Status {
        match error {
            IngestError::Invalid(_) => Status::invalid_argument(error.to_string()),
            IngestError::OutOfSequence(_) => Status::failed_precondition(error.to_string()),
            IngestError::Conflict(_) => Status::invalid_argument(error.to_string()),
            IngestError::DiskFull(_) | IngestError::Overloaded(_) => {
                super::exhausted(error.to_string(), self.retry_after)
            }
            IngestError::Storage(e) => super::storage_status(&e),
        }
    }
}

/// The client certificate chain a request came with (shared, not copied).
type PeerCerts = Arc<Vec<tonic::transport::CertificateDer<'static>>>;

/// Notes when `host`'s certificate expires, for `/metrics` and the alerts
/// (`crate::ca::expiry`). Only after the certificate was checked to name
/// `host`. A certificate tonic accepted always parses; if one did not, the
/// report still goes on: the expiry is a warning aid, not a gate.
fn record_expiry(host: &str, certs: Option<&PeerCerts>) {
    let Some(der) = certs.and_then(|c| c.first()) else { return };
    if let Err(error) = crate::ca::expiry::registry().record_agent(host, der) {
        tracing::warn!(%host, %error, "cannot read the expiry of the agent's certificate");
    }
}

/// Reports in flight per client certificate. tonic decodes a report before
/// the handler runs and keeps it until the request body ends, and prost's
/// decoding multiplies a report of empty entries ~100-fold (1 MiB of empty
/// `sources` is 105 MB): 16 such reports held open on one connection took
/// 1.7 GB, and connections are not bounded. Agents send one at a time.
pub(super) const MAX_IN_FLIGHT_PER_HOST: usize = 4;

/// Refuses a report when its client certificate already has
/// `MAX_IN_FLIGHT_PER_HOST` in flight, before anything is decoded. Without a
/// certificate (`serve --insecure`) nothing is counted.
#[derive(Debug, Clone)]
pub(super) struct InFlightPerHost<S> {
    inner: S,
    in_flight: Arc<Mutex<HashMap<Vec<u8>, usize>>>,
    stats: Arc<IngestStats>,
    retry_after: std::time::Duration,
}

impl<S> InFlightPerHost<S> {
    pub(super) fn new(inner: S, stats: Arc<IngestStats>, retry_after: std::time::Duration) -> Self {
        InFlightPerHost { inner, in_flight: Arc::default(), stats, retry_after }
    }
}

impl<S: NamedService> NamedService for InFlightPerHost<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for InFlightPerHost<S>
where
    S: Service<http::Request<B>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let leaf = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(TlsConnectInfo::peer_certs)
            .and_then(|certs| certs.first().map(|leaf| leaf.to_vec()));
        let slot = match leaf {
            Some(leaf) => match Slot::take(&self.in_flight, leaf) {
                Some(slot) => Some(slot),
                None => {
                    self.stats.refused(Refusal::Overloaded);
                    let status = super::exhausted(
                        format!(
                            "this client certificate already has {MAX_IN_FLIGHT_PER_HOST} reports in flight; \
                             send one at a time"
                        ),
                        self.retry_after,
                    );
                    return Box::pin(std::future::ready(Ok(status.into_http())));
                }
            },
            None => None,
        };
        let response = self.inner.call(request);
        Box::pin(async move {
            let response = response.await;
            drop(slot);
            response
        })
    }
}

/// One report in flight for a certificate; given back on drop.
struct Slot {
    in_flight: Arc<Mutex<HashMap<Vec<u8>, usize>>>,
    leaf: Vec<u8>,
}

impl Slot {
    fn take(in_flight: &Arc<Mutex<HashMap<Vec<u8>, usize>>>, leaf: Vec<u8>) -> Option<Slot> {
        let mut map = in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        let count = map.entry(leaf.clone()).or_insert(0);
        if *count >= MAX_IN_FLIGHT_PER_HOST {
            return None;
        }
        *count += 1;
        Some(Slot { in_flight: in_flight.clone(), leaf })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
        // Entries go when their last report does: the map holds only hosts sending now.
        if let Some(count) = map.get_mut(&self.leaf) {
            *count -= 1;
            if *count == 0 {
                map.remove(&self.leaf);
            }
        }
    }
}
