//! Blocklist engine benchmark; prints its figures (no timing assertions).
//!
//!   cargo bench -p rblfleet-controller --bench dnsbl -- lookups --server 127.0.0.1:15353 --zone bench.test --count 200000
//!   cargo bench -p rblfleet-controller --bench dnsbl -- sweep --ips 10000 --zones 20 --delay 30ms
//!   cargo bench -p rblfleet-controller --bench dnsbl -- budgets --ips 120 --fleet-ips 25000
//!   cargo bench -p rblfleet-controller --bench dnsbl -- domains --domains 500000 --zones 10
//!   cargo bench -p rblfleet-controller --bench dnsbl -- domain-budgets --domains 300 --send-every 3
//!
//! `lookups` measures raw lookups per second against an authoritative server
//! (run `controller/benches/dnsbl.sh` to start NSD and compare with dnsperf).
//! `sweep` runs one engine pass (lookups, decoding, episode storage in sled)
//! over IPS × ZONES against an in-process zone server whose every answer is
//! delayed, budgets lifted. `budgets` runs the engine's own loop with the
//! embedded catalog's default zones and their configured budgets until every
//! IP was checked on every zone, then extrapolates to a fleet's IP count.
//! `domains` and `domain-budgets` do the same for hosted domains (see
//! `dnsbl/domains.rs`). A sweep runs passes until one sends nothing (a pass
//! sends at most `EngineConfig::max_per_pass` lookups).

#![allow(clippy::unwrap_used)]

#[path = "dnsbl/domains.rs"]
mod domains;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand};
use rblfleet_controller::catalog::{Catalog, Target};
use rblfleet_controller::dnsbl::engine::{Engine, EngineConfig};
use rblfleet_controller::dnsbl::lookup::{Lookups, ResolverSettings, Status};
use rblfleet_controller::dnsbl::zone_server::ZoneServer;
use rblfleet_controller::store::{Store, StoreOptions};
use rblfleet_proto::v1::{AgentInfo, HostIp, HostReport};

#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
    /// cargo bench passes --bench; ignore it.
    #[arg(long, hide = true, global = true)]
    bench: bool,
}

#[derive(Subcommand)]
enum Mode {
    /// Raw lookups per second against an authoritative server.
    Lookups {
        #[arg(long)]
        server: SocketAddr,
        #[arg(long, default_value = "bench.test")]
        zone: String,
        /// IPs checked: 10.0.0.0 upwards (the first 256 are listed in dnsbl.sh's zone).
        #[arg(long, default_value_t = 100_000)]
        count: u32,
        #[arg(long, default_value_t = 256)]
        concurrency: usize,
    },
    /// One engine pass over IPS × ZONES with delayed answers.
    Sweep {
        #[arg(long, default_value_t = 10_000)]
        ips: u32,
        #[arg(long, default_value_t = 20)]
        zones: usize,
        #[arg(long, default_value = "30ms", value_parser = humantime::parse_duration)]
        delay: Duration,
        #[arg(long, default_value_t = 1000)]
        concurrency: usize,
    },
    /// The engine's loop under the embedded catalog's budgets.
    Budgets {
        /// IPs to sweep for real (time ≈ IPS / the slowest zone's rate).
        #[arg(long, default_value_t = 120)]
        ips: u32,
        /// IP count to extrapolate to (10,000 hosts × 2.5 IPs).
        #[arg(long, default_value_t = 25_000)]
        fleet_ips: u64,
    },
    /// Passes over DOMAINS x ZONES domain lists until every pair is checked.
    Domains {
        #[arg(long, default_value_t = 500_000)]
        domains: u32,
        #[arg(long, default_value_t = 10)]
        zones: usize,
        #[arg(long, default_value = "0ms", value_parser = humantime::parse_duration)]
        delay: Duration,
        #[arg(long, default_value_t = 1000)]
        concurrency: usize,
    },
    /// The engine's loop with the embedded catalog's domain zones and budgets.
    DomainBudgets {
        #[arg(long, default_value_t = 300)]
        domains: u32,
        /// Every Nth domain sends mail.
        #[arg(long, default_value_t = 3)]
        send_every: u32,
        /// Sending domains to extrapolate to (10,000 hosts x 50 domains, a third sending).
        #[arg(long, default_value_t = 166_667)]
        fleet_sending: u64,
    },
}

fn catalog_toml(zones: &[String]) -> String {
    let mut toml = String::from("schema = 1\nas_of = \"bench\"\n");
    for (i, zone) in zones.iter().enumerate() {
        toml.push_str(&format!(
            "[[zone]]\nid = \"z{i}\"\nname = \"bench {zone}\"\noperator = \"bench\"\nzone = \"{zone}\"\nkind = \"ip\"\nipv4 = true\nipv6 = true\n\
             blocks_public_resolvers = false\ntxt = false\nenabled = true\nverified = true\nusage_policy = \"bench\"\n\
             budget = {{ per_second = 1000000, per_day = 1000000000 }}\ncodes = [{{ code = \"127.0.0.2\", meaning = \"listed\" }}]\n\
             [zone.delist]\nkind = \"auto_expire\"\nexpiry = \"1d\"\n"
        ));
    }
    toml
}

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)) + n))
}

#[tokio::main]
async fn main() {
    match Cli::parse().mode {
        Mode::Lookups { server, zone, count, concurrency } => lookups(server, zone, count, concurrency).await,
        Mode::Sweep { ips, zones, delay, concurrency } => sweep(ips, zones, delay, concurrency).await,
        Mode::Budgets { ips, fleet_ips } => budgets(ips, fleet_ips).await,
        Mode::Domains { domains, zones, delay, concurrency } => {
            domains::sweep(domains, zones, delay, concurrency).await
        }
        Mode::DomainBudgets { domains, send_every, fleet_sending } => {
            domains::budgets(domains, send_every, fleet_sending).await
        }
    }
}

async fn lookups(server: SocketAddr, zone: String, count: u32, concurrency: usize) {
    let catalog = Catalog::from_toml_str(&catalog_toml(&[zone]), "bench").unwrap();
    let zone = Arc::new(catalog.zones()[0].clone());
    let settings = ResolverSettings { nameservers: vec![server], timeout: Duration::from_secs(2), retries: 1 };
    let lookups = Lookups::new(&settings).unwrap();
    // Warm up the resolver's sockets.
    lookups.check_all((0..1000).map(|n| (zone.clone(), Target::Ip(ip(n)))).collect(), concurrency).await;
    let pairs = (0..count).map(|n| (zone.clone(), Target::Ip(ip(n)))).collect();
    let start = Instant::now();
    let outcomes = lookups.check_all(pairs, concurrency).await;
    let secs = start.elapsed().as_secs_f64();
    let count_of = |s| outcomes.iter().filter(|o| o.status == s).count();
    println!(
        "lookups: {} in {:.2} s = {:.0} lookups/s (concurrency {concurrency}; listed {}, clean {}, errors {})",
        outcomes.len(),
        secs,
        outcomes.len() as f64 / secs,
        count_of(Status::Listed),
        count_of(Status::Clean),
        count_of(Status::Error)
    );
}

/// Stores one report per 4,000 IPs so the engine watches `ips` IPs.
async fn watch_ips(store: &Store, ips: u32) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let all: Vec<u32> = (0..ips).collect();
    for (h, chunk) in all.chunks(4000).enumerate() {
        let report = HostReport {
            host_id: format!("bench{h}"),
            epoch: 1,
            seq: 1,
            period_start_ms: now - 60_000,
            period_end_ms: now,
            agent: Some(AgentInfo { version: "bench".into(), ..AgentInfo::default() }),
            ips: chunk
                .iter()
                .map(|&n| HostIp { address: ip(n).to_string(), public: true, sends_mail: true, ..HostIp::default() })
                .collect(),
            ..HostReport::default()
        };
        store.apply_report(&report, now).await.unwrap();
    }
}

async fn budgets(ips: u32, fleet_ips: u64) {
    let catalog = Catalog::embedded().unwrap();
    let zones: Vec<_> = catalog.enabled().into_iter().filter(|z| z.ipv4).cloned().collect();
    let server = ZoneServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    for zone in &zones {
        server.add_zone(&zone.display_zone()).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
    watch_ips(&store, ips).await;
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
    let mut done: std::collections::BTreeMap<String, f64> = Default::default();
    while done.len() < zones.len() {
        engine.pass().await.unwrap();
        let pending: Vec<_> = zones.iter().filter(|z| !done.contains_key(&z.id)).collect();
        for zone in pending {
            let checked =
                (0..ips).filter(|&n| store.zone_check(&ip(n).to_string(), &zone.id).unwrap().is_some()).count();
            if checked == ips as usize {
                done.insert(zone.id.clone(), start.elapsed().as_secs_f64());
            }
        }
        tokio::time::sleep(EngineConfig::default().tick).await;
    }
    println!(
        "budgets: {ips} IPs on {} default IPv4 zones, engine loop (tick {:?})",
        zones.len(),
        EngineConfig::default().tick
    );
    println!(
        "{:<22} {:>6} {:>8} {:>10} {:>10} {:>14} {:>16}",
        "zone", "q/s", "q/day", "sweep s", "expected s", "fleet sweep", "fleet recheck"
    );
    for zone in &zones {
        let per_second = zone.budget.per_second;
        let expected = f64::from(ips) / per_second;
        let fleet_sweep = fleet_ips as f64 / per_second / 60.0;
        let recheck = zone
            .budget
            .per_day
            .map_or("unlimited".to_string(), |d| format!("{:.1} h", 24.0 * fleet_ips as f64 / d as f64));
        println!(
            "{:<22} {:>6} {:>8} {:>10.1} {:>10.1} {:>11.0} min {:>16}",
            zone.id,
            per_second,
            zone.budget.per_day.map_or("-".into(), |d| d.to_string()),
            done[&zone.id],
            expected,
            fleet_sweep,
            recheck
        );
    }
}

async fn sweep(ips: u32, zone_count: usize, delay: Duration, concurrency: usize) {
    let server = ZoneServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let zones: Vec<String> = (0..zone_count).map(|i| format!("z{i}.bench.test")).collect();
    for zone in &zones {
        server.add_zone(zone).unwrap();
        // 1% of the IPs listed on every zone.
        for n in (0..ips).step_by(100) {
            server.list(zone, ip(n), &[Ipv4Addr::new(127, 0, 0, 2)], None).unwrap();
        }
    }
    server.set_delay(delay);
    let catalog = Arc::new(Catalog::from_toml_str(&catalog_toml(&zones), "bench").unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
    watch_ips(&store, ips).await;
    let settings = ResolverSettings { nameservers: vec![server.addr()], timeout: Duration::from_secs(5), retries: 1 };
    let lookups = Lookups::new(&settings).unwrap();
    let config = EngineConfig { concurrency, lift_budgets: true, ..EngineConfig::default() };
    let engine = Engine::new(catalog, lookups, store, config, vec![]).unwrap();
    let start = Instant::now();
    let mut stats = engine.pass().await.unwrap();
    loop {
        let more = engine.pass().await.unwrap();
        if more.checks == 0 {
            break;
        }
        stats.checks += more.checks;
        stats.listed += more.listed;
        stats.errors += more.errors;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "sweep: {} IPs x {} zones with {:?} per answer: {} checks ({} listed, {} errors) + {} probes in {:.1} s = {:.0} checks/s (concurrency {concurrency})",
        stats.watched_ips,
        zone_count,
        delay,
        stats.checks,
        stats.listed,
        stats.errors,
        stats.probes,
        secs,
        stats.checks as f64 / secs
    );
}
