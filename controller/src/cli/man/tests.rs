#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn top_page_is_roff_with_title_subcommands_and_environment() {
    let mut out = Vec::new();
    run(&Args { dir: None }, &mut out).unwrap();
    let roff = String::from_utf8(out).unwrap();
    assert!(roff.contains(".TH rblfleet 1"), "{roff}");
    assert!(roff.contains(".SH SUBCOMMANDS") && roff.contains("rblfleet\\-serve"), "{roff}");
}

#[test]
fn dir_gets_one_page_per_command_with_its_environment_variables() {
    let dir = tempfile::tempdir().unwrap();
    let mut out = Vec::new();
    run(&Args { dir: Some(dir.path().join("man1")) }, &mut out).unwrap();
    let listed = String::from_utf8(out).unwrap();
    let man1 = dir.path().join("man1");
    for name in ["rblfleet.1", "rblfleet-serve.1", "rblfleet-ca.1", "rblfleet-ca-issue.1", "rblfleet-report.1"] {
        let text = std::fs::read_to_string(man1.join(name)).unwrap();
        assert!(text.contains(".TH"), "{name} is not roff");
        assert!(listed.contains(name), "{name} not listed in {listed}");
    }
    assert!(!man1.join("rblfleet-help.1").exists(), "the help subcommand got a page");
    let serve = std::fs::read_to_string(man1.join("rblfleet-serve.1")).unwrap();
    assert!(serve.contains("RBLFLEET_CONFIG"), "{serve}");
}

#[test]
fn unwritable_dir_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let err = write_pages(super::super::Cli::command(), &file.join("man1")).unwrap_err();
    assert!(format!("{err:#}").contains("not-a-dir"), "{err:#}");
}
