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
