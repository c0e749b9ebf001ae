//! `rblfleet demo`: the whole pipeline on this machine, offline.
//!
//! A throwaway CA; an in-process DNS server answering for three blocklists
//! (zen.spamhaus.org, b.barracudacentral.org, and the domain list
//! dbl.spamhaus.org) on 127.0.0.1; a controller
//! with mutual TLS and a store in a temporary directory; three in-process
//! agents replaying bundled mail logs (web01: a hijacked mailbox, web02: a
//! PHP mailer, web03: healthy); a blocklist pass; then the fleet report and
//! a host drill-down, as a NOC would read them. Nothing is installed and no
//! packet leaves 127.0.0.1.

mod setup;

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use rblfleet_agent::{Agent, Config as AgentConfig, RunOptions};

use super::{Connect, Format, host, report};
use crate::daemon::Daemon;

/// The demo hosts: id, sending IP, bundled log.
const HOSTS: [(&str, &str, &str); 3] = [
    ("demo-web01.example", "203.0.113.11", include_str!("../../../demo/web01.log")),
    ("demo-web02.example", "203.0.113.12", include_str!("../../../demo/web02.log")),
    ("demo-web03.example", "203.0.113.13", include_str!("../../../demo/web03.log")),
];

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output: the report and a drill-down as tables, or the report as JSON.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Keep the controller running (Ctrl-C stops) so other commands can be
    /// tried against it: hosts, host, ip, cases, case, zones.
    #[arg(long)]
    pub keep_running: bool,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir().context("cannot create a temporary directory")?;
    let dns = setup::blocklists().await?;
    let config = setup::controller_config(tmp.path(), &dns, HOSTS.iter().map(|h| h.0))?;
    let daemon = Daemon::start_with(&config, false, false).await?;
    let engine = daemon.engine.clone().context("the demo controller has no blocklist engine")?;
    let admin_url = format!("http://{}", daemon.servers.admin_addr);

    for (host_id, ip, log) in HOSTS {
        let log_path = tmp.path().join(format!("{host_id}.log"));
        std::fs::write(&log_path, setup::shift_timestamps(log))
            .with_context(|| format!("cannot write {}", log_path.display()))?;
        let toml = setup::agent_toml(tmp.path(), host_id, ip, &log_path, daemon.servers.agent_addr);
        let mut agent = Agent::open(AgentConfig::from_toml_str(&toml)?, RunOptions::default()).await?;
        agent.tick()?;
        if let Some(error) = agent.flush().await.last_error {
            anyhow::bail!("demo agent {host_id} could not report: {error}");
        }
    }
    engine.pass().await.context("the blocklist pass failed")?;

    let connect = Connect { controller: admin_url.clone(), ca: None, cert: None, key: None };
    let report_format =
        if args.format == Format::Json { report::ReportFormat::Json } else { report::ReportFormat::Table };
    let report_args = report::Args {
        connect: connect.clone(),
        list: vec![],
        host: vec![],
        state: vec![],
        silent_after: Duration::from_secs(300),
        format: report_format,
    };
    if args.format == Format::Table {
        writeln!(out, "== rblfleet report\n")?;
    }
    report::run(report_args, out).await?;
    if args.format == Format::Table {
        writeln!(out, "\n== rblfleet host {}\n", HOSTS[0].0)?;
        let host_args = host::Args {
            name: HOSTS[0].0.into(),
            connect,
            format: args.format,
            silent_after: Duration::from_secs(300),
        };
        host::run(host_args, out).await?;
    }

    if args.keep_running {
        writeln!(
            out,
            "\nThe demo controller keeps running; in another terminal try:\n  rblfleet report --controller {admin_url}\n  \
             rblfleet cases --controller {admin_url}\n  rblfleet ip {} --controller {admin_url}\n  \
             rblfleet domain club.example --controller {admin_url}\nCtrl-C stops it.",
            HOSTS[0].1
        )?;
        out.flush()?;
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    }
    daemon.shutdown().await?;
    Ok(())
}
