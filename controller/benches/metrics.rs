//! Latency of a `/metrics` scrape on a fleet-sized store; prints its figures
//! (no timing assertions).
//!
//!   cargo bench -p rblfleet-controller --bench metrics -- [HOSTS] [IPS_PER_HOST] [ZONES]
//!
//! Generates HOSTS hosts (default 10,000) with IPS_PER_HOST public IPs each
//! (default 3), four reports per host over the last 24 hours (queue and
//! delivery totals, sources, blocklist evidence), one stored check per IP
//! and zone for ZONES zones (default 10: 300,000 checks), 1 % of the IPs
//! listed with an open case. Then serves `/metrics` on loopback and times
//! whole scrapes over HTTP, in-process scrapes (store reads and text), and
//! each collector's share.

#![allow(clippy::unwrap_used)]

#[path = "fleet/mod.rs"]
mod fleet;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fleet::ip;
use rblfleet_controller::cases::work::{self, ListInfo};
use rblfleet_controller::catalog::ZoneOverride;
use rblfleet_controller::config::Config;
use rblfleet_controller::daemon::{build_catalog, build_engine};
use rblfleet_controller::ingest::IngestStats;
use rblfleet_controller::metrics::families::Process;
use rblfleet_controller::metrics::{self, ControllerMetrics, MetricsConfig, collect};
use rblfleet_controller::store::{Store, StoreOptions};
use rblfleet_proto::v1::{CheckStatus, ListingEpisode, ZoneCheck};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn scrape(addr: SocketAddr) -> usize {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n").await.unwrap();
    let mut body = Vec::new();
    stream.read_to_end(&mut body).await.unwrap();
    assert!(body.starts_with(b"HTTP/1.1 200 OK"), "{}", String::from_utf8_lossy(&body[..body.len().min(200)]));
    body.len()
}

#[tokio::main]
async fn main() {
    let args: Vec<u32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let hosts = args.first().copied().unwrap_or(10_000);
    let ips_per_host = args.get(1).copied().unwrap_or(3);
    let zones = args.get(2).copied().unwrap_or(10);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data"), &StoreOptions::default()).unwrap();
    let now = rblfleet_controller::clock::now_ms();

    let start = Instant::now();
    fleet::load(&store, hosts, ips_per_host, now).await;
    let loaded_reports = start.elapsed();

    let start = Instant::now();
    let mut config = Config::default();
    config.dnsbl.enabled = false;
    let catalog = build_catalog(&config).unwrap();
    let zen = ListInfo::of(&catalog, "spamhaus-zen");
    // Checks on zones the engine runs (enabled ones of the built-in catalog), then made-up ones.
    let mut zone_ids: Vec<String> = catalog.enabled().iter().map(|z| z.id.clone()).collect();
    zone_ids.retain(|id| id != "spamhaus-zen");
    zone_ids.insert(0, "spamhaus-zen".into());
    let zone_ids: Vec<String> =
        (0..zones as usize).map(|z| zone_ids.get(z).cloned().unwrap_or(format!("zone{z}"))).collect();
    let ips = hosts * ips_per_host;
    let store_for_checks = store.clone();
    let ids = zone_ids.clone();
    tokio::task::spawn_blocking(move || {
        for n in 0..ips {
            let address = ip(n).to_string();
            for z in 0..zones {
                let zone_id = ids[z as usize].clone();
                let listed = z == 0 && n % 100 == 0;
                let since = now - 5 * 3_600_000;
                let check = ZoneCheck {
                    ip: address.clone(),
                    zone_id: zone_id.clone(),
                    zone: format!("{zone_id}.example"),
                    status: if listed { CheckStatus::Listed } else { CheckStatus::Clean } as i32,
                    checked_ms: now,
                    next_due_ms: now + 3_600_000,
                    listed_since_ms: if listed { since } else { 0 },
                    ..ZoneCheck::default()
                };
                let episode = listed.then(|| ListingEpisode {
                    ip: address.clone(),
                    zone_id: zone_id.clone(),
                    first_seen_ms: since,
                    last_seen_ms: now,
                    ..ListingEpisode::default()
                });
                store_for_checks.record_check(&check, episode.as_ref()).unwrap();
                if listed {
                    work::listing_opened(&store_for_checks, &zen, &address, since, now).unwrap();
                }
            }
        }
    })
    .await
    .unwrap();
    store.flush().await.unwrap();
    println!(
        "store: {hosts} hosts, {ips} IPs, {} reports, {} checks, {} listings with cases; loaded in {:.1} s + {:.1} s",
        hosts * 4,
        ips * zones,
        ips / 100,
        loaded_reports.as_secs_f64(),
        start.elapsed().as_secs_f64()
    );

    let ingest = Arc::new(IngestStats::default());
    let process = Process { version: "bench", started_ms: now };
    let scan = ControllerMetrics::new(
        collect::Sources {
            store: store.clone(),
            engine: None,
            ingest: ingest.clone(),
            tls: None,
            tls_reload: None,
            roles: Default::default(),
        },
        process,
    );
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        scan.scrape(now);
        times.push(t.elapsed());
    }
    report_times("scrape, no engine", &mut times, None);
    // The engine keeps listing counts (no pass runs; the resolver is never asked).
    config.dnsbl.enabled = true;
    config.dnsbl.nameservers = vec!["127.0.0.1:9".into()];
    for z in catalog.zones() {
        let on = zone_ids.contains(&z.id);
        config.dnsbl.catalog.zone.insert(z.id.clone(), ZoneOverride { enabled: Some(on), ..Default::default() });
    }
    let engine = build_engine(&config, store.clone(), build_catalog(&config).unwrap()).unwrap();
    let sources = collect::Sources {
        store: store.clone(),
        engine: Some(engine),
        ingest,
        tls: None,
        tls_reload: None,
        roles: Default::default(),
    };
    let scraper = ControllerMetrics::new(sources.clone(), process);
    let mut times = Vec::new();
    let mut text = String::new();
    for _ in 0..7 {
        let t = Instant::now();
        text = scraper.scrape(now);
        times.push(t.elapsed());
        assert!(text.contains(&format!("\nrblfleet_hosts {hosts}\n")));
    }
    report_times("scrape (reads + text)", &mut times, None);
    // Each collector's share of the last scrape, as it reports it.
    let prefix = "rblfleet_scrape_collector_duration_seconds{collector=\"";
    let shares: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix(prefix)?.split_once("\"} "))
        .map(|(name, s)| format!("{name} {:.1} ms", s.parse::<f64>().unwrap() * 1000.0))
        .collect();
    println!("  {}", shares.join(", "));
    breakdown(&store, now);

    let config = MetricsConfig { enabled: true, listen: SocketAddr::from(([127, 0, 0, 1], 0)) };
    let bound = metrics::bind(&config).await.unwrap().unwrap();
    let addr = bound.addr;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = metrics::spawn(bound, sources, stopped);
    let mut times = Vec::new();
    let mut bytes = 0;
    for _ in 0..7 {
        let t = Instant::now();
        bytes = scrape(addr).await;
        times.push(t.elapsed());
    }
    report_times("GET /metrics over HTTP", &mut times, Some(bytes));
    stop.send(true).unwrap();
    task.await.unwrap();
}

/// Where a snapshot's time goes: each store read on its own, once.
fn breakdown(store: &Store, now: i64) {
    let t = Instant::now();
    let hosts = store.list_hosts().unwrap();
    let list = t.elapsed();
    let t = Instant::now();
    for h in &hosts {
        store.rollups(&h.host_id, now - 86_400_000, now + 3_600_000).unwrap();
    }
    let rollups = t.elapsed();
    let t = Instant::now();
    let checks = store.all_checks().unwrap().len();
    let all_checks = t.elapsed();
    let t = Instant::now();
    let cases = store.all_cases().unwrap().len() + store.all_receiver_states().unwrap().len();
    let rest = t.elapsed();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "  list_hosts {:.1} ms, rollups of {} hosts {:.1} ms, all_checks ({checks}) {:.1} ms, cases+receivers ({cases}) {:.1} ms",
        ms(list),
        hosts.len(),
        ms(rollups),
        ms(all_checks),
        ms(rest)
    );
}

fn report_times(name: &str, times: &mut [Duration], bytes: Option<usize>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let size = bytes.map(|b| format!(" ({} KB)", b / 1024)).unwrap_or_default();
    println!("{name:<24} median {:>7.1} ms  max {:>7.1} ms{size}, 7 runs", ms(times[3]), ms(times[6]));
}
