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

/// Completes on Ctrl-C or SIGTERM (systemd's stop signal).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}
