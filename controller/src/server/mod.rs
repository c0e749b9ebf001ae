//! The controller's two gRPC listeners. No other module knows tonic's server side.
//!
//! - The agent API always uses mutual TLS: the client certificate's identity is
//!   the host id, checked against every report (`--insecure` excepted).
//! - The admin API listens on loopback in plaintext by default (like the local
//!   API of most daemons: anyone who can run commands on the controller box can
//!   use it), or over mutual TLS with admin certificates when
//!   `admin_api.require_cert` is set, which any non-loopback address requires.
//! - TLS is our own acceptor (`incoming.rs`) with a configuration reloaded
//!   from its files (`tls.rs`), so a renewed certificate needs no restart.

mod admin;
mod agent;
mod backup;
mod incoming;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rblfleet_proto::v1::admin_service_server::AdminServiceServer;
use rblfleet_proto::v1::agent_service_server::AgentServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::Server;
use tonic::{Request, Status};

use crate::catalog::Catalog;
use crate::config::Config;
use crate::dnsbl::engine::Engine;
use crate::identity::{self, Identity, Role};
use crate::ingest::{IngestStats, Pipeline};
use crate::store::Store;

/// Why the servers could not start or stopped.
///
/// Each message carries its cause (a `cause` field is no error source, so
/// `{:#}` prints it once).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("TLS setup failed (check tls.cert, tls.key and tls.ca): {cause}")]
    Tls { cause: tls::TlsError },
    #[error("cannot listen on {addr} ({what}): {cause}")]
    Bind { addr: SocketAddr, what: &'static str, cause: std::io::Error },
    #[error("the {what} server failed: {}", transport_reason(cause))]
    Serve { what: &'static str, cause: tonic::transport::Error },
    #[error("the {what} server task panicked")]
    Panicked { what: &'static str },
    #[error("{0}")]
    Actions(crate::contain::ContainError),
}

/// Servers that are listening; dropped or shut down, they stop.
#[derive(Debug)]
pub struct Running {
    /// The address the agent API is bound to (useful when the config said port 0).
    pub agent_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// What the agent API did with reports (for `/metrics`).
    pub ingest: Arc<IngestStats>,
    /// The TLS configuration in service (None with `--insecure`): its
    /// `status()` says whether the newest files on disk loaded.
    pub tls: Option<Arc<tls::ReloadingTls>>,
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<Result<(), tonic::transport::Error>>)>,
}

impl Running {
    /// Stops accepting, lets in-flight requests finish, and waits.
    pub async fn shutdown(self) -> Result<(), ServerError> {
        let _ = self.stop.send(true);
        self.wait().await
    }

    /// Waits until the servers stop (after `shutdown`, or on a fatal error).
    pub async fn wait(self) -> Result<(), ServerError> {
        for (what, task) in self.tasks {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(cause)) => return Err(ServerError::Serve { what, cause }),
                Err(_) => return Err(ServerError::Panicked { what }),
            }
        }
        Ok(())
    }
}

/// Binds both listeners and serves until `Running::shutdown`.
/// `engine`, when blocklist checks are on, answers the admin API's zone and
/// IP queries and is told about IPs named by blocklist bounces.
pub async fn start(
    config: &Config,
    store: Store,
    engine: Option<Engine>,
    catalog: Arc<Catalog>,
    insecure: bool,
) -> Result<Running, ServerError> {
    let (stop, stopped) = watch::channel(false);
    let agent_listener = bind(config.agent_api.listen, "agent API").await?;
    let admin_listener = bind(config.admin_api.listen, "admin API").await?;
    let agent_addr = local_addr(&agent_listener, config.agent_api.listen, "agent API")?;
    let admin_addr = local_addr(&admin_listener, config.admin_api.listen, "admin API")?;

    let tls = match insecure {
        true => None,
        false => Some(Arc::new(tls::ReloadingTls::load(&config.tls).map_err(|cause| ServerError::Tls { cause })?)),
    };
    let containment =
        Arc::new(crate::contain::Containment::from_config(&config.actions).map_err(ServerError::Actions)?);

    let ingest = Arc::new(IngestStats::default());
    let agent_service = agent::AgentApi {
        stats: ingest.clone(),
        pipeline: Pipeline {
            store: store.clone(),
            engine: engine.clone(),
            catalog: catalog.clone(),
            receivers: config.receivers.policy(),
            limits: config.limits.ingest(),
            detectors: Default::default(),
        },
        retry_after: config.limits.overload_retry_after,
        insecure,
    };
    let agent_grpc = AgentServiceServer::new(agent_service).max_decoding_message_size(config.limits.max_report_bytes);
    let agent_router = base_server().add_service(agent::InFlightPerHost::new(
        agent_grpc,
        ingest.clone(),
        config.limits.overload_retry_after,
    ));

    let require_admin_cert = !insecure && config.admin_api.require_cert;
    let admin_router = base_server().add_service(AdminServiceServer::new(admin::AdminApi::new(
        store,
        engine,
        catalog,
        require_admin_cert,
        containment,
    )));

    // The same listener either way; only the stream type differs, hence two spawns.
    let agent_task = match &tls {
        Some(tls) => tokio::spawn(agent_router.serve_with_incoming_shutdown(
            incoming::tls_incoming(agent_listener, tls.clone(), "agent API"),
            wait_for(stopped.clone()),
        )),
        None => tokio::spawn(
            agent_router
                .serve_with_incoming_shutdown(TcpListenerStream::new(agent_listener), wait_for(stopped.clone())),
        ),
    };
    let admin_task = match (require_admin_cert, &tls) {
        (true, Some(tls)) => tokio::spawn(admin_router.serve_with_incoming_shutdown(
            incoming::tls_incoming(admin_listener, tls.clone(), "admin API"),
            wait_for(stopped.clone()),
        )),
        _ => tokio::spawn(
            admin_router
                .serve_with_incoming_shutdown(TcpListenerStream::new(admin_listener), wait_for(stopped.clone())),
        ),
    };
    if let Some(tls) = &tls {
        tokio::spawn(tls::watch(tls.clone(), config.tls.reload_interval, stopped));
    }
    let tasks = vec![("agent API", agent_task), ("admin API", admin_task)];
    tracing::info!(%agent_addr, %admin_addr, admin_mtls = require_admin_cert, "controller listening");
    Ok(Running { agent_addr, admin_addr, ingest, tls, stop, tasks })
}

fn base_server() -> Server {
    Server::builder()
        .timeout(Duration::from_secs(30))
        .concurrency_limit_per_connection(64)
        .http2_keepalive_interval(Some(Duration::from_secs(60)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
}

async fn wait_for(mut stopped: watch::Receiver<bool>) {
    // An error means the sender is gone: stop as well.
    let _ = stopped.wait_for(|stop| *stop).await;
}

async fn bind(addr: SocketAddr, what: &'static str) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr).await.map_err(|cause| ServerError::Bind { addr, what, cause })
}

fn local_addr(listener: &TcpListener, addr: SocketAddr, what: &'static str) -> Result<SocketAddr, ServerError> {
    listener.local_addr().map_err(|cause| ServerError::Bind { addr, what, cause })
}

/// Why tonic failed: its own message is only "transport error", the reason
/// is in its sources, joined here so the message alone is complete.
fn transport_reason(error: &tonic::transport::Error) -> String {
    let mut reason = String::new();
    let mut next = std::error::Error::source(error);
    while let Some(cause) = next {
        if !reason.is_empty() {
            reason.push_str(": ");
        }
        reason.push_str(&cause.to_string());
        next = cause.source();
    }
    if reason.is_empty() { error.to_string() } else { reason }
}

/// The rblfleet identity of the TLS peer, which must have `role`.
fn peer_identity<T>(request: &Request<T>, role: Role) -> Result<Identity, Status> {
    let certs = request.peer_certs().ok_or_else(|| Status::unauthenticated("no client certificate was presented"))?;
    let leaf = certs.first().ok_or_else(|| Status::unauthenticated("no client certificate was presented"))?;
    let identity = identity::from_der(leaf).map_err(|e| Status::permission_denied(e.to_string()))?;
    if identity.role != role {
        return Err(Status::permission_denied(format!(
            "this API needs an {role} certificate, but the client certificate is for {identity}"
        )));
    }
    Ok(identity)
}

/// Maps a storage failure to a status the agent retries.
fn storage_status(error: &crate::store::StoreError) -> Status {
    tracing::error!(%error, "storage error");
    Status::unavailable(format!("the controller cannot store data right now: {error}"))
}

/// The metadata key of the retry hint on a `RESOURCE_EXHAUSTED` answer, in
/// milliseconds: defined once in `proto`, so the two sides cannot disagree.
pub use rblfleet_proto::contract::RETRY_PUSHBACK_KEY;

/// A refusal the agent should retry later: the controller is over capacity
/// or cannot store right now. The report stays in the agent's outbox.
pub(crate) fn exhausted(message: String, retry_after: Duration) -> Status {
    let mut status = Status::resource_exhausted(message);
    let millis = retry_after.as_millis().to_string();
    if let Ok(value) = millis.parse() {
        status.metadata_mut().insert(RETRY_PUSHBACK_KEY, value);
    }
    status
}
