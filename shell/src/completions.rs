//! Completion scripts generated from the same clap definition that parses
//! the arguments, so they never go stale.

use std::io::Write;

pub use clap_complete::Shell;

/// Writes the completion script of `command` for `shell`, completing the
/// program by the command's name.
///
/// Into a buffer first: clap_complete panics on a write error such as a
/// closed pipe. It panics otherwise only on an inconsistent clap definition,
/// which each binary's tests would catch.
pub fn write(shell: Shell, command: &mut clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    let name = command.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(shell, command, name, &mut script);
    out.write_all(&script)
}

#[cfg(test)]
mod tests;
