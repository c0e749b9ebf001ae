//! `rblfleet man`: manual pages generated from the clap definition, so
//! `man rblfleet-ca-issue` says exactly what `--help` says, environment
//! variables included. Written by [`rblfleet_shell::man`], like
//! `rblfleet-agent man`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Write one page per command into DIR (rblfleet.1, rblfleet-serve.1,
    /// rblfleet-ca-issue.1, ...) instead of printing the top page as roff.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let command = super::Cli::command();
    match &args.dir {
        None => rblfleet_shell::man::page(command, out).context("rendering the manual page"),
        Some(dir) => {
            for path in write_pages(command, dir)? {
                writeln!(out, "{}", path.display())?;
            }
            Ok(())
        }
    }
}

/// Writes one page per command and visible subcommand of `command` into
/// `dir` (created if missing) and returns the files written, top page first.
pub fn write_pages(command: clap::Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    Ok(rblfleet_shell::man::write_pages(command, dir)?)
}

#[cfg(test)]
mod tests;
