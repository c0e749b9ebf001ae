//! `rblfleet-agent service install|uninstall|start|stop|run`: the agent as a
//! Windows service. The rules are in [`crate::windows::service`]; this file
//! parses the arguments, talks to the administrator and, for `run`, hosts
//! the agent under the Service Control Manager. On other systems every
//! action fails with a clear message: systemd runs the agent there.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::windows::service::Account;

/// Why the command refuses to work off Windows.
#[cfg(not(windows))]
pub const ONLY_ON_WINDOWS: &str = "`rblfleet-agent service` works only on Windows, where it registers the agent \
                                   with the Service Control Manager; on Linux the package's systemd unit runs \
                                   the agent (systemctl enable --now rblfleet-agent)";

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub action: Action,
}

#[derive(Debug, Subcommand)]
pub enum Action {
    /// Register the agent as the service "rblfleet-agent" (automatic start,
    /// restart after a crash), create %ProgramData%\rblfleet with the example
    /// config and set its ACLs; run again after an upgrade to update it.
    Install {
        /// The account the service runs as: its own virtual account
        /// (NT SERVICE\rblfleet-agent), LocalService, or LocalSystem (needed
        /// only for containment actions, which run Plesk's tools).
        #[arg(long, value_enum, default_value = "virtual")]
        account: AccountArg,
    },
    /// Stop the service (waiting for its clean stop) and remove it; the data
    /// directory (config, certificates, unsent reports) is kept.
    Uninstall,
    /// Start the service and wait until it runs.
    Start,
    /// Stop the service and wait until it stopped: the outbox is flushed and
    /// the log positions are written first.
    Stop,
    /// Run as the service (the Service Control Manager starts this; in a
    /// console use `rblfleet-agent run`).
    Run {
        /// The agent's TOML config file.
        #[arg(long, short = 'c', value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// `--account`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AccountArg {
    /// NT SERVICE\rblfleet-agent.
    Virtual,
    /// NT AUTHORITY\LocalService.
    LocalService,
    /// LocalSystem.
    LocalSystem,
}

impl From<AccountArg> for Account {
    fn from(arg: AccountArg) -> Account {
        match arg {
            AccountArg::Virtual => Account::Virtual,
            AccountArg::LocalService => Account::LocalService,
            AccountArg::LocalSystem => Account::LocalSystem,
        }
    }
}

pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
    #[cfg(windows)]
    return on_windows::run(args, out);
    #[cfg(not(windows))]
    {
        let _ = (args, out);
        anyhow::bail!(ONLY_ON_WINDOWS)
    }
}

/// The service's work between start and stop, the same on every system (so
/// it is tested on Linux): load the config, open the agent, report
/// `running`, and run it until `stop` turns true. The stop goes through the
/// agent's own shutdown path (`Agent::run`): the last report is stored with
/// its log checkpoints and the outbox flushed, as on SIGTERM.
// Called only by the Windows service's main function; tested everywhere.
#[cfg_attr(not(windows), allow(dead_code))]
pub(crate) async fn body(
    config: &Path,
    mut stop: tokio::sync::watch::Receiver<bool>,
    running: impl FnOnce(),
    stopping: impl FnOnce(),
) -> anyhow::Result<()> {
    use anyhow::Context;

    let loaded = super::load(config)?;
    loaded.check_transport(false)?;
    let agent = crate::Agent::open(loaded, crate::RunOptions { insecure: false })
        .await
        .with_context(|| format!("starting with {}", config.display()))?;
    running();
    tracing::info!(config = %config.display(), "the agent runs as a service");
    agent
        .run(async move {
            // A dropped sender (the handler gone) stops the agent too.
            let _ = stop.wait_for(|stop| *stop).await;
            tracing::info!("service stop: flushing the outbox and writing the log positions");
            stopping();
        })
        .await;
    Ok(())
}

#[cfg(windows)]
mod on_windows {
    use std::io::Write;

    use anyhow::Context;

    use super::{Action, Args};
    use crate::windows::discover::{discover, fallback_dirs};
    use crate::windows::layout::DataLayout;
    use crate::windows::service::{self, InstallOptions, STOP_TIMEOUT};
    use crate::windows::system::{LocalMachine, Scm};

    fn env(name: &str) -> Option<String> {
        std::env::var(name).ok()
    }

    pub(super) fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
        let layout = DataLayout::from_env(env);
        match &args.action {
            Action::Install { account } => install(&layout, (*account).into(), out),
            Action::Uninstall => {
                if service::uninstall(&mut Scm::connect()?, STOP_TIMEOUT, &layout)? {
                    writeln!(out, "removed the service; {} is kept", layout.root().display())?;
                } else {
                    writeln!(out, "the service is not installed")?;
                }
                Ok(())
            }
            Action::Start => {
                service::start_and_wait(&mut Scm::connect()?, STOP_TIMEOUT, &layout)?;
                Ok(writeln!(out, "the service runs; its log: {}", layout.log_file().display())?)
            }
            Action::Stop => {
                service::stop_and_wait(&mut Scm::connect()?, STOP_TIMEOUT, &layout)?;
                Ok(writeln!(out, "the service stopped")?)
            }
            Action::Run { config } => {
                // The data directory is the config's: a service's environment
                // may name another %ProgramData% than the installer's did.
                let config = config.clone().unwrap_or_else(|| layout.config());
                let layout = config.parent().map_or(layout, DataLayout::new);
                crate::windows::system::run_service(config, layout).context(
                    "not started by the Service Control Manager: use `rblfleet-agent service start`, \
                     or `rblfleet-agent run --config FILE` in a console",
                )
            }
        }
    }

    fn install(layout: &DataLayout, account: service::Account, out: &mut dyn Write) -> anyhow::Result<()> {
        let executable = std::env::current_exe().context("finding this program's path")?;
        let example = executable.parent().map(|dir| dir.join("agent.example.toml"));
        let options = InstallOptions {
            layout: layout.clone(),
            executable: executable.clone(),
            account,
            example_config: example,
            wait: STOP_TIMEOUT,
        };
        let report = service::install(&options, &mut Scm::connect()?)?;
        let verb = if report.upgraded { "updated" } else { "installed" };
        writeln!(out, "{verb} the service {} ({})", service::SERVICE_NAME, executable.display())?;
        writeln!(out, "  runs as   {}", account.object_name())?;
        writeln!(out, "  data      {} (ACLs set: {})", layout.root().display(), report.acls)?;
        match discover(&LocalMachine, &fallback_dirs(env)) {
            Some(found) => {
                writeln!(out, "  MailEnable {} (logs {})", found.install.display(), found.smtp_logs.display())?
            }
            None => writeln!(out, "  MailEnable not found: set logs.paths and queue.mailenable_root in the config")?,
        }
        if report.restarted {
            writeln!(out, "the service was running and was restarted")?;
        } else {
            if report.config_written {
                writeln!(out, "next: edit {} (controller.url)", layout.config().display())?;
            }
            writeln!(
                out,
                "next: copy ca.crt, agent.crt and agent.key into {} (copied files take its ACL: SYSTEM, \
                 Administrators and the service only), then `rblfleet-agent service start`",
                layout.root().display()
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
