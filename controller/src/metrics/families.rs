//! The metric catalogue: every family `/metrics` exposes, its type, help
//! text and labels, one function per collector, written from what that
//! collector read (see `collect`).
//!
//! Label values are bounded: host ids (fleet size), catalog zone ids, list
//! ids, case states, refusal reasons and lookup outcomes. Nothing free-form
//! (no reasons, samples or error texts) becomes a label.

use super::collect::{Fleet, HostMetrics};
use super::text::{Encoder, Kind};
use crate::ca::expiry::Expiry;
use crate::dnsbl::engine::{ZONE_STATES, ZoneMetrics, ZoneState};
use crate::ingest::stats::{IngestSnapshot, LATENCY_BUCKETS};
use crate::server::tls::ReloadStatus;
use crate::store::{CommitStats, Role};

/// Process facts that do not come from the snapshot.
#[derive(Debug, Clone, Copy)]
pub struct Process {
    pub version: &'static str,
    pub started_ms: i64,
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// `collect_seconds`: how long the scrape's other collectors took.
pub fn controller(e: &mut Encoder, p: Process, collect_seconds: f64) {
    e.family("rblfleet_build_info", Kind::Gauge, "Always 1; the controller's version as a label.")
        .sample(&[("version", p.version)], 1.0);
    e.family("rblfleet_start_time_seconds", Kind::Gauge, "When the controller started, Unix seconds.")
        .sample(&[], seconds(p.started_ms));
    e.family(
        "rblfleet_metrics_collect_duration_seconds",
        Kind::Gauge,
        "How long gathering this scrape's numbers from the store took.",
    )
    .sample(&[], collect_seconds);
}

pub fn fleet(e: &mut Encoder, s: &Fleet) {
    e.family("rblfleet_hosts", Kind::Gauge, "Hosts the controller has stored a report from.")
        .sample(&[], s.hosts as f64);
    e.family(
        "rblfleet_watched_ips",
        Kind::Gauge,
        "Distinct public (or NAT-published) IPs in the hosts' latest reports, checked against blocklists.",
    )
    .sample(&[], s.watched_ips as f64);
    e.family(
        "rblfleet_watched_domains",
        Kind::Gauge,
        "Distinct registrable domains the hosts serve or send with, checked against domain blocklists.",
    )
    .sample(&[], s.watched_domains as f64);
    let mut f = e.family(
        "rblfleet_listings",
        Kind::Gauge,
        "Open listings by list: catalog zone id (kind dns) or receiver id from bounces (kind receiver).",
    );
    for ((list, kind), n) in &s.listings {
        f.sample(&[("list", list), ("kind", kind)], *n as f64);
    }
    let mut f = e.family("rblfleet_cases", Kind::Gauge, "Delisting cases by state.");
    for (state, n) in &s.cases {
        f.sample(&[("state", state)], *n as f64);
    }
}

pub fn agents(e: &mut Encoder, hosts: &[HostMetrics]) {
    let mut f = e.family(
        "rblfleet_agent_last_report_timestamp_seconds",
        Kind::Gauge,
        "When the controller stored the host's latest report, Unix seconds.",
    );
    for h in hosts {
        f.sample(&[("host", &h.host_id)], seconds(h.last_report_ms));
    }
    let mut f = e.family(
        "rblfleet_agent_seq_gaps_total",
        Kind::Counter,
        "Report sequence numbers the host skipped (reports its agent dropped before sending).",
    );
    for h in hosts {
        f.sample(&[("host", &h.host_id)], h.seq_gaps as f64);
    }
    let mut f = e.family(
        "rblfleet_host_queue_messages",
        Kind::Gauge,
        "Messages in the host's mail queue, as of its newest report in the last 24 hours.",
    );
    for h in hosts {
        if let Some(q) = h.queue {
            f.sample(&[("host", &h.host_id)], q as f64);
        }
    }
    let mut f = e.family(
        "rblfleet_host_blocklisted_deliveries_24h",
        Kind::Gauge,
        "Deliveries refused because the sending IP is listed, over the last 24 hours (hourly roll-ups).",
    );
    for h in hosts {
        f.sample(&[("host", &h.host_id)], h.blocklisted_24h as f64);
    }
}

/// The zones' families. `leads`: this controller's engine runs its passes.
/// One that does not (another controller on the database leads the
/// engine) has not probed the zones since its last term, so it leaves
/// zone health (`rblfleet_zone_up`, `rblfleet_zone_state`) to the leader
/// rather than show a stale state; budget use is the store's either way.
pub fn zones(e: &mut Encoder, zones: &[ZoneMetrics], leads: bool) {
    let running = || zones.iter().filter(|z| !matches!(z.state, ZoneState::Disabled | ZoneState::NeedsKey));
    if leads {
        let mut f = e.family("rblfleet_zone_up", Kind::Gauge, "1 when an enabled zone is in service, else 0.");
        for z in running() {
            f.sample(&[("zone", &z.zone_id)], f64::from(u8::from(z.state == ZoneState::InService)));
        }
        let mut f = e.family("rblfleet_zone_state", Kind::Gauge, "1 for the zone's current state, 0 for the others.");
        for z in zones {
            for state in ZONE_STATES {
                f.sample(&[("zone", &z.zone_id), ("state", state)], f64::from(u8::from(z.state.as_str() == state)));
            }
        }
    }
    let mut f = e.family(
        "rblfleet_dnsbl_lookups_total",
        Kind::Counter,
        "Blocklist checks answered, by zone and outcome (listed, clean, error).",
    );
    for z in running() {
        let c = &z.counters;
        for (outcome, n) in [("listed", c.listed), ("clean", c.clean), ("error", c.error)] {
            f.sample(&[("zone", &z.zone_id), ("outcome", outcome)], n as f64);
        }
    }
    let mut f = e.family("rblfleet_dnsbl_probes_total", Kind::Counter, "Zone health probes, by result (ok, failed).");
    for z in running() {
        for (result, n) in [("ok", z.counters.probes_ok), ("failed", z.counters.probes_failed)] {
            f.sample(&[("zone", &z.zone_id), ("result", result)], n as f64);
        }
    }
    let mut f =
        e.family("rblfleet_zone_queries_total", Kind::Counter, "DNS queries sent to the zone (a probe is two).");
    for z in running() {
        f.sample(&[("zone", &z.zone_id)], z.queries_total as f64);
    }
    let mut f = e.family(
        "rblfleet_zone_budget_used_queries",
        Kind::Gauge,
        "Queries spent from the zone's budget on the current UTC day, by every controller on the store.",
    );
    for z in running() {
        f.sample(&[("zone", &z.zone_id)], z.used_today as f64);
    }
    let mut f = e.family(
        "rblfleet_zone_budget_daily_queries",
        Kind::Gauge,
        "The zone's daily query budget (zones with a daily limit only).",
    );
    for z in running() {
        if let Some(limit) = z.per_day {
            f.sample(&[("zone", &z.zone_id)], limit as f64);
        }
    }
}

pub fn ingest(e: &mut Encoder, i: &IngestSnapshot) {
    e.family("rblfleet_ingest_reports_stored_total", Kind::Counter, "Agent reports stored and acknowledged.")
        .sample(&[], i.stored as f64);
    e.family(
        "rblfleet_ingest_reports_duplicate_total",
        Kind::Counter,
        "Agent reports received again after they were stored (acknowledged, not stored twice).",
    )
    .sample(&[], i.duplicates as f64);
    let mut f = e.family(
        "rblfleet_ingest_reports_refused_total",
        Kind::Counter,
        "Agent reports refused, by reason (identity, invalid, sequence, overloaded, storage).",
    );
    for (reason, n) in &i.refused {
        f.sample(&[("reason", reason.as_str())], *n as f64);
    }
    e.family("rblfleet_ingest_reports_in_flight", Kind::Gauge, "Agent reports being handled right now.")
        .sample(&[], i.in_flight as f64);
    e.histogram(
        "rblfleet_ingest_ack_duration_seconds",
        "Time from receiving an agent report to acknowledging it (stored or duplicate).",
        &[],
        &LATENCY_BUCKETS,
        &i.latency_cumulative,
        i.latency_sum_seconds,
    );
}

/// The store writer: where ingest capacity runs out first, with the disk.
pub fn store_writer(e: &mut Encoder, c: &CommitStats) {
    e.family(
        "rblfleet_store_commit_batches_total",
        Kind::Counter,
        "Group commits: one transaction and one flush each.",
    )
    .sample(&[], c.batches as f64);
    e.family("rblfleet_store_commit_reports_total", Kind::Counter, "Reports that went through the store writer.")
        .sample(&[], c.reports as f64);
    e.family(
        "rblfleet_store_commit_apply_seconds_total",
        Kind::Counter,
        "Time the store writer spent in report transactions.",
    )
    .sample(&[], c.apply_seconds);
    e.family(
        "rblfleet_store_commit_flush_seconds_total",
        Kind::Counter,
        "Time the store writer spent flushing (fsync).",
    )
    .sample(&[], c.flush_seconds);
}

pub fn disk(e: &mut Encoder, free: u64, reserve: u64) {
    e.family("rblfleet_store_free_bytes", Kind::Gauge, "Free bytes on the data directory's filesystem.")
        .sample(&[], free as f64);
    e.family(
        "rblfleet_store_reserve_bytes",
        Kind::Gauge,
        "store.min_free_mib in bytes: below it reports are refused (RESOURCE_EXHAUSTED).",
    )
    .sample(&[], reserve as f64);
}

/// Agents' client certificates, as each presented its own at its last
/// connection since the controller started (memory only: refilled within a
/// report interval of a restart).
pub fn agent_certificates(e: &mut Encoder, agents: &[Expiry]) {
    let mut f = e.family(
        "rblfleet_agent_certificate_expiry_timestamp_seconds",
        Kind::Gauge,
        "When the certificate the host's agent last connected with expires (notAfter), Unix seconds.",
    );
    for a in agents {
        f.sample(&[("host", &a.name)], seconds(a.not_after_ms));
    }
}

/// The controller's own certificate (kind controller) and each CA
/// certificate it trusts (kind ca; two while a new CA overlaps the old),
/// named by subject CN.
pub fn certificates(e: &mut Encoder, own: &[Expiry]) {
    let mut f = e.family(
        "rblfleet_certificate_expiry_timestamp_seconds",
        Kind::Gauge,
        "When the controller's certificate (kind controller) or a CA it trusts (kind ca) expires (notAfter), Unix seconds.",
    );
    for c in own {
        f.sample(&[("kind", c.kind.as_str()), ("name", &c.name)], seconds(c.not_after_ms));
    }
}

/// The reloader of the controller's TLS files (`[tls] reload_interval`,
/// SIGHUP). Named like Prometheus's own `…_config_last_reload_successful`:
/// a renewal whose files do not load leaves the old certificate in service
/// and says so only in the log, so without this gauge the first sign would
/// be the old certificate's expiry.
pub fn tls_reload(e: &mut Encoder, s: &ReloadStatus) {
    e.family(
        "rblfleet_tls_reloads_total",
        Kind::Counter,
        "Times changed TLS files (tls.cert, tls.key, tls.ca) went into service without a restart.",
    )
    .sample(&[], s.reloads as f64);
    e.family(
        "rblfleet_tls_last_reload_successful",
        Kind::Gauge,
        "0 while the TLS files on disk have changed but do not load (the previous ones stay in service; the log says why), else 1.",
    )
    .sample(&[], f64::from(u8::from(s.last_error.is_none())));
}

/// Which singleton work runs here: several controllers on one database
/// elect one per role (`roles`), so summed over them each role is 1; 0
/// everywhere means the role has no leader (an election stuck, or every
/// controller cut off from the database).
pub fn roles(e: &mut Encoder, states: &[(Role, bool)]) {
    let mut f = e.family(
        "rblfleet_role_leader",
        Kind::Gauge,
        "1 while this controller runs the role's singleton work (engine, alerts, retention); 0 while another controller on the same database does.",
    );
    for (role, leading) in states {
        f.sample(&[("role", role.name())], f64::from(u8::from(*leading)));
    }
}
