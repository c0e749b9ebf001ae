//! `rblfleet-agent man`: manual pages generated from the clap definition
//! (written by [`rblfleet_shell::man`], like `rblfleet man`).

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write one page per command into DIR (rblfleet-agent.1,
    /// rblfleet-agent-run.1, ...) instead of printing the top page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The top page to `out`, or one page per command into `dir` (named by
/// clap's display names: rblfleet-agent-check-config.1), listing each path.
pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let command = super::Cli::command();
    let Some(dir) = &args.dir else {
        return rblfleet_shell::man::page(command, out).context("writing the page");
    };
    for path in rblfleet_shell::man::write_pages(command, dir)? {
        writeln!(out, "{}", path.display())?;
    }
    Ok(())
}
