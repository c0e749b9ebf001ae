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
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn script(shell: Shell) -> String {
        let mut out = Vec::new();
        run(&Args { shell }, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn bash_script_completes_every_subcommand_and_their_flags() {
        let bash = script(Shell::Bash);
        assert!(bash.contains("complete -F _rblfleet"), "no completion registration in:\n{bash}");
        for name in super::super::Cli::command().get_subcommands().map(|c| c.get_name().to_string()) {
            assert!(bash.contains(&format!("rblfleet,{name})")), "bash misses {name}");
        }
        for flag in ["--controller", "--format", "--agents-from", "--config"] {
            assert!(bash.contains(flag), "bash misses {flag}");
        }
    }

    #[test]
    fn every_shell_gets_a_script_naming_the_program() {
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Elvish, Shell::PowerShell] {
            let text = script(shell);
            assert!(text.contains("rblfleet") && text.contains("serve"), "{shell}: {text}");
        }
    }
}
