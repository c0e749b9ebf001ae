//! The controller on PostgreSQL (`[store] backend = "postgres"`), started
//! as `rblfleet serve` starts it (`Daemon`), on a throwaway cluster: a real
//! agent reports, the engine finds its IP listed on a real DNS zone, the
//! CLI's report and host views show it; a second controller on the same
//! database is refused, naming the first; the backup answer names pg_dump
//! and the database. With `controllers = "several"` two controllers serve
//! one database together, while a `single` one and a migration are
//! refused. Skipped with a printed WARNING where PostgreSQL cannot run.

use std::net::{IpAddr, Ipv4Addr};

use rblfleet_agent::{Agent, Config as AgentConfig, RunOptions};
use rblfleet_controller::config::{Config, Controllers, StoreBackend};
use rblfleet_controller::daemon::Daemon;
use rblfleet_controller::dnsbl::zone_server::ZoneServer;
use rblfleet_controller::store::{Role, Store, StoreOptions, TestDb};
use rblfleet_tests::{
    Pki, agent_toml, controller_config, enable_dnsbl, only_zones, raw_agent_client, test_zone_server, valid_report,
};
use serde_json::Value;

const HOST: &str = "web01.example";
/// One of the static IPs `agent_toml` gives the agent.
const IP: &str = "203.0.113.10";

async fn cli(daemon: &Daemon, args: &[&str]) -> anyhow::Result<String> {
    let mut argv = vec!["rblfleet".to_string()];
    argv.extend(args.iter().map(|a| a.to_string()));
    argv.extend(["--controller".into(), format!("http://127.0.0.1:{}", daemon.servers.admin_addr.port())]);
    let mut out = Vec::new();
    rblfleet_controller::cli::run_args(argv, &mut out).await?;
    Ok(String::from_utf8(out)?)
}

async fn json(daemon: &Daemon, args: &[&str]) -> Value {
    serde_json::from_str(&cli(daemon, args).await.unwrap()).unwrap()
}

/// A controller on `db` checking the test zone `bl` only, metrics off.
fn postgres_config(pki: &Pki, tmp: &std::path::Path, dns: &ZoneServer, db: &TestDb) -> Config {
    let mut config: Config = controller_config(pki, &tmp.join("data"), 0, false);
    enable_dnsbl(&mut config, dns);
    only_zones(&mut config, &["bl"]);
    config.store.backend = StoreBackend::Postgres;
    config.store.url = Some(db.url.clone());
    config.store.pool_size = 4;
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_serves_from_postgresql_and_a_second_one_is_refused() {
    let test = "e2e::postgres::a_controller_serves_from_postgresql_and_a_second_one_is_refused";
    let Some(db) = TestDb::create_or_skip(test) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let dns = test_zone_server().await;
    let mut config = postgres_config(&pki, tmp.path(), &dns, &db);
    config.metrics.enabled = false;
    config.check(false).unwrap();
    let daemon = Daemon::start_with(&config, false, false).await.unwrap();
    assert_eq!(daemon.store.data_dir(), std::path::Path::new(""), "the store must be PostgreSQL");

    let agent_url = format!("https://127.0.0.1:{}", daemon.servers.agent_addr.port());
    let toml = agent_toml(&pki, HOST, &agent_url, &tmp.path().join("outbox"));
    let mut agent = Agent::open(AgentConfig::from_toml_str(&toml).unwrap(), RunOptions::default()).await.unwrap();
    agent.tick().unwrap();
    let outcome = agent.flush().await;
    assert_eq!((outcome.sent, agent.backlog()), (1, 0), "{outcome:?}");

    let ip: IpAddr = IP.parse().unwrap();
    dns.list("bl.test", ip, &[Ipv4Addr::new(127, 0, 0, 2)], Some("trap hits")).unwrap();
    let engine = daemon.engine.as_ref().unwrap();
    let stats = engine.pass().await.unwrap();
    assert_eq!(stats.listed, 1, "{stats:?}");

    let report = json(&daemon, &["report", "--format", "json"]).await;
    assert_eq!(report["summary"]["ips_listed"], 1, "{report}");
    let row = &report["listings"][0];
    assert_eq!((row["ip"].as_str(), row["list"].as_str()), (Some(IP), Some("bl.test")), "{row}");
    assert_eq!(row["hosts"], serde_json::json!([HOST]));
    assert_eq!(row["case"]["state"], "open");
    let host = json(&daemon, &["host", HOST, "--format", "json"]).await;
    assert_eq!(host["open_cases"][0]["id"], row["case"]["id"], "{host}");
    assert!(host.to_string().contains(IP), "{host}");

    // A second controller on the same database: refused before it serves,
    // naming the database and the first controller.
    let err = Daemon::start_with(&config, false, false).await.unwrap_err().to_string();
    let database = db.url.trim_start_matches("postgresql://rblfleet@");
    assert!(err.contains(&format!("the PostgreSQL database {database} is in use")), "{err}");
    assert!(err.contains(&format!("rblfleet controller pid {}", std::process::id())), "{err}");
    assert!(err.contains("one controller per database"), "{err}");

    // Backups are pg_dump's: the answer says so and names the database.
    let file = tmp.path().join("backup.rblfleet");
    let err = cli(&daemon, &["backup", "--output", file.to_str().unwrap()]).await.unwrap_err();
    let err = format!("{err:#}");
    assert!(err.contains("pg_dump") && err.contains(database), "{err}");
    assert!(!file.exists());

    // Stopped, the lock is free: the next controller starts and sees the data.
    daemon.shutdown().await.unwrap();
    let again = Daemon::start_with(&config, false, false).await.unwrap();
    let report = json(&again, &["report", "--format", "json"]).await;
    assert_eq!(report["listings"][0]["ip"], IP, "{report}");
    again.shutdown().await.unwrap();
}

/// `controllers = "several"`: two controllers serve one database together
/// and both take reports (a report sent to both is stored once); a forced
/// recheck asked for at one reaches the other's engine; a
/// `single` controller and `rblfleet migrate --to` are refused while they
/// serve, `several` on sled is refused outright, and once they stopped a
/// `single` controller refuses a `several` one in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_controllers_share_a_database_and_a_single_one_or_a_migration_is_refused() {
    let test = "e2e::postgres::several_controllers_share_a_database_and_a_single_one_or_a_migration_is_refused";
    let Some(db) = TestDb::create_or_skip(test) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let dns = test_zone_server().await;
    let mut config = postgres_config(&pki, tmp.path(), &dns, &db);
    config.store.controllers = Controllers::Several;
    config.metrics.enabled = false;
    config.check(false).unwrap();
    let a = Daemon::start_with(&config, false, false).await.unwrap();
    let b = Daemon::start_with(&config, false, false).await.unwrap();
    // Elected work only (the engine is not run by these daemons).
    let roles: Vec<Role> = a.roles.states().iter().map(|(role, _)| *role).collect();
    assert_eq!(roles, [Role::Retention], "{:?}", a.roles.states());

    let (cert, key) = pki.agent(HOST);
    let (one, two) = (valid_report(HOST, 1, 1), valid_report(HOST, 1, 2));
    for (report, daemon) in [(&one, &a), (&two, &b), (&one, &b)] {
        let url = format!("https://127.0.0.1:{}", daemon.servers.agent_addr.port());
        let mut client = raw_agent_client(&url, &pki.ca_cert(), Some((&cert, &key))).await.unwrap();
        client.report(report.clone()).await.unwrap();
    }
    for daemon in [&a, &b] {
        let host = json(daemon, &["host", HOST, "--format", "json"]).await;
        assert_eq!(host["reports_stored"], 2, "{host}");
    }

    // A bounce at A asks for a recheck; B's engine (say it leads) runs it
    // at its next pass, before its due time.
    let (engine_a, engine_b) = (a.engine.clone().unwrap(), b.engine.clone().unwrap());
    let first = engine_b.pass().await.unwrap();
    assert_eq!(first.checks, 1, "the report's one sending IP on bl: {first:?}");
    let idle = engine_b.pass().await.unwrap();
    assert_eq!(idle.checks, 0, "{idle:?}");
    engine_a.recheck("203.0.113.20".parse().unwrap());
    let forced = engine_b.pass().await.unwrap();
    assert_eq!((forced.checks, forced.by_class[0]), (1, 1), "{forced:?}");

    let database = db.url.trim_start_matches("postgresql://rblfleet@");
    let mut single = config.clone();
    single.store.controllers = Controllers::Single;
    let err = Daemon::start_with(&single, false, false).await.unwrap_err().to_string();
    assert!(err.contains(&format!("the PostgreSQL database {database} is in use")), "{err}");
    assert!(err.contains("shared, ") && err.contains("controllers = \"several\""), "{err}");

    let sled = tmp.path().join("sled");
    drop(Store::open(&sled, &StoreOptions::default()).unwrap());
    let migrate = ["migrate", "--from-sled", sled.to_str().unwrap(), "--to", &db.url];
    let mut argv = vec!["rblfleet".to_string()];
    argv.extend(migrate.iter().map(|a| a.to_string()));
    let err = rblfleet_controller::cli::run_args(argv, &mut Vec::new()).await.unwrap_err();
    assert!(format!("{err:#}").contains(&format!("{database} is in use")), "{err:#}");

    let mut on_sled = config.clone();
    on_sled.store.backend = StoreBackend::Sled;
    let err = Daemon::start_with(&on_sled, false, false).await.unwrap_err().to_string();
    assert!(err.starts_with("store.controllers = \"several\": needs backend = \"postgres\""), "{err}");

    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    let alone = Daemon::start_with(&single, false, false).await.unwrap();
    let err = Daemon::start_with(&config, false, false).await.unwrap_err().to_string();
    assert!(err.contains(&format!("{database} is in use")), "{err}");
    alone.shutdown().await.unwrap();
}
