//! Domain benchmarks: a first sweep of many domains on many domain zones
//! (budgets lifted), and how long the catalog's real budgets take to check
//! every sending domain of a fleet once.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rblfleet_controller::catalog::{Catalog, ZoneKind};
use rblfleet_controller::dnsbl::engine::{Engine, EngineConfig, PassStats};
use rblfleet_controller::dnsbl::lookup::{Lookups, ResolverSettings};
use rblfleet_controller::dnsbl::zone_server::ZoneServer;
use rblfleet_controller::store::{Store, StoreOptions};
use rblfleet_proto::v1::{AgentInfo, HostDomain, HostDomains, HostReport, NamedCount};

/// Domains per simulated host: a busy shared-hosting server.
const PER_HOST: u32 = 50;

fn domain(n: u32) -> String {
    format!("customer{n}.example")
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Stores one report per 50 domains (one host each), every `send_every`-th
/// domain also an envelope sender domain, so the engine watches `count`.
async fn watch_domains(store: &Store, count: u32, send_every: u32) -> u32 {
    let now = now_ms();
    let mut sending = 0;
    for (h, start) in (0..count).step_by(PER_HOST as usize).enumerate() {
        let names: Vec<u32> = (start..(start + PER_HOST).min(count)).collect();
        let senders: Vec<NamedCount> = names
            .iter()
            .filter(|n| send_every > 0 && n.is_multiple_of(send_every))
            .map(|&n| NamedCount { name: domain(n), count: 10 })
            .collect();
        sending += senders.len() as u32;
        let report = HostReport {
            host_id: format!("bench{h}"),
            epoch: 1,
            seq: 1,
            period_start_ms: now - 60_000,
            period_end_ms: now,
            agent: Some(AgentInfo { version: "bench".into(), ..AgentInfo::default() }),
            domains: Some(HostDomains {
                domains: names
                    .iter()
                    .map(|&n| HostDomain {
                        name: domain(n),
                        subscription: format!("sub{n}"),
                        mail: true,
                        ..Default::default()
                    })
                    .collect(),
                ..HostDomains::default()
            }),
            sender_domains: senders,
            ..HostReport::default()
        };
        store.apply_report(&report, now).await.unwrap();
    }
    sending
}

fn domain_catalog_toml(zones: &[String]) -> String {
    let mut toml = String::from("schema = 1\nas_of = \"bench\"\n");
    for (i, zone) in zones.iter().enumerate() {
        toml.push_str(&format!(
            "[[zone]]\nid = \"d{i}\"\nname = \"bench {zone}\"\noperator = \"bench\"\nzone = \"{zone}\"\nkind = \"domain\"\n\
             blocks_public_resolvers = false\ntxt = false\nenabled = true\nverified = true\nusage_policy = \"bench\"\n\
             budget = {{ per_second = 1000000, per_day = 1000000000 }}\ncodes = [{{ code = \"127.0.1.2\", meaning = \"listed\" }}]\n\
             [zone.delist]\nkind = \"form\"\nurl = \"https://bench.test/\"\n"
        ));
    }
    toml
}

/// Peak resident memory of this process so far, from /proc (Linux).
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// Runs passes until one sends nothing; the summed figures.
async fn until_idle(engine: &Engine) -> (PassStats, usize) {
    let mut total = PassStats::default();
    let mut passes = 0;
    loop {
        let s = engine.pass().await.unwrap();
        passes += 1;
        total.watched_domains = s.watched_domains;
        if s.checks == 0 && s.probes == 0 && passes > 1 {
            return (total, passes);
        }
        total.checks += s.checks;
        total.listed += s.listed;
        total.errors += s.errors;
        total.probes += s.probes;
        (0..3).for_each(|c| total.by_class[c] += s.by_class[c]);
    }
}

pub async fn sweep(count: u32, zone_count: usize, delay: Duration, concurrency: usize) {
    let server = ZoneServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let zones: Vec<String> = (0..zone_count).map(|i| format!("d{i}.bench.test")).collect();
    for zone in &zones {
        server.add_zone(zone).unwrap();
        server.list_name(zone, "test", &[Ipv4Addr::new(127, 0, 1, 2)], None).unwrap();
        // 1% of the domains listed on every zone.
        for n in (0..count).step_by(100) {
            server.list_name(zone, &domain(n), &[Ipv4Addr::new(127, 0, 1, 2)], None).unwrap();
        }
    }
    server.set_delay(delay);
    let catalog = Arc::new(Catalog::from_toml_str(&domain_catalog_toml(&zones), "bench").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
    let stored = Instant::now();
    let sending = watch_domains(&store, count, 3).await;
    let store_secs = stored.elapsed().as_secs_f64();
    let settings = ResolverSettings { nameservers: vec![server.addr()], timeout: Duration::from_secs(5), retries: 1 };
    let config = EngineConfig { concurrency, lift_budgets: true, ..EngineConfig::default() };
    let engine = Engine::new(catalog, Lookups::new(&settings).unwrap(), store, config, vec![]).unwrap();
    let start = Instant::now();
    let (stats, passes) = until_idle(&engine).await;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "domain sweep: {} domains ({sending} sending) from {} hosts stored in {store_secs:.1} s; x {zone_count} zones with {delay:?} per answer",
        stats.watched_domains,
        count.div_ceil(PER_HOST),
    );
    println!(
        "  {} checks ({} listed, {} errors) + {} probes in {passes} passes, {secs:.1} s = {:.0} checks/s (concurrency {concurrency}); peak RSS {:.0} MB",
        stats.checks,
        stats.listed,
        stats.errors,
        stats.probes,
        stats.checks as f64 / secs,
        peak_rss_mb()
    );
    println!("  order: {} sending-domain checks before {} others", stats.by_class[1], stats.by_class[2]);
}

/// The embedded catalog's enabled domain zones with their own budgets:
/// `count` domains (`sending` of them send mail) for real, then the fleet's
/// sending domains extrapolated from each zone's per-second and daily budget.
pub async fn budgets(count: u32, send_every: u32, fleet_sending: u64) {
    let catalog = Catalog::embedded().unwrap();
    let zones: Vec<_> = catalog.enabled().into_iter().filter(|z| z.kind == ZoneKind::Domain).cloned().collect();
    let server = ZoneServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    for zone in &zones {
        server.add_zone(&zone.display_zone()).unwrap();
        let (listed, _) = zone.test_points();
        server
            .list_name(
                &zone.display_zone(),
                &listed.to_string(),
                &[Ipv4Addr::new(127, 0, 1, 2), Ipv4Addr::new(127, 0, 0, 2)],
                None,
            )
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
    let sending = watch_domains(&store, count, send_every).await;
    let settings = ResolverSettings { nameservers: vec![server.addr()], timeout: Duration::from_secs(2), retries: 1 };
    let engine = Engine::new(
        Arc::new(catalog),
        Lookups::new(&settings).unwrap(),
        store.clone(),
        EngineConfig::default(),
        vec![],
    )
    .unwrap();
    let start = Instant::now();
    let sends = |n: u32| send_every > 0 && n.is_multiple_of(send_every);
    // Per zone: when every sending domain was checked, and when all were.
    let mut sending_done: BTreeMap<String, f64> = BTreeMap::new();
    let mut all_done: BTreeMap<String, f64> = BTreeMap::new();
    let mut quiet_before_sending = 0usize;
    while all_done.len() < zones.len() {
        engine.pass().await.unwrap();
        let t = start.elapsed().as_secs_f64();
        for zone in &zones {
            if all_done.contains_key(&zone.id) {
                continue;
            }
            let checked = |n: u32| store.zone_check(&domain(n), &zone.id).unwrap().is_some();
            let sending_checked = (0..count).filter(|&n| sends(n)).all(checked);
            if !sending_checked {
                quiet_before_sending += (0..count).filter(|&n| !sends(n) && checked(n)).count().min(1);
            }
            if sending_checked {
                sending_done.entry(zone.id.clone()).or_insert(t);
            }
            if (0..count).all(checked) {
                all_done.insert(zone.id.clone(), t);
            }
        }
        tokio::time::sleep(EngineConfig::default().tick).await;
    }
    println!(
        "domain budgets: {count} domains ({sending} sending) on {} enabled domain zones, engine loop; zones that checked a quiet domain before every sending one: {quiet_before_sending}",
        zones.len()
    );
    println!(
        "{:<18} {:>5} {:>8} {:>12} {:>9} {:>22} {:>18}",
        "zone", "q/s", "q/day", "sending s", "all s", "fleet sending, 1st", "by daily budget"
    );
    for zone in &zones {
        let per_second = zone.budget.per_second;
        let first = fleet_sending as f64 / per_second / 3600.0;
        let days = zone
            .budget
            .per_day
            .map_or("unlimited".to_string(), |d| format!("{:.1} d", fleet_sending as f64 / d as f64));
        println!(
            "{:<18} {:>5} {:>8} {:>12.1} {:>9.1} {:>19.1} h {:>18}",
            zone.id,
            per_second,
            zone.budget.per_day.map_or("-".into(), |d| d.to_string()),
            sending_done.get(&zone.id).copied().unwrap_or(f64::NAN),
            all_done[&zone.id],
            first,
            days
        );
    }
}
