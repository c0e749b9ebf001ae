//! `rblfleet doctor`: check everything the controller depends on, on the
//! controller host, from the configuration `rblfleet serve` reads.
//!
//! Exit status: 0 every check ok, 1 warnings, 2 failures. Works with the
//! controller running or stopped (it never opens the store).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use super::{Exit, Format};
use crate::doctor::{self, Options, Status};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Controller configuration (TOML), the one `rblfleet serve` reads.
    #[arg(long, short, env = "RBLFLEET_CONFIG", value_name = "FILE")]
    pub config: PathBuf,
    /// The configuration is for `serve --insecure` (development only).
    #[arg(long)]
    pub insecure: bool,
    /// A name agents connect to (the host of their controller.url, or their
    /// server_name); it must be in the controller certificate. Repeatable.
    #[arg(long, value_name = "NAME")]
    pub agent_name: Vec<String>,
    /// Deadline of each check (a zone row: both its probes).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let options = Options {
        config: args.config,
        insecure: args.insecure,
        timeout: args.timeout.max(Duration::from_millis(1)),
        agent_names: args.agent_name,
    };
    let report = doctor::run(&options).await;
    report.write(out, matches!(args.format, Format::Json))?;
    match report.worst() {
        Status::Ok => Ok(()),
        worst => Err(Exit(worst.exit_code()).into()),
    }
}
