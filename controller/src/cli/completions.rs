//! `rblfleet completions SHELL`: a completion script generated from the
//! same clap definition that parses the arguments, so it never goes stale.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

#[derive(Debug, clap::Args)]
#[command(after_help = "Install (Debian packages do this for bash, zsh and fish):\n  \
    rblfleet completions bash > /usr/share/bash-completion/completions/rblfleet\n  \
    rblfleet completions zsh  > /usr/share/zsh/vendor-completions/_rblfleet\n  \
    rblfleet completions fish > /usr/share/fish/vendor_completions.d/rblfleet.fish")]
pub struct Args {
    /// The shell to write a completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
    write(args.shell, &mut super::Cli::command(), out)
}

/// Writes the completion script of `command` (any clap program) for `shell`.
///
/// Shared with `rblfleet-agent completions`. clap_complete panics only on an
/// inconsistent clap definition, which the unit tests below would catch.
pub fn write(shell: Shell, command: &mut clap::Command, out: &mut dyn Write) -> anyhow::Result<()> {
    let name = command.get_name().to_string();
    let mut buffer = Vec::new();
    clap_complete::generate(shell, command, name, &mut buffer);
    out.write_all(&buffer)?;
    Ok(())
}

#[cfg(test)]
mod tests;
