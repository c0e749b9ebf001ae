//! The controller as one running thing: store, blocklist engine and gRPC
//! servers, started and stopped together. `rblfleet serve`, `rblfleet demo`
//! and the end-to-end tests all start it the same way.
//!
//! With `[store] controllers = "several"` the singleton work (engine,
//! alerts, retention) runs under an election per role (`roles`), so it
//! runs on one of the controllers sharing the database at a time; the
//! servers run on all of them. With `"single"` (and on sled) this
//! controller runs everything from start to shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::catalog::{Catalog, CatalogError};
use crate::config::{Config, Controllers, RetentionConfig};
use crate::dnsbl::engine::{Engine, EngineConfig};
use crate::dnsbl::health::HealthPolicy;
use crate::dnsbl::lookup::{LookupError, Lookups, ResolverSettings, public_resolver_warnings};
use crate::dnsbl::state::Cadence;
use crate::roles::Roles;
use crate::server::{self, Running, ServerError};
use crate::store::{Role, ServingLock, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Server(#[from] ServerError),
    /// Not `#[from]`: the message prints the catalog error, so it must be no
    /// error source as well (`{:#}` would print it twice).
    #[error("blocklist catalog: {0}")]
    Catalog(CatalogError),
    #[error(transparent)]
    Lookup(#[from] LookupError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
    #[error("{0}")]
    Config(String),
}

impl From<CatalogError> for DaemonError {
    fn from(cause: CatalogError) -> Self {
        DaemonError::Catalog(cause)
    }
}

/// A running controller.
#[derive(Debug)]
pub struct Daemon {
    pub servers: Running,
    pub store: Store,
    pub engine: Option<Engine>,
    /// Where `/metrics` is served (None when `metrics.enabled = false`).
    pub metrics_addr: Option<SocketAddr>,
    /// The singleton work and whether it runs here now (`/metrics`).
    pub roles: Roles,
    /// The PostgreSQL database's serving lock, held while this controller
    /// runs (None on sled). Dropped last, after the store's final writes.
    serving: Option<ServingLock>,
    stop: watch::Sender<bool>,
    engine_task: Option<JoinHandle<()>>,
    /// Tasks that stop when `stop` says so (pruning, alerts, metrics…),
    /// named for the log.
    background: Vec<(&'static str, JoinHandle<()>)>,
}

/// Deletes raw reports and roll-ups past their retention, now and every
/// `prune_every`, until `stop`.
async fn prune(store: Store, retention: RetentionConfig, mut stop: watch::Receiver<bool>) {
    loop {
        let now = crate::clock::now_ms();
        let ms = crate::clock::millis;
        let store = store.clone();
        let (raw, rollups) = (now.saturating_sub(ms(retention.raw)), now.saturating_sub(ms(retention.rollups)));
        match tokio::task::spawn_blocking(move || store.prune(raw, rollups)).await {
            Ok(Ok(pruned)) if pruned.reports + pruned.rollups > 0 => {
                tracing::info!(reports = pruned.reports, rollups = pruned.rollups, "old evidence pruned")
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::error!(%error, "pruning old evidence failed"),
            Err(error) => tracing::error!(%error, "pruning task failed"),
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            () = tokio::time::sleep(retention.prune_every) => {}
        }
    }
}

/// Starts `role`'s task: from now until `stop` when this controller is the
/// only one on its store, else for each term the database elects it for.
fn singleton<F, Fut>(
    mode: Controllers,
    roles: &Roles,
    store: &Store,
    role: Role,
    stop: watch::Receiver<bool>,
    mut start: F,
) -> Result<JoinHandle<()>, StoreError>
where
    F: FnMut(watch::Receiver<bool>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    match mode {
        Controllers::Single => {
            roles.runs_alone(role);
            Ok(tokio::spawn(start(stop)))
        }
        Controllers::Several => Ok(roles.run(store.leadership(role)?, stop, start)),
    }
}

/// One term of the alerts on a controller of several: runs until `stop`.
async fn alerts_term(
    alerts: crate::alerts::AlertsConfig,
    sources: crate::alerts::Sources,
    stop: watch::Receiver<bool>,
) {
    if let Err(error) = crate::alerts::run(&alerts, sources, stop).await {
        tracing::error!(%error, "alerts could not start");
    }
}

/// Makes SIGHUP harmless. Its default action ends the process, and it is
/// what `systemctl reload` (`ExecReload=`) and many operators' habits send.
/// With TLS the certificate watcher (`server/tls.rs`) reloads the files on
/// it, but installs its handler only once its task first runs; without TLS
/// (`serve --insecure`) nothing would handle it at all. A handler installed
/// here, before the servers start, closes both gaps: tokio keeps a signal
/// handler installed for the rest of the process once registered, so with
/// TLS this one is dropped at once and the watcher does the work, and
/// without TLS a task logs that there is nothing to reload.
#[cfg(unix)]
fn spawn_hangup(tls: bool, mut stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangup = signal(SignalKind::hangup())
        .map_err(|error| tracing::warn!(%error, "cannot install a SIGHUP handler: a SIGHUP would stop the controller"))
        .ok()?;
    if tls {
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                received = hangup.recv() => match received {
                    Some(()) => tracing::info!("SIGHUP ignored: no TLS files to reload (serve --insecure)"),
                    None => break,
                },
            }
        }
    }))
}

/// No SIGHUP outside Unix.
#[cfg(not(unix))]
fn spawn_hangup(_tls: bool, _stop: watch::Receiver<bool>) -> Option<JoinHandle<()>> {
    None
}

/// Withdraws receiver-side listings that the current bounce classifier no
/// longer reads as listings (after an upgrade). Before the engine, the
/// servers and the alerts start, so no alert announces the withdrawal as a
/// listing that cleared. Controllers sharing a database take turns at it
/// (`Store::take_turn`): the first withdraws and notes a case, the next
/// finds nothing left. A failure (another controller's turn longer than
/// `TURN_WAIT` included) is logged, not fatal: the controller works
/// without the repair, and the next start tries again.
fn heal(store: &Store, catalog: &Catalog) {
    match crate::cases::work::heal_receiver_listings(store, catalog, crate::clock::now_ms()) {
        Ok(healed) if healed.withdrawn > 0 => tracing::warn!(
            checked = healed.checked,
            withdrawn = healed.withdrawn,
            classifier = %crate::cases::work::classifier_id(),
            "receiver-side listings re-read: some were not listings and are withdrawn, their cases resolved"
        ),
        Ok(healed) => tracing::info!(checked = healed.checked, "receiver-side listings re-read: all still listings"),
        Err(error) => {
            tracing::error!(%error, "could not re-read receiver-side listings; trying again at the next start")
        }
    }
}

/// The catalog described by `config.dnsbl.catalog` (built in, overridden).
pub fn build_catalog(config: &Config) -> Result<Arc<Catalog>, DaemonError> {
    let mut catalog = Catalog::embedded()?;
    catalog.apply(&config.dnsbl.catalog)?;
    Ok(Arc::new(catalog))
}

/// Builds the blocklist engine described by `config.dnsbl`.
pub fn build_engine(config: &Config, store: Store, catalog: Arc<Catalog>) -> Result<Engine, DaemonError> {
    let dnsbl = &config.dnsbl;
    let settings = ResolverSettings {
        nameservers: dnsbl.nameserver_addrs().map_err(DaemonError::Config)?,
        timeout: dnsbl.timeout,
        retries: dnsbl.retries,
    };
    let lookups = Lookups::new(&settings)?;
    let warnings = public_resolver_warnings(lookups.nameservers(), &catalog.enabled());
    for warning in &warnings {
        tracing::warn!("{warning}");
    }
    let engine_config = EngineConfig {
        cadence: Cadence {
            clean: dnsbl.clean_interval,
            listed: dnsbl.listed_interval,
            error_min: dnsbl.error_retry_min,
            error_max: dnsbl.error_retry_max,
            clear_after: dnsbl.clear_after,
        },
        health: HealthPolicy { probe_every: dnsbl.probe_interval, ..HealthPolicy::default() },
        concurrency: dnsbl.concurrency,
        lift_budgets: dnsbl.lift_budgets,
        ..EngineConfig::default()
    };
    if dnsbl.lift_budgets {
        tracing::warn!("dnsbl.lift_budgets is set: zone query budgets are ignored");
    }
    Ok(Engine::new(catalog, lookups, store, engine_config, warnings)?)
}

impl Daemon {
    /// Opens the store, starts the engine (unless `dnsbl.enabled = false`)
    /// and the servers.
    pub async fn start(config: &Config, insecure: bool) -> Result<Daemon, DaemonError> {
        Daemon::start_with(config, insecure, true).await
    }

    /// Like `start`; with `run_engine` false the engine is built but runs no
    /// passes by itself (`rblfleet demo` runs them when its agents reported).
    pub async fn start_with(config: &Config, insecure: bool, run_engine: bool) -> Result<Daemon, DaemonError> {
        // First, so a taken port fails start-up before anything has started.
        let metrics = crate::metrics::bind(&config.metrics).await?;
        // `several` on sled would run two engines on two stores: refused
        // even when the caller skipped `Config::check`.
        config.store.check_backend().map_err(DaemonError::Config)?;
        let store = config.store.open(&config.data_dir)?;
        // Before anything reads or writes: one controller per database, or
        // only controllers that share it.
        let mode = config.store.controllers;
        let serving = store.take_serving_lock(mode.share())?;
        match (&serving, mode) {
            (Some(lock), Controllers::Single) => {
                tracing::info!(database = lock.database(), "serving lock taken: the only controller on this database")
            }
            (Some(lock), Controllers::Several) => tracing::info!(
                database = lock.database(),
                "serving lock taken (shared): one of several controllers on this database; \
                 the database elects who runs the engine, alerts and retention"
            ),
            (None, _) => {}
        }
        let catalog = build_catalog(config)?;
        heal(&store, &catalog);
        let engine =
            if config.dnsbl.enabled { Some(build_engine(config, store.clone(), catalog.clone())?) } else { None };
        let (stop, stopped) = watch::channel(false);
        let roles = Roles::default();
        let several = mode == Controllers::Several;
        // The files whose expiry /metrics and the alerts watch (not without TLS).
        let tls = (!insecure)
            .then(|| crate::ca::expiry::OwnFiles { cert: config.tls.cert.clone(), ca: config.tls.ca.clone() });
        let alerting = (!config.alerts.route.is_empty()).then(|| crate::alerts::Sources {
            store: store.clone(),
            catalog: catalog.clone(),
            engine: engine.clone(),
            tls: tls.clone(),
        });
        if several && alerting.is_some() {
            config.alerts.check().map_err(DaemonError::Config)?;
        }
        let engine_here = engine.clone().filter(|_| run_engine);
        // With several controllers, alerts ride the engine's term where
        // there is one: zone health is in the engine's memory (`roles`).
        let riding = alerting.clone().filter(|_| several && engine_here.is_some());
        let engine_task = match engine_here {
            Some(engine) if several => {
                let alerts = config.alerts.clone();
                let riders: &[Role] = if riding.is_some() { &[Role::Alerts] } else { &[] };
                let term = move |stop: watch::Receiver<bool>| {
                    let (engine, riding, alerts) = (engine.clone(), riding.clone(), alerts.clone());
                    async move {
                        match riding {
                            Some(sources) => {
                                tokio::join!(engine.lead(stop.clone()), alerts_term(alerts, sources, stop));
                            }
                            // A term re-reads what the previous leader's engine stored.
                            None => engine.lead(stop).await,
                        }
                    }
                };
                Some(roles.run_with(store.leadership(Role::Engine)?, riders, stopped.clone(), term))
            }
            Some(engine) => Some(singleton(mode, &roles, &store, Role::Engine, stopped.clone(), move |stop| {
                let engine = engine.clone();
                async move { engine.run(stop).await }
            })?),
            None => None,
        };
        let (prune_store, retention) = (store.clone(), config.retention.clone());
        let pruning = singleton(mode, &roles, &store, Role::Retention, stopped.clone(), move |stop| {
            prune(prune_store.clone(), retention.clone(), stop)
        })?;
        let mut background = vec![("pruning", pruning)];
        // Before anything serves, so no SIGHUP from then on can stop it.
        background.extend(spawn_hangup(!insecure, stopped.clone()).map(|task| ("SIGHUP", task)));
        let alerts_rode = several && engine_task.is_some();
        if let Some(sources) = alerting.filter(|_| !alerts_rode) {
            let alerts = match mode {
                // The baseline is taken before the servers start, and a
                // route that cannot be built fails the start.
                Controllers::Single => {
                    roles.runs_alone(Role::Alerts);
                    crate::alerts::spawn(&config.alerts, sources, stopped.clone())
                        .await
                        .map_err(|e| DaemonError::Config(e.to_string()))?
                }
                Controllers::Several => {
                    let alerts = config.alerts.clone();
                    let term = move |stop| alerts_term(alerts.clone(), sources.clone(), stop);
                    singleton(mode, &roles, &store, Role::Alerts, stopped.clone(), term)?
                }
            };
            background.push(("alerts", alerts));
        }
        let servers = server::start(config, store.clone(), engine.clone(), catalog, insecure).await?;
        // Metrics read the agent API's ingest counters, so they start after it.
        let metrics_addr = metrics.as_ref().map(|m| m.addr);
        if let Some(bound) = metrics {
            let sources = crate::metrics::collect::Sources {
                store: store.clone(),
                engine: engine.clone(),
                ingest: servers.ingest.clone(),
                tls,
                tls_reload: servers.tls.clone(),
                roles: roles.clone(),
            };
            background.push(("metrics", crate::metrics::spawn(bound, sources, stopped.clone())));
        }
        Ok(Daemon { servers, store, engine, metrics_addr, roles, serving, stop, engine_task, background })
    }

    /// Resolves, with why, when the PostgreSQL serving lock is lost (its
    /// connection died, see `store::pg::serving`); never on sled. The
    /// caller must then stop serving: `rblfleet serve` shuts down and exits
    /// non-zero, for systemd to start it again.
    pub async fn lock_lost(&mut self) -> String {
        match &mut self.serving {
            Some(lock) => lock.lost().await,
            None => std::future::pending().await,
        }
    }

    /// Stops the engine and the servers, then flushes the store.
    pub async fn shutdown(self) -> Result<(), DaemonError> {
        let _ = self.stop.send(true);
        if let Some(task) = self.engine_task {
            let _ = task.await;
        }
        for (what, task) in self.background {
            if let Err(error) = task.await {
                tracing::error!(%error, "the {what} task failed");
            }
        }
        self.servers.shutdown().await?;
        self.store.flush().await?;
        drop(self.serving);
        let commits = self.store.commit_stats();
        tracing::info!(
            batches = commits.batches,
            reports = commits.reports,
            apply_seconds = commits.apply_seconds,
            flush_seconds = commits.flush_seconds,
            "store writer totals"
        );
        Ok(())
    }
}
