//! The controller on PostgreSQL (`[store] backend = "postgres"`), started
//! as `rblfleet serve` starts it (`Daemon`), on a throwaway cluster: a real
//! agent reports, the engine finds its IP listed on a real DNS zone, the
//! CLI's report and host views show it; a second controller on the same
//! database is refused, naming the first; the backup answer names pg_dump
//! and the database. Skipped with a printed WARNING where PostgreSQL
//! cannot run.

use std::net::{IpAddr, Ipv4Addr};

use rblfleet_agent::{Agent, Config as AgentConfig, RunOptions};
use rblfleet_controller::config::{Config, StoreBackend};
use rblfleet_controller::daemon::Daemon;
use rblfleet_controller::store::TestDb;
use rblfleet_tests::{Pki, agent_toml, controller_config, enable_dnsbl, only_zones, test_zone_server};
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_serves_from_postgresql_and_a_second_one_is_refused() {
    let test = "e2e::postgres::a_controller_serves_from_postgresql_and_a_second_one_is_refused";
    let Some(db) = TestDb::create_or_skip(test) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let dns = test_zone_server().await;
    let mut config: Config = controller_config(&pki, &tmp.path().join("data"), 0, false);
    enable_dnsbl(&mut config, &dns);
    only_zones(&mut config, &["bl"]);
    config.store.backend = StoreBackend::Postgres;
    config.store.url = Some(db.url.clone());
    config.store.pool_size = 4;
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
