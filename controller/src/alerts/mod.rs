//! Alerts: tell people when the fleet changes, by webhook (generic JSON,
//! Slack, Microsoft Teams) and e-mail through an SMTP relay.
//!
//! ```text
//!  every poll_interval        every window                 per route, own task
//!  store/views/engine ─▶ snapshot ─diff─▶ events ─▶ batch ─▶ filter+render ─▶ queue ─▶ deliver (retry)
//!  (read only)          (baseline = the state at start-up: never alerted)
//! ```
//!
//! Certificate expiries come from the agent API's registry of client
//! certificates and the controller's own files ([`certs`]).
//!
//! The detector only reads state and never waits for a delivery: each route
//! has a bounded queue and a task of its own ([`deliver`]), so a dead
//! endpoint costs retries in that task and nothing elsewhere.

pub mod batch;
pub mod body;
pub mod certs;
pub mod config;
pub mod deliver;
pub mod detect;
pub mod event;
pub mod route;
pub mod snapshot;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use config::AlertsConfig;
pub use deliver::DeliveryError;

use self::batch::Batcher;
use self::body::{Redactor, render};
use self::config::RouteKind;
use self::deliver::{Email, Transport, Webhook, Worker};
use self::detect::Snapshot;
use self::event::{Event, EventKind, Severity};
use crate::catalog::Catalog;
use crate::dnsbl::engine::Engine;
use crate::store::{Store, StoreError};
use crate::views::Context;

/// What the detector reads.
#[derive(Debug, Clone)]
pub struct Sources {
    pub store: Store,
    pub catalog: Arc<Catalog>,
    /// None when blocklist checks are off (no zone health then).
    pub engine: Option<Engine>,
    /// The controller's certificate and CA files, for expiry alerts; None
    /// without TLS (`serve --insecure`).
    pub tls: Option<crate::ca::expiry::OwnFiles>,
}

/// Counters of the alerts task (for logs, tests and `/metrics`).
#[derive(Debug, Default)]
pub struct AlertStats {
    /// Sweeps compared with the previous one (the baseline is not counted).
    pub sweeps: AtomicU64,
    pub sweep_errors: AtomicU64,
    pub events: AtomicU64,
    /// Messages handed to a route's queue.
    pub queued: AtomicU64,
    /// Messages dropped because a route's queue was full.
    pub dropped: AtomicU64,
    pub delivered: AtomicU64,
    /// Failed attempts that were tried again.
    pub retries: AtomicU64,
    /// Messages given up after every attempt failed.
    pub failed: AtomicU64,
}

/// Why alerts cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error("{0}")]
    Config(String),
    #[error("alerts route \"{route}\": {cause}")]
    Route { route: String, cause: DeliveryError },
    /// Not `#[from]`: the message prints it, so it must be no error source.
    #[error("alerts: reading the fleet state: {0}")]
    Store(StoreError),
    #[error("alerts: the state-reading task failed: {0}")]
    Task(String),
}

impl From<StoreError> for AlertsError {
    fn from(cause: StoreError) -> Self {
        AlertsError::Store(cause)
    }
}

/// The running alerts task.
#[derive(Debug)]
pub struct Alerts {
    pub stats: Arc<AlertStats>,
    pub task: JoinHandle<()>,
}

/// Checks the config, builds each route's transport and takes the baseline
/// (so what is known when this returns is never alerted), then runs until
/// `stop`.
pub async fn start(
    config: &AlertsConfig,
    sources: Sources,
    stop: watch::Receiver<bool>,
) -> Result<Alerts, AlertsError> {
    let (detector, baseline) = prepare(config, sources, &stop).await?;
    let stats = detector.stats.clone();
    let task = tokio::spawn(detector.run(baseline, stop));
    Ok(Alerts { stats, task })
}

/// [`start`], run in the caller's task until `stop`: one term of a
/// controller that leads the alerts (`roles`). Its baseline is the state
/// when it takes over, so nothing the previous leader could have alerted
/// is sent again; what changed between the previous leader's last sweep
/// and this baseline is not alerted at all.
pub async fn run(config: &AlertsConfig, sources: Sources, stop: watch::Receiver<bool>) -> Result<(), AlertsError> {
    let (detector, baseline) = prepare(config, sources, &stop).await?;
    detector.run(baseline, stop).await;
    Ok(())
}

async fn prepare(
    config: &AlertsConfig,
    sources: Sources,
    stop: &watch::Receiver<bool>,
) -> Result<(Detector, Snapshot), AlertsError> {
    config.check().map_err(AlertsError::Config)?;
    let transports = transports(config)?;
    let (baseline, _) = sweep(&sources, None).await?;
    let stats = Arc::new(AlertStats::default());
    let workers: Vec<Worker> = config
        .route
        .iter()
        .zip(transports)
        .map(|(r, t)| {
            deliver::spawn(r.name.clone(), t, config.retry.clone(), config.queue_size, stats.clone(), stop.clone())
        })
        .collect();
    tracing::info!(
        routes = config.route.len(),
        listings = baseline.listings.len(),
        hosts = baseline.hosts.len(),
        "alerts on; the current state is the baseline"
    );
    let detector =
        Detector { config: config.clone(), redactor: Redactor::new(&sources.catalog), sources, stats, workers };
    Ok((detector, baseline))
}

/// [`start`] for the daemon's list of background tasks.
pub async fn spawn(
    config: &AlertsConfig,
    sources: Sources,
    stop: watch::Receiver<bool>,
) -> Result<JoinHandle<()>, AlertsError> {
    Ok(start(config, sources, stop).await?.task)
}

/// One transport per route, in route order.
fn transports(config: &AlertsConfig) -> Result<Vec<Transport>, AlertsError> {
    let password = match &config.smtp {
        Some(smtp) if config.route.iter().any(|r| r.kind == RouteKind::Email) => {
            smtp.password().map_err(AlertsError::Config)?
        }
        _ => None,
    };
    config
        .route
        .iter()
        .map(|r| {
            let transport = match (r.kind, &config.smtp, &r.url, &r.from) {
                (RouteKind::Email, Some(smtp), _, Some(from)) => {
                    Email::new(smtp, password.clone(), from, &r.to, config.retry.timeout).map(Transport::Email)
                }
                (_, _, Some(url), _) => Webhook::new(url).map(Transport::Webhook),
                _ => Err(DeliveryError::Setup("incomplete route (config check missed it)".into())),
            };
            transport.map_err(|cause| AlertsError::Route { route: r.name.clone(), cause })
        })
        .collect()
}

/// Reads the state now and, given the previous snapshot, the events since.
async fn sweep(
    sources: &Sources,
    prev: Option<(Snapshot, AlertsConfig)>,
) -> Result<(Snapshot, Vec<Event>), AlertsError> {
    let sources = sources.clone();
    tokio::task::spawn_blocking(move || {
        let ctx = Context {
            store: &sources.store,
            catalog: &sources.catalog,
            engine: sources.engine.as_ref(),
            now_ms: crate::clock::now_ms(),
        };
        let mut cur = snapshot::collect(&ctx)?;
        cur.certs = certs::collect(sources.tls.as_ref());
        let mut events = match &prev {
            Some((prev, config)) => detect::diff(prev, &cur, &config.thresholds),
            None => Vec::new(),
        };
        snapshot::add_suspects(&ctx, &mut events)?;
        Ok((cur, events))
    })
    .await
    .map_err(|e| AlertsError::Task(e.to_string()))?
}

struct Detector {
    config: AlertsConfig,
    sources: Sources,
    redactor: Redactor,
    stats: Arc<AlertStats>,
    workers: Vec<Worker>,
}

impl Detector {
    async fn run(self, baseline: Snapshot, mut stop: watch::Receiver<bool>) {
        let mut prev = baseline;
        let mut batcher = Batcher::new(self.config.window);
        let mut next_sweep = Instant::now() + self.config.poll_interval;
        loop {
            let wake = batcher.closes_at().map_or(next_sweep, |c| c.min(next_sweep));
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                () = tokio::time::sleep_until(wake.into()) => {}
            }
            if Instant::now() >= next_sweep {
                match sweep(&self.sources, Some((prev.clone(), self.config.clone()))).await {
                    Ok((cur, events)) => {
                        self.stats.sweeps.fetch_add(1, Ordering::Relaxed);
                        self.stats.events.fetch_add(events.len() as u64, Ordering::Relaxed);
                        for e in &events {
                            tracing::info!(
                                severity = e.severity.as_str(),
                                "alert: {}",
                                self.redactor.apply(&e.title())
                            );
                        }
                        batcher.push(events, Instant::now());
                        prev = cur;
                    }
                    Err(error) => {
                        self.stats.sweep_errors.fetch_add(1, Ordering::Relaxed);
                        tracing::error!(%error, "alerts: reading the fleet state failed; trying again next sweep");
                    }
                }
                next_sweep = Instant::now() + self.config.poll_interval;
            }
            if let Some(events) = batcher.take_due(Instant::now()) {
                self.dispatch(&events);
            }
        }
        // Stopping: what was detected still goes out (the workers drain their queues).
        if let Some(at) = batcher.closes_at()
            && let Some(events) = batcher.take_due(at)
        {
            self.dispatch(&events);
        }
        for worker in self.workers {
            drop(worker.queue);
            if let Err(error) = worker.task.await {
                tracing::error!(route = worker.route, %error, "alert delivery task failed");
            }
        }
    }

    /// Hands each route its message; never waits.
    fn dispatch(&self, events: &[Event]) {
        let now = crate::clock::now_ms();
        for (i, mine) in batch::per_route(&self.config.route, events) {
            let (route, worker) = (&self.config.route[i], &self.workers[i]);
            let message = render(route.kind, &mine, now, &self.redactor);
            match worker.queue.try_send(message) {
                Ok(()) => {
                    self.stats.queued.fetch_add(1, Ordering::Relaxed);
                }
                Err(mpsc::error::TrySendError::Full(m)) => {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(route = route.name, subject = %m.subject, "alert dropped: the route's queue is full (its endpoint keeps failing)");
                }
                Err(mpsc::error::TrySendError::Closed(m)) => {
                    self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(route = route.name, subject = %m.subject, "alert dropped: the route's delivery task has ended");
                }
            }
        }
    }
}

/// Sends one test alert through every route (filters ignored), once each,
/// and says how each went. For `rblfleet alerts test`.
pub async fn send_test(
    config: &AlertsConfig,
    catalog: &Catalog,
    note: &str,
) -> Result<Vec<(String, Result<(), DeliveryError>)>, AlertsError> {
    config.check().map_err(AlertsError::Config)?;
    let redactor = Redactor::new(catalog);
    let now = crate::clock::now_ms();
    let event = Event { severity: Severity::Info, at_ms: now, kind: EventKind::Test { note: note.to_string() } };
    let mut results = Vec::new();
    for (route, transport) in config.route.iter().zip(transports(config)?) {
        let message = render(route.kind, std::slice::from_ref(&event), now, &redactor);
        results.push((route.name.clone(), transport.send(&message, config.retry.timeout).await));
    }
    Ok(results)
}
