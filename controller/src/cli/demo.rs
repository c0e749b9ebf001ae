//! `rblfleet demo`: the pipeline end to end on this machine, offline.
//!
//! A throwaway CA, a controller on loopback ports with mutual TLS and a store
//! in a temporary directory, and one in-process agent that reports a few
//! times; then the same `hosts` and `host` views a NOC would use. Nothing is
//! installed and nothing leaves the machine.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rblfleet_agent::{Agent, Config as AgentConfig, RunOptions};

use super::{Connect, Format, host, hosts};
use crate::ca::{self, Subject};
use crate::config::Config;
use crate::daemon::Daemon;

const DEMO_HOST: &str = "demo-web01.example";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format of the views printed at the end.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Reports the agent sends before the views are printed.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub reports: u32,
    /// Keep the controller and the agent running (Ctrl-C stops) so other
    /// commands can be tried against it.
    #[arg(long)]
    pub keep_running: bool,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let config = demo_config(tmp.path())?;
    let daemon = Daemon::start(&config, false).await?;
    let admin_url = format!("http://{}", daemon.servers.admin_addr);

    let agent_toml = agent_toml(tmp.path(), daemon.servers.agent_addr);
    let mut agent = Agent::open(AgentConfig::from_toml_str(&agent_toml)?, RunOptions::default()).await?;
    for _ in 0..args.reports {
        agent.tick()?;
        let outcome = agent.flush().await;
        if let Some(error) = outcome.last_error {
            anyhow::bail!("the demo agent could not report: {error}");
        }
    }

    let connect = Connect { controller: admin_url.clone(), ca: None, cert: None, key: None };
    let silent_after = Duration::from_secs(300);
    hosts::run(hosts::Args { connect: connect.clone(), format: args.format, silent_after }, out).await?;
    if args.format == Format::Table {
        writeln!(out)?;
        host::run(host::Args { name: DEMO_HOST.into(), connect, format: args.format, silent_after }, out).await?;
    }

    if args.keep_running {
        writeln!(
            out,
            "\nThe demo controller keeps running; in another terminal try:\n  rblfleet hosts --controller {admin_url}\n  rblfleet host {DEMO_HOST} --controller {admin_url}\nCtrl-C stops it and deletes {}.",
            tmp.path().display()
        )?;
        out.flush()?;
        agent.run(async { tokio::signal::ctrl_c().await.unwrap_or(()) }).await;
    } else {
        drop(agent);
    }
    daemon.shutdown().await?;
    Ok(())
}

fn demo_config(dir: &Path) -> anyhow::Result<Config> {
    let ca_dir = dir.join("ca");
    ca::init(&ca_dir, "rblfleet demo CA", 1)?;
    ca::issue(&ca_dir, &Subject::Controller { names: vec!["localhost".into(), "127.0.0.1".into()] }, 1, false)?;
    ca::issue(&ca_dir, &Subject::Agent { host_id: DEMO_HOST.into() }, 1, false)?;
    let mut config = Config { data_dir: dir.join("data"), ..Config::default() };
    config.agent_api.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin_api.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.tls.ca = ca_dir.join(ca::CA_CERT);
    config.tls.cert = ca_dir.join("controller.crt");
    config.tls.key = ca_dir.join("controller.key");
    // Blocklist zones for the demo arrive with the in-process DNS server (issue 5).
    config.dnsbl.enabled = false;
    config.check(false).map_err(anyhow::Error::msg)?;
    Ok(config)
}

fn agent_toml(dir: &Path, controller: SocketAddr) -> String {
    let ca_dir = dir.join("ca");
    // TOML basic strings: escape backslashes so Windows paths survive.
    let path = |p: &Path| p.display().to_string().replace('\\', "\\\\");
    format!(
        r#"
[controller]
url = "https://{controller}"
ca = "{ca}"
cert = "{cert}"
key = "{key}"
[report]
interval = "10s"
[outbox]
dir = "{outbox}"
[ips]
static = ["203.0.113.25", "2001:db8::25"]
"#,
        ca = path(&ca_dir.join(ca::CA_CERT)),
        cert = path(&ca_dir.join(format!("agents/{DEMO_HOST}.crt"))),
        key = path(&ca_dir.join(format!("agents/{DEMO_HOST}.key"))),
        outbox = path(&dir.join("agent-outbox")),
    )
}
