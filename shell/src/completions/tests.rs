#![allow(clippy::unwrap_used)]

use super::*;

fn tiny() -> clap::Command {
    clap::Command::new("tiny").subcommand(clap::Command::new("go").arg(clap::Arg::new("fast").long("fast")))
}

#[test]
fn every_shell_gets_a_script_completing_the_program_and_its_subcommand() {
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish, Shell::Elvish, Shell::PowerShell] {
        let mut out = Vec::new();
        write(shell, &mut tiny(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("tiny") && text.contains("go") && text.contains("fast"), "{shell}: {text}");
    }
}

#[test]
fn bash_registers_the_program_by_its_command_name() {
    let mut out = Vec::new();
    write(Shell::Bash, &mut tiny(), &mut out).unwrap();
    assert!(String::from_utf8(out).unwrap().contains("complete -F _tiny"));
}

#[test]
fn a_failing_writer_is_an_error_not_a_panic() {
    let mut buffer = [0u8; 8];
    let mut full: &mut [u8] = &mut buffer;
    let err = write(Shell::Bash, &mut tiny(), &mut full).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::WriteZero);
}
