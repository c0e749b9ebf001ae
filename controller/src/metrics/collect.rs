//! One snapshot of everything `/metrics` shows, read from the store, the
//! engine and the ingest counters.
//!
//! The store is read with its ordinary read API (sled reads take no writer
//! turn, so a scrape never delays ingest); the engine lock is held only to
//! copy per-zone numbers. Runs on a blocking thread.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use rblfleet_proto::v1::CaseState;

use crate::cases::state_name;
use crate::dnsbl::engine::{Engine, ZoneMetrics, is_listed};
use crate::ingest::stats::{IngestSnapshot, IngestStats};
use crate::store::{CommitStats, Store, StoreError};

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
    pub engine: Option<Engine>,
    pub ingest: Arc<IngestStats>,
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

/// Everything one scrape shows.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub hosts: Vec<HostMetrics>,
    pub watched_ips: usize,
    /// Open listings by (list id, "dns" | "receiver").
    pub listings: BTreeMap<(String, &'static str), u64>,
    /// Cases by state name, every state of `CASE_STATES` present.
    pub cases: BTreeMap<&'static str, u64>,
    pub zones: Option<Vec<ZoneMetrics>>,
    pub ingest: IngestSnapshot,
    /// The group-commit writer's totals.
    pub commits: CommitStats,
    /// Free bytes on the data directory's filesystem, and the reserve below
    /// which ingest is refused; None when the probe failed.
    pub disk: Option<(u64, u64)>,
    /// How long this snapshot took to gather, seconds.
    pub collect_seconds: f64,
}

/// Reads a snapshot at `now_ms`.
pub fn collect(sources: &Sources, now_ms: i64) -> Result<Snapshot, StoreError> {
    let started = Instant::now();
    let store = &sources.store;
    let summaries = store.list_hosts()?;
    let watched_ips = crate::views::watched_ips(&summaries).len();
    let mut hosts = Vec::with_capacity(summaries.len());
    for summary in summaries {
        let rollups = store.rollups(&summary.host_id, now_ms - DAY_MS, now_ms + HOUR_MS)?;
        let blocklisted_24h = rollups.iter().filter_map(|r| r.deliveries.as_ref().map(|d| d.blocklisted)).sum();
        hosts.push(HostMetrics {
            queue: rollups.last().map(|r| r.queue_last),
            blocklisted_24h,
            last_report_ms: summary.last_report_ms,
            seq_gaps: summary.seq_gaps,
            host_id: summary.host_id,
        });
    }

    let zones = sources.engine.as_ref().map(Engine::zone_metrics);
    let mut listings: BTreeMap<(String, &'static str), u64> = BTreeMap::new();
    match &zones {
        // The engine keeps the counts of the zones it checks.
        Some(zones) => {
            for z in zones.iter().filter(|z| z.counters.listed_ips > 0) {
                listings.insert((z.zone_id.clone(), "dns"), z.counters.listed_ips);
            }
        }
        // Without an engine, what is stored (listings from before checks were turned off).
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

    Ok(Snapshot {
        hosts,
        watched_ips,
        listings,
        cases,
        zones,
        ingest: sources.ingest.snapshot(),
        commits: store.commit_stats(),
        disk: store.space_status().ok().map(|s| (s.free_bytes, s.reserve_bytes)),
        collect_seconds: started.elapsed().as_secs_f64(),
    })
}
