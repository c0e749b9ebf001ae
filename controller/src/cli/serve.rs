//! `rblfleet serve`: the controller daemon.

use std::path::PathBuf;

use anyhow::Context;

use crate::config::Config;
use crate::daemon::Daemon;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Controller configuration (TOML); every key is documented in
    /// deploy/controller.example.toml.
    #[arg(long, short, env = "RBLFLEET_CONFIG", value_name = "FILE")]
    pub config: PathBuf,
    /// Development only: plaintext gRPC, no certificates, loopback addresses
    /// only. Agents are trusted to say who they are.
    #[arg(long)]
    pub insecure: bool,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let config = Config::load(&args.config, args.insecure)?;
    if args.insecure {
        let banner = "INSECURE MODE: plaintext gRPC and no client certificates; any local process can report as any host. Never use this outside a development machine.";
        eprintln!("\n!!! {banner}\n");
        tracing::warn!("{banner}");
    }
    let mut daemon = Daemon::start(&config, args.insecure).await?;
    tracing::info!(data_dir = %config.data_dir.display(), "controller started");

    // Ctrl-C or SIGTERM (what systemd sends), or the database's serving
    // lock lost: then this controller may no longer be the only one, so it
    // stops and fails (systemd's Restart=on-failure starts it again, and
    // the start takes the lock or is refused).
    let lost = tokio::select! {
        signal = rblfleet_shell::signal::shutdown() => {
            signal.context("cannot install the signal handlers")?;
            None
        }
        why = daemon.lock_lost() => Some(why),
    };
    match &lost {
        None => tracing::info!("shutting down"),
        Some(why) => tracing::error!(%why, "stopping: this controller no longer holds the database's serving lock"),
    }
    daemon.shutdown().await?;
    if let Some(why) = lost {
        anyhow::bail!("{why}; stopped serving (restart the controller once the database is back)");
    }
    Ok(())
}
