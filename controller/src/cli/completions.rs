//! `rblfleet completions SHELL`: a completion script generated from the
//! same clap definition that parses the arguments, so it never goes stale
//! (by [`rblfleet_shell::completions`], like `rblfleet-agent completions`).

use std::io::Write;

use clap::CommandFactory;
use rblfleet_shell::completions::Shell;

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
    Ok(rblfleet_shell::completions::write(args.shell, &mut super::Cli::command(), out)?)
}

#[cfg(test)]
mod tests;
