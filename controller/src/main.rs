//! `rblfleet`: the controller daemon and the NOC's CLI. See `rblfleet --help`.

use std::process::ExitCode;

use clap::Parser;
use rblfleet_controller::cli::{Cli, Command, Exit, run};

/// sled copies whole tree nodes on every write; under glibc's allocator
/// those large, short-lived buffers cost the store writer ~40 % of its time
/// in malloc and consolidation (perf, 4,500 reports/s). See BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon logs at info; client commands (and the demo, which prints
    // its own story) stay quiet unless asked with RBLFLEET_LOG.
    let default = match cli.command {
        Command::Serve(_) => "info",
        #[cfg(feature = "demo")]
        Command::Demo(_) => "error",
        _ => "warn",
    };
    rblfleet_shell::term::init_logging(rblfleet_shell::term::env_filter(&["RBLFLEET_LOG"], default), cli.log_format);

    // Tables use the terminal's width, and do not wrap into a pipe.
    rblfleet_shell::term::measure_stdout();
    let mut stdout = std::io::stdout().lock();
    match run(cli, &mut stdout).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) if error.downcast_ref::<Exit>().is_some() => {
            ExitCode::from(error.downcast_ref::<Exit>().map_or(1, |e| e.0))
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
