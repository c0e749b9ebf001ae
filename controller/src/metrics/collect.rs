//! What `/metrics` reads from the store, the engine and the ingest counters,
//! one function per collector that reads the store.
//!
//! The store is read with its ordinary read API (sled reads take no writer
//! turn, so a scrape never delays ingest); the engine lock is held only to
//! copy per-zone numbers. Runs on a blocking thread.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use rblfleet_proto::v1::{CaseState, HostSummary};

use super::collector::CollectError;
use crate::cases::state_name;
use crate::dnsbl::budget::utc_day;
use crate::dnsbl::engine::{ZoneMetrics, is_listed};
use crate::ingest::stats::IngestStats;
use crate::store::{Role, Store, StoreError};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

/// Case states a scrape always reports (zero included, so a state that
/// empties shows 0 instead of vanishing).
pub use crate::cases::STATES as CASE_STATES;

/// What a scrape reads from.
#[derive(Debug, Clone)]
pub struct Sources {
    pub store: Store,
    /// None when blocklist checks are off (`dnsbl.enabled = false`).
    pub engine: Option<crate::dnsbl::engine::Engine>,
    pub ingest: Arc<IngestStats>,
    /// The controller's certificate and CA files; None without TLS
    /// (`serve --insecure`).
    pub tls: Option<crate::ca::expiry::OwnFiles>,
    /// The TLS configuration in service and what its reloader has done;
    /// None without TLS (`serve --insecure`).
    pub tls_reload: Option<Arc<crate::server::tls::ReloadingTls>>,
    /// The singleton work (engine, alerts, retention) and whether it runs
    /// here now; no role, no `rblfleet_role_leader` family.
    pub roles: crate::roles::Roles,
}

/// One scrape: its sources and the reads two collectors share (the host
/// list for fleet and agents, the zone numbers for fleet and zones), each
/// done at most once per scrape.
#[derive(Debug)]
pub struct Scrape {
    pub sources: Arc<Sources>,
    pub now_ms: i64,
    /// When the scrape started, for `rblfleet_metrics_collect_duration_seconds`.
    pub started: Instant,
    hosts: OnceCell<Result<Vec<HostSummary>, Arc<StoreError>>>,
    zones: OnceCell<Result<Option<Vec<ZoneMetrics>>, Arc<StoreError>>>,
}

impl Scrape {
    pub fn new(sources: Arc<Sources>, now_ms: i64) -> Scrape {
        Scrape { sources, now_ms, started: Instant::now(), hosts: OnceCell::new(), zones: OnceCell::new() }
    }

    /// Every host's summary.
    pub fn hosts(&self) -> Result<&[HostSummary], CollectError> {
        let read = self.hosts.get_or_init(|| self.sources.store.list_hosts().map_err(Arc::new));
        read.as_deref().map_err(|e| CollectError::Store(e.clone()))
    }

    /// Every catalog zone's numbers, or None when checks are off. What a
    /// zone spent today is the store's figure, the fleet's: the engine
    /// charges the store before it sends, so the store is ahead of any
    /// engine's memory, and on a controller that does not lead the engine
    /// (several on one database) that memory is as old as its last term.
    pub fn zones(&self) -> Result<Option<&[ZoneMetrics]>, CollectError> {
        let read = self.zones.get_or_init(|| {
            let Some(engine) = &self.sources.engine else { return Ok(None) };
            let mut zones = engine.zone_metrics();
            let ids: Vec<String> = zones.iter().map(|z| z.zone_id.clone()).collect();
            let used = self.sources.store.zones_usage(&ids, utc_day(self.now_ms)).map_err(Arc::new)?;
            zones.iter_mut().zip(used).for_each(|(zone, used)| zone.used_today = used);
            Ok(Some(zones))
        });
        match read {
            Ok(zones) => Ok(zones.as_deref()),
            Err(error) => Err(CollectError::Store(error.clone())),
        }
    }

    /// Whether this controller's engine runs its passes: false on a
    /// controller that shares its database and does not lead the engine
    /// now (`roles`), whose engine's memory of listings and zone health is
    /// then as old as its last term. True without an election (one
    /// controller per store, or no engine task).
    pub fn engine_leads(&self) -> bool {
        self.sources.roles.states().iter().find(|(role, _)| *role == Role::Engine).is_none_or(|(_, runs)| *runs)
    }
}

/// One host's numbers.
#[derive(Debug, Clone, PartialEq)]
pub struct HostMetrics {
    pub host_id: String,
    pub last_report_ms: i64,
    pub seq_gaps: u64,
    /// Queue total of the newest hour with a report in the last 24 h.
    pub queue: Option<u64>,
    /// Deliveries refused because the sending IP is listed, last 24 h.
    pub blocklisted_24h: u64,
}

/// The fleet as a whole.
#[derive(Debug, Clone)]
pub struct Fleet {
    pub hosts: usize,
    pub watched_ips: usize,
    /// Registrable domains the hosts serve or send with.
    pub watched_domains: usize,
    /// Open listings by (list id, "dns" | "receiver").
    pub listings: BTreeMap<(String, &'static str), u64>,
    /// Cases by state name, every state of `CASE_STATES` present.
    pub cases: BTreeMap<&'static str, u64>,
}

/// Per-host numbers (the "agents" collector).
pub fn agents(scrape: &Scrape) -> Result<Vec<HostMetrics>, CollectError> {
    let now_ms = scrape.now_ms;
    let store = &scrape.sources.store;
    let summaries = scrape.hosts()?;
    let mut hosts = Vec::with_capacity(summaries.len());
    for summary in summaries {
        let rollups = store.rollups(&summary.host_id, now_ms - DAY_MS, now_ms + HOUR_MS)?;
        let blocklisted_24h = rollups.iter().filter_map(|r| r.deliveries.as_ref().map(|d| d.blocklisted)).sum();
        hosts.push(HostMetrics {
            queue: rollups.last().map(|r| r.queue_last),
            blocklisted_24h,
            last_report_ms: summary.last_report_ms,
            seq_gaps: summary.seq_gaps,
            host_id: summary.host_id.clone(),
        });
    }
    Ok(hosts)
}

/// Hosts, watched IPs, listings and cases (the "fleet" collector).
pub fn fleet(scrape: &Scrape) -> Result<Fleet, CollectError> {
    let store = &scrape.sources.store;
    let summaries = scrape.hosts()?;
    let watched_ips = crate::fleet::watched_ips(summaries).len();
    // The engine keeps the domain index between reports; without it, read it.
    let watched_domains = match &scrape.sources.engine {
        Some(engine) => engine.watched_domains()?.len(),
        None => store.watched_domains(crate::catalog::registrable)?.len(),
    };
    let mut listings: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
    let engine_zones = if scrape.engine_leads() { scrape.zones()? } else { None };
    match engine_zones {
        // The engine that runs here keeps the counts of the zones it checks.
        Some(zones) => {
            for z in zones.iter().filter(|z| z.counters.listed_ips > 0) {
                listings.insert((z.zone_id.clone(), "dns"), z.counters.listed_ips);
            }
        }
        // Without an engine, what is stored (listings from before checks
        // were turned off); with one that another controller leads, what
        // the leader stored.
        None => {
            for check in store.all_checks()?.into_iter().filter(is_listed) {
                *listings.entry((check.zone_id, "dns")).or_default() += 1;
            }
        }
    }
    for state in store.all_receiver_states()? {
        if state.listed_since_ms != 0 {
            *listings.entry((state.provider, "receiver")).or_default() += 1;
        }
    }

    let mut cases: BTreeMap<&'static str, u64> = CASE_STATES.iter().map(|s| (state_name(*s), 0)).collect();
    for case in store.all_cases()? {
        if let Some(n) = CaseState::try_from(case.state).ok().and_then(|s| cases.get_mut(state_name(s))) {
            *n += 1;
        }
    }
    Ok(Fleet { hosts: summaries.len(), watched_ips, watched_domains, listings, cases })
}

/// Free bytes on the data directory's filesystem and the reserve below
/// which ingest is refused (the "disk" collector).
pub fn disk(store: &Store) -> Result<(u64, u64), StoreError> {
    store.space_status().map(|s| (s.free_bytes, s.reserve_bytes))
}
