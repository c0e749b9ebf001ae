//! `/metrics` in the Prometheus text format (0.0.4) on its own listen
//! address (`[metrics]`), so Prometheus can scrape the controller without
//! a certificate and without reaching the agent or admin APIs.
//!
//! - [`collector`] is the contract: each group of families is one
//!   collector, timed, and a failing one drops only its own families;
//! - [`collect`] reads the store, the engine and the ingest counters;
//! - [`families`] writes the metric families (names, help, labels);
//! - [`text`] is the exposition encoder;
//! - [`http`] serves `GET`/`HEAD /metrics` on hyper's HTTP/1 server.
//!
//! Every scrape reads current state: nothing is cached, so the numbers are
//! never older than the scrape (10,000 hosts take tens of milliseconds).

pub mod collect;
pub mod collector;
pub mod families;
pub mod http;
pub mod text;

use std::net::SocketAddr;
use std::sync::Arc;

use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use collect::{Scrape, Sources};
use collector::Collector;
use families::Process;
use text::Encoder;

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
    #[error("metrics.listen = {addr}: cannot listen: {cause}")]
    Bind { addr: SocketAddr, cause: std::io::Error },
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
    let bind_err = |cause| MetricsError::Bind { addr: config.listen, cause };
    let listener = TcpListener::bind(config.listen).await.map_err(bind_err)?;
    let addr = listener.local_addr().map_err(bind_err)?;
    Ok(Some(Bound { listener, addr }))
}

/// The controller's exposition: its collectors, run afresh on every scrape.
#[derive(Debug)]
pub struct ControllerMetrics {
    sources: Arc<Sources>,
    collectors: Vec<Collector<Scrape>>,
}

impl ControllerMetrics {
    pub fn new(sources: Sources, process: Process) -> ControllerMetrics {
        let mut collectors = vec![
            Collector::new("fleet", |s: &Scrape, e: &mut Encoder| {
                families::fleet(e, &collect::fleet(s)?);
                Ok(())
            }),
            Collector::new("agents", |s: &Scrape, e: &mut Encoder| {
                families::agents(e, &collect::agents(s)?);
                Ok(())
            }),
        ];
        // Zones exist only with blocklist checks on.
        if sources.engine.is_some() {
            collectors.push(Collector::new("zones", |s: &Scrape, e: &mut Encoder| {
                families::zones(e, s.zones()?.unwrap_or_default(), s.engine_leads());
                Ok(())
            }));
        }
        collectors.push(Collector::new("agent_certificates", |_: &Scrape, e: &mut Encoder| {
            families::agent_certificates(e, &crate::ca::expiry::registry().agents());
            Ok(())
        }));
        // Files on disk, read on every scrape: a renewed certificate shows
        // at once, and an unreadable one fails only this collector.
        if sources.tls.is_some() {
            collectors.push(Collector::new("certificates", |s: &Scrape, e: &mut Encoder| {
                let own = s.sources.tls.as_ref().map(|f| f.read()).transpose()?;
                families::certificates(e, own.as_deref().unwrap_or_default());
                Ok(())
            }));
        }
        if sources.tls_reload.is_some() {
            collectors.push(Collector::new("tls_reload", |s: &Scrape, e: &mut Encoder| {
                if let Some(tls) = &s.sources.tls_reload {
                    families::tls_reload(e, &tls.status());
                }
                Ok(())
            }));
        }
        // Roles are registered before the metrics start (`Daemon::start_with`).
        if !sources.roles.states().is_empty() {
            collectors.push(Collector::new("roles", |s: &Scrape, e: &mut Encoder| {
                families::roles(e, &s.sources.roles.states());
                Ok(())
            }));
        }
        // sled's data directory only: PostgreSQL's disk is the database
        // server's, watched by its own monitoring.
        if sources.store.watches_free_space() {
            collectors.push(Collector::new("disk", |s: &Scrape, e: &mut Encoder| {
                let (free, reserve) = collect::disk(&s.sources.store)?;
                families::disk(e, free, reserve);
                Ok(())
            }));
        }
        collectors.extend([
            Collector::new("ingest", |s: &Scrape, e: &mut Encoder| {
                families::ingest(e, &s.sources.ingest.snapshot());
                Ok(())
            }),
            Collector::new("store_writer", |s: &Scrape, e: &mut Encoder| {
                families::store_writer(e, &s.sources.store.commit_stats());
                Ok(())
            }),
            // Last, so its collect duration covers the others.
            Collector::new("controller", move |s: &Scrape, e: &mut Encoder| {
                families::controller(e, process, s.started.elapsed().as_secs_f64());
                Ok(())
            }),
        ]);
        ControllerMetrics { sources: Arc::new(sources), collectors }
    }

    /// One scrape's exposition at `now_ms`.
    pub fn scrape(&self, now_ms: i64) -> String {
        let scrape = Scrape::new(self.sources.clone(), now_ms);
        let mut e = Encoder::new();
        collector::collect_all(&self.collectors, &scrape, &mut e);
        e.finish()
    }
}

impl http::Exposition for ControllerMetrics {
    fn render(&self) -> Result<String, String> {
        Ok(self.scrape(crate::clock::now_ms()))
    }
}

/// Serves `/metrics` on `bound` until `stop` turns true.
pub fn spawn(bound: Bound, sources: Sources, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    let process = Process { version: env!("CARGO_PKG_VERSION"), started_ms: crate::clock::now_ms() };
    tracing::info!(addr = %bound.addr, "serving Prometheus metrics at /metrics");
    tokio::spawn(http::serve(bound.listener, Arc::new(ControllerMetrics::new(sources, process)), stop))
}

#[cfg(test)]
mod tests;
