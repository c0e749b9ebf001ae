//! `rblfleet-agent completions SHELL`: a completion script generated from the
//! clap definition that parses the arguments.

use std::io::Write;

use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
    // Into a buffer first: clap_complete panics on a write error such as a
    // closed pipe.
    let (mut command, mut script) = (super::Cli::command(), Vec::new());
    clap_complete::generate(args.shell, &mut command, "rblfleet-agent", &mut script);
    out.write_all(&script)?;
    out.flush()?;
    Ok(())
}
