//! `rblfleet-agent doctor`: check everything this host's agent depends on,
//! each with its fix. Sends no report (the controller row makes one
//! `Hello` call, which stores nothing).
//!
//! Exit status: 0 every check ok, 1 warnings, 2 failures.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::doctor::{self, Options};

/// Output of `doctor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One line per check, the fix below it.
    Table,
    /// One JSON object: status, checks [{check, status, detail, fix}].
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent's TOML config file.
    #[arg(long, short = 'c', value_name = "FILE", env = "RBLFLEET_AGENT_CONFIG", default_value = super::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// The config is for `--insecure` (plaintext to a loopback controller; development only).
    #[arg(long)]
    pub insecure: bool,
    /// Deadline of each check.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub timeout: Duration,
    /// Lines read back from the end of each log source.
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub lines: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// Runs the checks and writes them to `out`; returns the exit status.
pub async fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<u8> {
    let options = Options {
        config: args.config.clone(),
        insecure: args.insecure,
        timeout: args.timeout.max(Duration::from_millis(1)),
        lines: args.lines.max(1),
    };
    let report = doctor::run(&options).await;
    report.write(out, matches!(args.format, Format::Json))?;
    Ok(report.worst().exit_code())
}

/// `run` on a runtime of its own, to stdout, as a process exit status.
pub fn dispatch(args: &Args) -> ExitCode {
    let mut stdout = std::io::stdout();
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))
        .and_then(|runtime| runtime.block_on(run(args, &mut stdout)));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) if rblfleet_shell::term::is_broken_pipe(e.as_ref()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rblfleet-agent doctor: {e:#}");
            ExitCode::FAILURE
        }
    }
}
