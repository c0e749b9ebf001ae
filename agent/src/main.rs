//! `rblfleet-agent`: parses the arguments and dispatches to
//! [`rblfleet_agent::cli`], where each command lives.

use std::process::ExitCode;

use clap::Parser;
use rblfleet_agent::cli::{Cli, dispatch};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    dispatch(cli.command)
}

/// RBLFLEET_LOG like the controller; RUST_LOG still works.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RBLFLEET_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}
