//! `rblfleet-agent`: parses the arguments and dispatches to
//! [`rblfleet_agent::cli`], where each command lives.

use std::process::ExitCode;

use clap::Parser;
use rblfleet_agent::cli::{Cli, dispatch};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.log_format);
    dispatch(cli.command)
}

/// RBLFLEET_LOG like the controller; RUST_LOG still works.
fn init_tracing(format: rblfleet_shell::term::LogFormat) {
    let filter = rblfleet_shell::term::env_filter(&["RBLFLEET_LOG", "RUST_LOG"], "info");
    rblfleet_shell::term::init_logging(filter, format);
}
