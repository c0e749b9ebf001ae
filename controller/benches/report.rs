//! Latency of `rblfleet report` and `rblfleet host` on a large store; prints
//! its figures (no timing assertions).
//!
//!   cargo bench -p rblfleet-controller --bench report -- [HOSTS] [IPS_PER_HOST] [--store-url URL]
//!
//! With `--store-url` the store is that PostgreSQL database (empty; the
//! password, if any, in RBLFLEET_PG_PASSWORD) instead of sled in a
//! temporary directory.
//!
//! Generates HOSTS hosts (default 10,000) with IPS_PER_HOST public IPs each
//! (default 3: 30,000 IPs), four reports per host spread over the last 24
//! hours with sources and blocklist evidence, 1% of the IPs listed with an
//! open case; then serves the admin API on loopback and times the CLI
//! commands end to end (gRPC, views, rendering).

#![allow(clippy::unwrap_used)]

#[path = "fleet/mod.rs"]
mod fleet;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fleet::ip;
use rblfleet_controller::cases::work::{self, ListInfo};
use rblfleet_controller::config::{Config, PASSWORD_ENV};
use rblfleet_controller::daemon::build_catalog;
use rblfleet_controller::server;
use rblfleet_controller::store::{PgOptions, PgPassword, Store, StoreOptions};
use rblfleet_proto::v1::{CheckStatus, ListingEpisode, ZoneCheck};

#[tokio::main]
async fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let store_url = raw.iter().position(|a| a == "--store-url").and_then(|i| raw.get(i + 1)).cloned();
    let args: Vec<u32> = raw.iter().filter_map(|a| a.parse().ok()).collect();
    let hosts = args.first().copied().unwrap_or(10_000);
    let ips_per_host = args.get(1).copied().unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let store = match &store_url {
        Some(url) => {
            let password = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()).map(PgPassword);
            let options = PgOptions { url: url.clone(), pool_size: 8, password };
            Store::open_postgres(&options, &StoreOptions::default()).unwrap()
        }
        None => Store::open(&dir.path().join("data"), &StoreOptions::default()).unwrap(),
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;

    let start = Instant::now();
    fleet::load(&store, hosts, ips_per_host, now).await;
    let loaded = start.elapsed();

    let mut config = Config::default();
    config.dnsbl.enabled = false;
    let catalog = build_catalog(&config).unwrap();
    let zen = ListInfo::of(&catalog, "spamhaus-zen");
    let listed = hosts * ips_per_host / 100;
    for n in 0..listed {
        let address = ip(n * 100).to_string();
        let since = now - 5 * 3_600_000;
        let check = ZoneCheck {
            ip: address.clone(),
            zone_id: "spamhaus-zen".into(),
            zone: "zen.spamhaus.org".into(),
            status: CheckStatus::Listed as i32,
            codes: vec!["127.0.0.2".into()],
            meanings: vec!["SBL: spam source".into()],
            checked_ms: now,
            next_due_ms: now + 3_600_000,
            listed_since_ms: since,
            ..ZoneCheck::default()
        };
        let episode = ListingEpisode {
            ip: address.clone(),
            zone_id: "spamhaus-zen".into(),
            zone: "zen.spamhaus.org".into(),
            first_seen_ms: since,
            last_seen_ms: now,
            codes: check.codes.clone(),
            meanings: check.meanings.clone(),
            ..ListingEpisode::default()
        };
        store.record_check(&check, Some(&episode)).unwrap();
        work::listing_opened(&store, &zen, &address, since, now).unwrap();
    }
    store.flush().await.unwrap();
    // Planner statistics for the tables just filled, as `migrate
    // --from-sled` takes them after its copy: otherwise the first commands
    // timed run before autovacuum's ANALYZE (a minute or more later) on
    // plans made for empty tables.
    store.analyze().unwrap();
    let (size, what) = match &store_url {
        Some(_) => (store.size_on_disk().unwrap(), "database (pg_database_size)"),
        None => (dir_size(&dir.path().join("data")), "data dir"),
    };
    println!(
        "store: {hosts} hosts, {} IPs, {} reports, {listed} listings with cases; loaded in {:.1} s; {what} {:.1} MiB",
        hosts * ips_per_host,
        hosts * 4,
        loaded.as_secs_f64(),
        size as f64 / 1048576.0
    );

    config.admin_api.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.agent_api.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let running = server::start(&config, store, None, catalog, true).await.unwrap();
    let url = format!("http://{}", running.admin_addr);
    for (name, args) in [
        ("report (table)", vec!["report"]),
        ("report --format json", vec!["report", "--format", "json"]),
        ("host (table)", vec!["host", "web00100.example"]),
        ("host --format json", vec!["host", "web00100.example", "--format", "json"]),
    ] {
        let mut times = Vec::new();
        let mut bytes = 0;
        for _ in 0..7 {
            let mut argv = vec!["rblfleet".to_string()];
            argv.extend(args.iter().map(|a| a.to_string()));
            argv.extend(["--controller".into(), url.clone()]);
            let mut out = Vec::new();
            let t = Instant::now();
            rblfleet_controller::cli::run_args(argv, &mut out).await.unwrap();
            times.push(t.elapsed());
            bytes = out.len();
        }
        times.sort();
        println!(
            "{name:<22} median {:>7.1} ms  max {:>7.1} ms  ({bytes} bytes of output, 7 runs)",
            ms(times[3]),
            ms(times[6])
        );
    }
    running.shutdown().await.unwrap();
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| {
                    let meta = e.metadata().ok();
                    if meta.as_ref().is_some_and(|m| m.is_dir()) {
                        dir_size(&e.path())
                    } else {
                        meta.map_or(0, |m| m.len())
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}
