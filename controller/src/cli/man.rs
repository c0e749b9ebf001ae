//! `rblfleet man`: manual pages generated from the clap definition, so
//! `man rblfleet-ca-issue` says exactly what `--help` says, environment
//! variables included.

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
        None => page(command, out),
        Some(dir) => {
            for path in write_pages(command, dir)? {
                writeln!(out, "{}", path.display())?;
            }
            Ok(())
        }
    }
}

/// Renders the page of `command` alone (section 1, roff).
pub fn page(command: clap::Command, out: &mut dyn Write) -> anyhow::Result<()> {
    clap_mangen::Man::new(command).render(out).context("rendering the manual page")
}

/// Writes one page per command and visible subcommand of `command` into
/// `dir` (created if missing) and returns the files written, top page first.
///
/// Shared with `rblfleet-agent man`.
pub fn write_pages(command: clap::Command, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    // Building fills in the display names ("rblfleet-ca-issue") that name
    // the subcommands' pages; the help subcommand gets no page.
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let mut written = Vec::new();
    write_tree(command, dir, &mut written)?;
    Ok(written)
}

fn write_tree(command: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let subcommands: Vec<clap::Command> = command.get_subcommands().filter(|c| !c.is_hide_set()).cloned().collect();
    let man = clap_mangen::Man::new(command);
    let path = dir.join(man.get_filename());
    let mut file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    man.render(&mut file).and_then(|()| file.flush()).with_context(|| format!("writing {}", path.display()))?;
    written.push(path);
    for subcommand in subcommands {
        write_tree(subcommand, dir, written)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
