//! `rblfleet-agent run`: the agent until SIGTERM or Ctrl-C.

use anyhow::Context;

use super::ConfigArgs;
use crate::{Agent, RunOptions};

pub async fn run(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = super::load(&args.config)?;
    config.check_transport(args.insecure)?;
    if args.insecure {
        tracing::warn!(
            "--insecure: reports go to the controller UNENCRYPTED and UNAUTHENTICATED; \
             use this only for development against a loopback controller"
        );
    }
    let agent = Agent::open(config, RunOptions { insecure: args.insecure })
        .await
        .with_context(|| format!("starting with {}", args.config.display()))?;
    agent.run(shutdown_signal()).await;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM (systemd's stop signal). A handler that
/// cannot be installed is logged and the agent runs until killed.
async fn shutdown_signal() {
    match rblfleet_shell::signal::shutdown().await {
        Ok(signal) => tracing::info!("{signal}: shutting down"),
        Err(e) => {
            tracing::error!(error = %e, "cannot listen for Ctrl-C or SIGTERM");
            std::future::pending::<()>().await;
        }
    }
}
