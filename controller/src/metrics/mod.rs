//! `/metrics` in the Prometheus text format (0.0.4) on its own listen
//! address (`[metrics]`), so Prometheus can scrape the controller without
//! a certificate and without reaching the agent or admin APIs.
//!
//! - [`collect`] gathers a [`collect::Snapshot`] from the store, the engine
//!   and the ingest counters;
//! - [`families`] turns it into metric families (names, help, labels);
//! - [`text`] is the exposition encoder;
//! - [`http`] is the tiny HTTP/1.1 server answering `GET`/`HEAD /metrics`.
//!
//! Every scrape reads current state: nothing is cached, so the numbers are
//! never older than the scrape (10,000 hosts take tens of milliseconds).

pub mod collect;
pub mod families;
pub mod http;
pub mod text;

use std::net::SocketAddr;
use std::sync::Arc;

use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use collect::Sources;
use families::Process;

/// `[metrics]` in the controller's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// Serve `/metrics` at all.
    pub enabled: bool,
    /// Plain HTTP, no authentication: the metrics name hosts and lists but
    /// carry no keys or evidence. Bind to loopback or a management network.
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { enabled: true, listen: SocketAddr::from(([127, 0, 0, 1], 9464)) }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics.listen = {addr}: cannot listen: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// A bound metrics listener, not serving yet. Binding comes first so a busy
/// port fails start-up before anything else has started.
#[derive(Debug)]
pub struct Bound {
    listener: TcpListener,
    pub addr: SocketAddr,
}

/// Binds `config.listen`, or None when metrics are disabled.
pub async fn bind(config: &MetricsConfig) -> Result<Option<Bound>, MetricsError> {
    if !config.enabled {
        return Ok(None);
    }
    let bind_err = |source| MetricsError::Bind { addr: config.listen, source };
    let listener = TcpListener::bind(config.listen).await.map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    Ok(Some(Bound { listener, addr }))
}

/// The controller's exposition: a fresh snapshot per scrape.
struct Controller {
    sources: Sources,
    process: Process,
}

impl http::Exposition for Controller {
    fn render(&self) -> Result<String, String> {
        let snapshot = collect::collect(&self.sources, crate::clock::now_ms()).map_err(|e| e.to_string())?;
        Ok(families::render(&snapshot, self.process))
    }
}

/// Serves `/metrics` on `bound` until `stop` turns true.
pub fn spawn(bound: Bound, sources: Sources, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let process = Process { version: env!("CARGO_PKG_VERSION"), started_ms: crate::clock::now_ms() };
    tracing::info!(addr = %bound.addr, "serving Prometheus metrics at /metrics");
    tokio::spawn(http::serve(bound.listener, Arc::new(Controller { sources, process }), stop))
}
