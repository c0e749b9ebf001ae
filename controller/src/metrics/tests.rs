#![allow(clippy::unwrap_used)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::ingest::IngestStats;
use crate::store::{Store, StoreError, StoreOptions};

/// A real store and the controller's own collectors, plus one that always
/// fails as a store read would: the scrape is still a 200, with only that
/// collector's families missing.
#[tokio::test]
async fn a_failing_collector_leaves_a_whole_scrape_with_its_success_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data"), &StoreOptions::default()).unwrap();
    let sources = Sources {
        store,
        engine: None,
        ingest: Arc::new(IngestStats::default()),
        tls: None,
        tls_reload: None,
        roles: Default::default(),
    };
    let mut metrics = ControllerMetrics::new(sources, Process { version: "test", started_ms: 0 });
    metrics.collectors.insert(
        0,
        Collector::new("broken", |_: &Scrape, e: &mut Encoder| {
            e.family("rblfleet_broken", text::Kind::Gauge, "Never shown.").sample(&[], 1.0);
            Err(StoreError::Corrupt { key: "hosts/x".into(), reason: "bad".into() }.into())
        }),
    );
    let bound =
        bind(&MetricsConfig { enabled: true, listen: SocketAddr::from(([127, 0, 0, 1], 0)) }).await.unwrap().unwrap();
    let addr = bound.addr;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(http::serve(bound.listener, Arc::new(metrics), stopped));

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(!response.contains("rblfleet_broken"), "{response}");
    let success = |name: &str, ok: u8| format!("\nrblfleet_scrape_collector_success{{collector=\"{name}\"}} {ok}\n");
    assert!(response.contains(&success("broken", 0)), "{response}");
    // Blocklist checks are off: no zones collector.
    for name in ["fleet", "agents", "ingest", "store_writer", "disk", "controller"] {
        assert!(response.contains(&success(name, 1)), "{name}: {response}");
    }
    assert!(!response.contains("collector=\"zones\""), "{response}");
    assert!(!response.contains("collector=\"tls_reload\""), "no TLS, no reloader: {response}");
    for sample in
        ["\nrblfleet_hosts 0\n", "\nrblfleet_cases{state=\"open\"} 0\n", "\nrblfleet_build_info{version=\"test\"} 1\n"]
    {
        assert!(response.contains(sample), "{sample}: {response}");
    }
    assert!(response.contains("\nrblfleet_store_free_bytes "), "{response}");
    stop.send(true).unwrap();
    task.await.unwrap();
}

/// Certificate expiries: an agent recorded by the agent API (here through
/// the registry it writes to, with a certificate the CA code issued) and
/// the controller's own certificate and CA files, read at each scrape. A
/// CA file that goes missing fails only the "certificates" collector.
#[test]
fn certificate_expiries_are_gauges_per_agent_and_per_own_certificate() {
    use crate::ca::{self, Subject};
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    ca::init(&ca_dir, "metrics test CA", 100).unwrap();
    let controller = ca::issue(&ca_dir, &Subject::Controller { names: vec!["c.example".into()] }, 50, false).unwrap();
    // A host id no other test uses: the registry is the process's.
    let host = "metrics-cert-test.example";
    let agent = ca::issue(&ca_dir, &Subject::Agent { host_id: host.into() }, 20, false).unwrap();
    let der = x509_parser::pem::parse_x509_pem(&std::fs::read(&agent.cert).unwrap()).unwrap().1.contents;
    let agent_expiry = crate::ca::expiry::registry().record_agent(host, &der).unwrap();

    let store = Store::open(&dir.path().join("data"), &StoreOptions::default()).unwrap();
    let tls = crate::ca::expiry::OwnFiles { cert: controller.cert.clone(), ca: ca_dir.join(ca::CA_CERT) };
    let own = tls.read().unwrap();
    let sources = Sources {
        store,
        engine: None,
        ingest: Arc::new(IngestStats::default()),
        tls: Some(tls),
        tls_reload: None,
        roles: Default::default(),
    };
    let metrics = ControllerMetrics::new(sources, Process { version: "test", started_ms: 0 });
    let text = metrics.scrape(crate::clock::now_ms());

    let secs = |ms: i64| (ms / 1000).to_string();
    let agent_line =
        format!("\nrblfleet_agent_certificate_expiry_timestamp_seconds{{host=\"{host}\"}} {}\n", secs(agent_expiry));
    assert!(text.contains(&agent_line), "{agent_line}: {text}");
    assert!(text.contains("# TYPE rblfleet_certificate_expiry_timestamp_seconds gauge\n"), "{text}");
    for (kind, name, expiry) in
        [("controller", "c.example", own[0].not_after_ms), ("ca", "metrics test CA", own[1].not_after_ms)]
    {
        let line = format!(
            "\nrblfleet_certificate_expiry_timestamp_seconds{{kind=\"{kind}\",name=\"{name}\"}} {}\n",
            secs(expiry)
        );
        assert!(text.contains(&line), "{line}: {text}");
    }
    let now_s = crate::clock::now_ms() / 1000;
    assert!((own[0].not_after_ms / 1000 - (now_s + 50 * 86_400)).abs() < 10);
    assert!(text.contains("\nrblfleet_scrape_collector_success{collector=\"certificates\"} 1\n"), "{text}");

    std::fs::remove_file(ca_dir.join(ca::CA_CERT)).unwrap();
    let text = metrics.scrape(crate::clock::now_ms());
    assert!(text.contains("\nrblfleet_scrape_collector_success{collector=\"certificates\"} 0\n"), "{text}");
    assert!(!text.contains("rblfleet_certificate_expiry_timestamp_seconds{"), "{text}");
    assert!(text.contains(&agent_line), "the agents' family stays: {text}");
}

/// The TLS reloader's status: a renewal that does not load turns
/// `rblfleet_tls_last_reload_successful` to 0 (what the "certificate reload
/// failing" alert watches) without counting a reload; the fixed files count
/// one and turn it back to 1.
#[test]
fn tls_reload_status_is_a_counter_and_a_success_gauge() {
    use crate::ca::{self, Subject};
    use crate::server::tls::ReloadingTls;
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    ca::init(&ca_dir, "metrics reload CA", 30).unwrap();
    let issued = ca::issue(&ca_dir, &Subject::Controller { names: vec!["c.example".into()] }, 30, false).unwrap();
    let files = crate::config::Tls {
        ca: ca_dir.join(ca::CA_CERT),
        cert: issued.cert.clone(),
        key: issued.key.clone(),
        ..Default::default()
    };
    let tls = Arc::new(ReloadingTls::load(&files).unwrap());
    let store = Store::open(&dir.path().join("data"), &StoreOptions::default()).unwrap();
    let sources = Sources {
        store,
        engine: None,
        ingest: Arc::new(IngestStats::default()),
        tls: None,
        tls_reload: Some(tls.clone()),
        roles: Default::default(),
    };
    let metrics = ControllerMetrics::new(sources, Process { version: "test", started_ms: 0 });
    let scrape = || metrics.scrape(crate::clock::now_ms());
    let expect = |text: &str, reloads: u32, ok: u8| {
        assert!(text.contains("# TYPE rblfleet_tls_reloads_total counter\n"), "{text}");
        assert!(text.contains("# TYPE rblfleet_tls_last_reload_successful gauge\n"), "{text}");
        assert!(text.contains(&format!("\nrblfleet_tls_reloads_total {reloads}\n")), "{reloads}: {text}");
        assert!(text.contains(&format!("\nrblfleet_tls_last_reload_successful {ok}\n")), "{ok}: {text}");
        assert!(text.contains("\nrblfleet_scrape_collector_success{collector=\"tls_reload\"} 1\n"), "{text}");
    };
    expect(&scrape(), 0, 1);

    // A half-written key: the old configuration stays, the gauge says so.
    let good_key = std::fs::read(&files.key).unwrap();
    std::fs::write(&files.key, b"-----BEGIN PRIVATE KEY-----\ntruncated").unwrap();
    assert!(!tls.reload_now());
    expect(&scrape(), 0, 0);

    // The key put back whole: one reload, and the gauge recovers.
    std::fs::write(&files.key, good_key).unwrap();
    assert!(tls.reload_now());
    expect(&scrape(), 1, 1);
}

/// One gauge per role this controller runs a runner for.
#[test]
fn roles_are_one_gauge_each() {
    use crate::store::Role;
    let mut e = crate::metrics::text::Encoder::new();
    super::families::roles(&mut e, &[(Role::Engine, true), (Role::Alerts, false)]);
    let text = e.finish();
    assert!(text.contains("# TYPE rblfleet_role_leader gauge\n"), "{text}");
    assert!(text.contains("\nrblfleet_role_leader{role=\"engine\"} 1\n"), "{text}");
    assert!(text.contains("\nrblfleet_role_leader{role=\"alerts\"} 0\n"), "{text}");
    assert!(!text.contains("role=\"retention\""), "{text}");
}

/// Two controllers on one database (a real throwaway cluster): the engine's
/// leader spends a zone's budget and stores a listing. The follower's
/// /metrics shows the fleet's budget use and the stored listing, not its
/// own engine's memory (0 of both), and leaves zone health to the leader,
/// whose /metrics has it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_shows_the_fleets_budget_use_and_listings_and_leaves_zone_health_to_the_leader() {
    use rblfleet_proto::v1::{CheckStatus, ZoneCheck};

    use crate::catalog::Catalog;
    use crate::dnsbl::budget::utc_day;
    use crate::dnsbl::engine::{Engine, EngineConfig};
    use crate::dnsbl::lookup::{Lookups, ResolverSettings};
    use crate::roles::Roles;
    use crate::store::{LeadTiming, Role, TestDb};

    const CATALOG: &str = "schema = 1\nas_of = \"test\"\n\
        [[zone]]\nid = \"z0\"\nname = \"test zone\"\noperator = \"test\"\nzone = \"z0.test\"\nkind = \"ip\"\n\
        ipv4 = true\nipv6 = true\nblocks_public_resolvers = false\ntxt = false\nenabled = true\nverified = true\n\
        usage_policy = \"test\"\nbudget = { per_second = 10, per_day = 100 }\n\
        codes = [{ code = \"127.0.0.2\", meaning = \"listed\" }]\n[zone.delist]\nkind = \"auto_expire\"\nexpiry = \"1d\"\n";
    const FAST: LeadTiming = LeadTiming {
        retry: std::time::Duration::from_millis(100),
        check: std::time::Duration::from_millis(300),
        timeout: std::time::Duration::from_secs(2),
        settle: std::time::Duration::from_millis(200),
    };
    let test = "metrics::tests::a_follower_shows_the_fleets_budget_use_and_listings";
    let Some(db) = TestDb::create_or_skip(test) else { return };
    let open = || Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
    let (a, b) = (open(), open());
    let catalog = Arc::new(Catalog::from_toml_str(CATALOG, "test").unwrap());
    // Nothing is looked up: the engines only hold what /metrics reads.
    let settings = ResolverSettings {
        nameservers: vec![SocketAddr::from(([127, 0, 0, 1], 9))],
        timeout: std::time::Duration::from_secs(1),
        retries: 0,
    };
    let engine = |store: &Store| {
        Engine::new(catalog.clone(), Lookups::new(&settings).unwrap(), store.clone(), EngineConfig::default(), vec![])
            .unwrap()
    };
    let (engine_a, engine_b) = (engine(&a), engine(&b));

    // a is elected for the engine first; b then follows.
    let (stop, stopped) = watch::channel(false);
    let idle = |mut stop: watch::Receiver<bool>| async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    let (roles_a, roles_b) = (Roles::default(), Roles::default());
    let runner_a = roles_a.run(a.leadership_at(Role::Engine, FAST).unwrap(), stopped.clone(), idle);
    let started = std::time::Instant::now();
    while roles_a.states() != [(Role::Engine, true)] {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "a never led the engine");
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let runner_b = roles_b.run(b.leadership_at(Role::Engine, FAST).unwrap(), stopped.clone(), idle);

    // The leader's engine charges 7 queries and stores a listing.
    let now = crate::clock::now_ms();
    assert_eq!(a.add_zone_usage("z0", utc_day(now), 7).unwrap(), 7);
    let check = ZoneCheck {
        ip: "192.0.2.8".into(),
        zone_id: "z0".into(),
        zone: "z0.test".into(),
        status: CheckStatus::Listed as i32,
        checked_ms: now,
        listed_since_ms: now,
        ..Default::default()
    };
    a.record_check(&check, None).unwrap();

    let sources = |store: &Store, engine: &Engine, roles: &Roles| Sources {
        store: store.clone(),
        engine: Some(engine.clone()),
        ingest: Arc::new(IngestStats::default()),
        tls: None,
        tls_reload: None,
        roles: roles.clone(),
    };
    let process = Process { version: "test", started_ms: 0 };
    let follower = ControllerMetrics::new(sources(&b, &engine_b, &roles_b), process).scrape(now);
    let leader = ControllerMetrics::new(sources(&a, &engine_a, &roles_a), process).scrape(now);
    for text in [&follower, &leader] {
        assert!(text.contains("\nrblfleet_zone_budget_used_queries{zone=\"z0\"} 7\n"), "{text}");
        assert!(text.contains("\nrblfleet_zone_budget_daily_queries{zone=\"z0\"} 100\n"), "{text}");
        assert!(text.contains("\nrblfleet_scrape_collector_success{collector=\"zones\"} 1\n"), "{text}");
    }
    assert!(follower.contains("\nrblfleet_role_leader{role=\"engine\"} 0\n"), "{follower}");
    assert!(follower.contains("\nrblfleet_listings{list=\"z0\",kind=\"dns\"} 1\n"), "{follower}");
    assert!(!follower.contains("rblfleet_zone_state") && !follower.contains("rblfleet_zone_up"), "{follower}");
    assert!(leader.contains("\nrblfleet_role_leader{role=\"engine\"} 1\n"), "{leader}");
    assert!(leader.contains("\nrblfleet_zone_state{zone=\"z0\",state=\"unchecked\"} 1\n"), "{leader}");
    // `rblfleet zones` on the follower, too.
    let zones = engine_b.zone_health();
    assert_eq!(zones.iter().find(|z| z.zone_id == "z0").map(|z| z.used_today), Some(7), "{zones:?}");

    stop.send(true).unwrap();
    for runner in [runner_a, runner_b] {
        runner.await.unwrap();
    }
}
