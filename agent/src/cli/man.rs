//! `rblfleet-agent man`: manual pages generated from the clap definition.

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
        return clap_mangen::Man::new(command).render(out).context("writing the page");
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let mut pending = std::collections::VecDeque::from([command]);
    while let Some(command) = pending.pop_front() {
        pending.extend(command.get_subcommands().filter(|c| !c.is_hide_set()).cloned());
        let page = clap_mangen::Man::new(command);
        let path = dir.join(page.get_filename());
        let mut file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        page.render(&mut file).with_context(|| format!("writing {}", path.display()))?;
        writeln!(out, "{}", path.display())?;
    }
    Ok(())
}
