//! Two controllers' engines on one database (a real throwaway cluster):
//! the one that takes over reads the due times and the day's usage the
//! other left, so it neither re-checks everything nor spends the budget
//! again.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rblfleet_proto::v1::{AgentInfo, HostIp, HostReport};

use crate::catalog::Catalog;
use crate::clock::now_ms;
use crate::dnsbl::budget::utc_day;
use crate::dnsbl::engine::{Engine, EngineConfig};
use crate::dnsbl::lookup::{Lookups, ResolverSettings};
use crate::dnsbl::zone_server::ZoneServer;
use crate::store::{Store, StoreOptions, TestDb};

/// One IP zone whose day allows 10 queries.
const CATALOG: &str = "schema = 1\nas_of = \"test\"\n\
    [[zone]]\nid = \"z0\"\nname = \"test zone\"\noperator = \"test\"\nzone = \"z0.test\"\nkind = \"ip\"\n\
    ipv4 = true\nipv6 = true\nblocks_public_resolvers = false\ntxt = false\nenabled = true\nverified = true\n\
    usage_policy = \"test\"\nbudget = { per_second = 1000, per_day = 10 }\n\
    codes = [{ code = \"127.0.0.2\", meaning = \"listed\" }]\n[zone.delist]\nkind = \"auto_expire\"\nexpiry = \"1d\"\n";

#[allow(clippy::unwrap_used)]
async fn report(store: &Store, host: &str, first: u8, count: u8) {
    let now = now_ms();
    let report = HostReport {
        host_id: host.into(),
        epoch: 1,
        seq: 1,
        period_start_ms: now - 60_000,
        period_end_ms: now,
        agent: Some(AgentInfo { version: "test".into(), ..AgentInfo::default() }),
        ips: (first..first + count)
            .map(|n| HostIp {
                address: IpAddr::V4(Ipv4Addr::new(192, 0, 2, n)).to_string(),
                public: true,
                sends_mail: true,
                ..HostIp::default()
            })
            .collect(),
        ..HostReport::default()
    };
    store.apply_report(&report, now).await.unwrap();
}

#[allow(clippy::unwrap_used)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_leader_keeps_the_old_ones_due_times_and_the_fleets_daily_budget() {
    let Some(db) = TestDb::create_or_skip("dnsbl::engine::resume::tests::a_new_leader_keeps") else { return };
    let dns = ZoneServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let catalog = Arc::new(Catalog::from_toml_str(CATALOG, "test").unwrap());
    dns.add_zone(&catalog.zones()[0].display_zone()).unwrap();
    let settings = ResolverSettings { nameservers: vec![dns.addr()], timeout: Duration::from_secs(2), retries: 1 };
    let open = || Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
    let (a, b) = (open(), open());
    report(&a, "h1", 1, 3).await;
    // Both controllers start (and build their engines) before either runs it.
    let engine = |store: &Store| {
        let lookups = Lookups::new(&settings).unwrap();
        Engine::new(catalog.clone(), lookups, store.clone(), EngineConfig::default(), vec![]).unwrap()
    };
    let (first, second) = (engine(&a), engine(&b));

    // The first leader probes the zone (2 queries) and checks the 3 IPs.
    let stats = first.pass().await.unwrap();
    assert_eq!((stats.probes, stats.checks), (1, 3));
    let day = utc_day(now_ms());
    assert_eq!(a.zone_usage("z0", day).unwrap(), 5);

    // The second takes over: nothing is due again, and its probe counts on
    // top of the first's queries.
    tokio::task::block_in_place(|| second.resume()).unwrap();
    let stats = second.pass().await.unwrap();
    assert_eq!((stats.probes, stats.checks), (1, 0), "re-checked what the old leader had just checked");
    assert_eq!(b.zone_usage("z0", day).unwrap(), 7);

    // Eight new IPs, three queries left of the fleet's 10 today.
    report(&b, "h2", 10, 8).await;
    let stats = second.pass().await.unwrap();
    assert_eq!((stats.checks, stats.deferred), (3, 5));
    assert_eq!(b.zone_usage("z0", day).unwrap(), 10);

    // And back to the first (it led before, with stale counts): within budget still.
    tokio::task::block_in_place(|| first.resume()).unwrap();
    let stats = first.pass().await.unwrap();
    assert_eq!((stats.checks, stats.deferred), (0, 5));
    assert_eq!(a.zone_usage("z0", day).unwrap(), 10);
}

#[allow(clippy::unwrap_used)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recheck_the_old_leader_claimed_but_never_ran_is_run_by_the_new_one() {
    let test = "dnsbl::engine::resume::tests::a_recheck_the_old_leader_claimed_but_never_ran";
    let Some(db) = TestDb::create_or_skip(test) else { return };
    let dns = ZoneServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    let catalog = Arc::new(Catalog::from_toml_str(CATALOG, "test").unwrap());
    dns.add_zone(&catalog.zones()[0].display_zone()).unwrap();
    let settings = ResolverSettings { nameservers: vec![dns.addr()], timeout: Duration::from_secs(2), retries: 1 };
    let open = || Store::open_postgres(&db.options(), &StoreOptions::default()).unwrap();
    let engine = |store: &Store| {
        let lookups = Lookups::new(&settings).unwrap();
        Engine::new(catalog.clone(), lookups, store.clone(), EngineConfig::default(), vec![]).unwrap()
    };
    let (a, b) = (open(), open());
    report(&a, "h1", 1, 1).await;
    let old = engine(&a);
    let stats = old.pass().await.unwrap();
    assert_eq!(stats.checks, 1);

    // A bounce on the other controller names the IP; the old leader claims
    // the recheck at the start of a pass and dies before sending it.
    assert!(b.queue_recheck("192.0.2.1").unwrap());
    tokio::task::block_in_place(|| old.take_stored_rechecks()).unwrap();
    drop(old);
    drop(a);

    // The new leader's first pass checks it (forced: not due for hours),
    // and only then is it gone from the queue.
    let new = engine(&b);
    new.new_claims_term();
    tokio::task::block_in_place(|| new.resume()).unwrap();
    let stats = new.pass().await.unwrap();
    assert_eq!((stats.checks, stats.by_class[0]), (1, 1), "the claimed recheck was lost: {stats:?}");
    assert!(tokio::task::block_in_place(|| b.claim_rechecks("anyone")).unwrap().is_empty());
    // Nothing forced is left: the next pass checks nothing.
    assert_eq!(new.pass().await.unwrap().checks, 0);
}
