//! `rblfleet-agent completions SHELL`: a completion script generated from the
//! clap definition that parses the arguments (by [`rblfleet_shell::completions`]).

use std::io::Write;

use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    pub shell: rblfleet_shell::completions::Shell,
}

pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
    rblfleet_shell::completions::write(args.shell, &mut super::Cli::command(), out)?;
    out.flush()?;
    Ok(())
}
