//! `rblfleet-agent completions` and `man`: generated from the CLI definition
//! by the real binary.

#![allow(clippy::unwrap_used)]

use std::process::Command;

fn agent(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rblfleet-agent")).args(args).output().unwrap()
}

#[test]
fn completion_scripts_know_every_subcommand() {
    let out = agent(&["completions", "bash"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bash = String::from_utf8(out.stdout).unwrap();
    for sub in ["run", "check-config", "scan", "classify"] {
        assert!(bash.contains(&format!("rblfleet__agent,{sub})")), "bash misses {sub}:\n{bash}");
    }
    for shell in ["zsh", "fish"] {
        let out = agent(&["completions", shell]);
        assert!(out.status.success() && String::from_utf8(out.stdout).unwrap().contains("check-config"), "{shell}");
    }
}

#[test]
fn man_pages_render_with_the_environment_variables() {
    let out = agent(&["man"]);
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout).unwrap().contains(".TH rblfleet-agent 1"));

    let dir = tempfile::tempdir().unwrap();
    let out = agent(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let run = std::fs::read_to_string(dir.path().join("rblfleet-agent-run.1")).unwrap();
    assert!(run.contains(".TH rblfleet-agent-run 1") && run.contains("RBLFLEET_AGENT_CONFIG"), "{run}");
    assert!(dir.path().join("rblfleet-agent-check-config.1").is_file());
    assert!(!dir.path().join("rblfleet-agent-help.1").exists());
}
