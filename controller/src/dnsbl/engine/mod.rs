//! The blocklist engine inside `rblfleet serve`: which (IP or domain, zone)
//! pairs to check, when, and within which budget; and what to remember
//! afterwards.
//!
//! Every IP of every host's latest report (public ones, and NAT-published
//! addresses) is checked once however many hosts carry it, and so is every
//! registrable domain the hosts serve or send with (on the domain zones).
//! A pass probes the zones whose health check is due, then sends every due
//! pair its zone's budget allows, in the order `due` explains, with bounded
//! concurrency; what is not allowed now stays due.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::budget::{Bucket, utc_day};
use super::health::{Health, HealthPolicy};
use super::lookup::{Lookups, Outcome, Status};
use super::state::Cadence;
use crate::catalog::{Catalog, Target, Zone, target_from_key};
use crate::clock::now_ms;
use crate::store::{Store, StoreError};

mod counters;
mod due;
mod forced;
mod probe;
mod record;
mod resume;
mod select;
mod status;
mod txt;

use due::Due;
pub use due::WatchedName;

pub use counters::{LookupCounters, ZONE_STATES, ZoneMetrics, is_listed};
pub use status::ZoneState;

/// How often the watched domains are read again from a store other
/// controllers write too.
pub const DOMAINS_REREAD: Duration = Duration::from_secs(60);

/// How the engine runs.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub cadence: Cadence,
    pub health: HealthPolicy,
    /// Lookups in flight at once, across zones.
    pub concurrency: usize,
    /// Pause between passes.
    pub tick: Duration,
    /// Ignore the catalog's budgets (benchmarks only; production obeys them).
    pub lift_budgets: bool,
    /// Lookups one pass sends at most; the rest stays due for the next pass
    /// (bounds the memory of a first sweep over hundreds of thousands of domains).
    pub max_per_pass: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            cadence: Cadence::default(),
            health: HealthPolicy::default(),
            concurrency: 64,
            tick: Duration::from_secs(1),
            lift_budgets: false,
            max_per_pass: 50_000,
        }
    }
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassStats {
    pub probes: usize,
    pub checks: usize,
    pub listed: usize,
    pub errors: usize,
    /// Due pairs left for later because a budget said no.
    pub deferred: usize,
    pub watched_ips: usize,
    pub watched_domains: usize,
    /// Checks sent per priority class: forced by a bounce, IPs and sending
    /// domains, the other domains.
    pub by_class: [usize; 3],
}

struct ZoneRuntime {
    zone: Arc<Zone>,
    health: Health,
    bucket: Bucket,
    queries_total: u64,
    errors_total: u64,
    exhausted: Option<String>,
    counters: LookupCounters,
}

#[derive(Default)]
struct EngineState {
    zones: Vec<ZoneRuntime>,
    /// Next due time per (target, zone index); missing = due now.
    due: Due,
    /// The watched domains, rebuilt when the store's domain generation moves.
    domains: Arc<Vec<WatchedName>>,
    domains_generation: Option<u64>,
    /// When `domains` was read from the store.
    domains_read: Option<Instant>,
    /// Stored forced rechecks claimed and not yet finished (`forced`).
    claims: forced::Claims,
}

/// The engine. Cheap to clone; clones share state.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    catalog: Arc<Catalog>,
    lookups: Lookups,
    store: Store,
    config: EngineConfig,
    warnings: Vec<String>,
    state: Mutex<EngineState>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("zones", &self.lock().zones.len()).finish_non_exhaustive()
    }
}

impl Engine {
    /// Prepares checks of the catalog's enabled zones. Due times are restored
    /// from the store, so a restart does not re-check everything at once.
    pub fn new(
        catalog: Arc<Catalog>,
        lookups: Lookups,
        store: Store,
        config: EngineConfig,
        warnings: Vec<String>,
    ) -> Result<Engine, StoreError> {
        let now = now_ms();
        let day = utc_day(now);
        let started = Instant::now();
        let mut zones = Vec::new();
        for zone in catalog.enabled() {
            let used = store.zone_usage(&zone.id, day)?;
            let bucket = Bucket::new(zone.budget.per_second, zone.budget.per_day, started, day, used);
            zones.push(ZoneRuntime {
                zone: Arc::new(zone.clone()),
                health: Health::default(),
                bucket,
                queries_total: 0,
                errors_total: 0,
                exhausted: None,
                counters: LookupCounters::default(),
            });
        }
        let index: HashMap<&str, usize> = zones.iter().enumerate().map(|(i, z)| (z.zone.id.as_str(), i)).collect();
        let kinds: Vec<_> = zones.iter().map(|z| z.zone.kind).collect();
        let mut due = Due::new(&kinds);
        let mut listed = vec![0; zones.len()];
        for check in store.all_checks()? {
            if let Some(&i) = index.get(check.zone_id.as_str()) {
                due.set(&target_from_key(&check.ip), i, check.next_due_ms);
                listed[i] += u64::from(counters::is_listed(&check));
            }
        }
        zones.iter_mut().zip(listed).for_each(|(rt, n)| rt.counters.listed_ips = n);
        let state = EngineState { zones, due, ..EngineState::default() };
        Ok(Engine { inner: Arc::new(Inner { catalog, lookups, store, config, warnings, state: Mutex::new(state) }) })
    }

    fn lock(&self) -> MutexGuard<'_, EngineState> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn catalog(&self) -> &Catalog {
        &self.inner.catalog
    }

    pub fn lookups(&self) -> &Lookups {
        &self.inner.lookups
    }

    pub fn warnings(&self) -> &[String] {
        &self.inner.warnings
    }

    /// Checks `ip` on every zone at the next pass (a blocklist bounce named
    /// it), wherever the engine runs (`forced`).
    pub fn recheck(&self, ip: IpAddr) {
        self.force(Target::Ip(ip));
    }

    /// Checks `domain` (wire form; reduced to its registrable domain) on
    /// every domain zone at the next pass, before anything else: a refusal
    /// of family "domain" named it.
    pub fn recheck_domain(&self, domain: &str) {
        self.force(Target::domain(domain));
    }

    /// The registrable domains to watch, sending ones flagged. Rebuilt from
    /// the store only when a report changed a host's domains; on a store
    /// other controllers write too (whose reports this process's
    /// generation does not see), also every [`DOMAINS_REREAD`].
    pub fn watched_domains(&self) -> Result<Arc<Vec<WatchedName>>, StoreError> {
        let generation = self.inner.store.domains_generation();
        {
            let state = self.lock();
            let stale =
                self.inner.store.is_shared() && state.domains_read.is_none_or(|read| read.elapsed() >= DOMAINS_REREAD);
            if state.domains_generation == Some(generation) && !stale {
                return Ok(state.domains.clone());
            }
        }
        let names: Vec<WatchedName> = self
            .inner
            .store
            .watched_domains(crate::catalog::registrable)?
            .into_iter()
            .map(|(name, w)| WatchedName { sends: w.sends(), name })
            .collect();
        let names = Arc::new(names);
        let mut state = self.lock();
        state.domains = names.clone();
        state.domains_generation = Some(generation);
        state.domains_read = Some(Instant::now());
        Ok(names)
    }

    /// The IPs to watch, each with the hosts whose latest report carries it.
    pub fn watched(&self) -> Result<BTreeMap<IpAddr, Vec<String>>, StoreError> {
        Ok(crate::fleet::watched_ips(&self.inner.store.list_hosts()?))
    }

    /// Runs passes every `tick` until `stop` turns true.
    pub fn spawn(self, stop: watch::Receiver<bool>) -> JoinHandle<()> {
        tokio::spawn(self.run(stop))
    }

    /// Passes every `tick` until `stop` turns true. Dropping the future
    /// mid-pass (a lost leadership) drops the pass's lookups with it.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            match self.pass().await {
                Ok(stats) if stats.checks + stats.probes > 0 => tracing::debug!(?stats, "blocklist pass"),
                Ok(_) => {}
                Err(error) => tracing::error!(%error, "blocklist pass failed"),
            }
            tokio::select! {
                _ = stop.wait_for(|s| *s) => break,
                () = tokio::time::sleep(self.inner.config.tick) => {}
            }
        }
    }

    /// One pass: due probes, then due checks within budget. Waits for them.
    pub async fn pass(&self) -> Result<PassStats, StoreError> {
        self.take_stored_rechecks()?;
        let mut stats = PassStats { probes: self.probe_due_zones().await?, ..PassStats::default() };
        let watched = self.watched()?;
        let ips: Vec<IpAddr> = watched.keys().copied().collect();
        let domains = self.watched_domains()?;
        stats.watched_ips = ips.len();
        stats.watched_domains = domains.len();
        let now = now_ms();
        let day = utc_day(now);
        let batch = self.select(&ips, &domains, now, day, &mut stats);
        let mut per_zone: HashMap<usize, u64> = HashMap::new();
        for (i, _, _) in &batch {
            *per_zone.entry(*i).or_default() += 1;
        }
        // Counted before the queries go out: a controller killed mid-batch
        // has then spent its share of the fleet's budget in the store, and
        // the engine that takes over does not spend it again (at worst a
        // killed batch's queries count without having been sent).
        for (i, n) in per_zone {
            self.count_usage(i, day, n)?;
        }
        let mut outcomes = self.run_batch(batch).await;
        self.fetch_txts(&mut outcomes, day).await?;
        for (_, outcome) in &outcomes {
            stats.checks += 1;
            match outcome.status {
                Status::Listed => stats.listed += 1,
                Status::Error => stats.errors += 1,
                _ => {}
            }
        }
        self.record_all(&outcomes)?;
        // Only now: a pass that fails before here leaves them claimed, and
        // the next pass (or leader) checks them.
        self.finish_stored_rechecks()?;
        Ok(stats)
    }

    /// Runs the lookups; a lookup task that panicked comes back as an error
    /// outcome, so its zone's health sees it and the pair is retried later.
    async fn run_batch(&self, batch: Vec<(usize, Arc<Zone>, Target)>) -> Vec<(usize, Outcome)> {
        let limit = Arc::new(Semaphore::new(self.inner.config.concurrency.clamp(1, Semaphore::MAX_PERMITS)));
        let mut tasks = JoinSet::new();
        let mut started = HashMap::new();
        for (i, zone, ip) in batch {
            let lookups = self.inner.lookups.clone();
            let limit = limit.clone();
            let task_zone = zone.clone();
            let task_target = ip.clone();
            let handle = tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                (i, lookups.verdict(&task_zone, &task_target).await)
            });
            started.insert(handle.id(), (i, zone, ip));
        }
        let mut done = Vec::with_capacity(tasks.len());
        while let Some(result) = tasks.join_next_with_id().await {
            match result {
                Ok((_, pair)) => done.push(pair),
                Err(error) => {
                    if let Some((i, zone, ip)) = started.remove(&error.id()) {
                        done.push((i, Outcome::failed(&zone, ip, &error)));
                    }
                }
            }
        }
        done
    }
}
