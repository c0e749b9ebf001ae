#![allow(clippy::unwrap_used)]

use super::*;

fn tiny() -> clap::Command {
    clap::Command::new("tiny")
        .about("A tiny program")
        .subcommand(clap::Command::new("go").about("Go somewhere").subcommand(clap::Command::new("far")))
        .subcommand(clap::Command::new("secret").hide(true))
        .arg(clap::Arg::new("config").long("config").env("TINY_CONFIG"))
}

#[test]
fn top_page_is_roff_naming_its_subcommands_and_environment() {
    let mut out = Vec::new();
    page(tiny(), &mut out).unwrap();
    let roff = String::from_utf8(out).unwrap();
    assert!(roff.contains(".TH tiny 1"), "{roff}");
    assert!(roff.contains(".SH SUBCOMMANDS") && roff.contains("tiny\\-go"), "{roff}");
    assert!(roff.contains("TINY_CONFIG"), "{roff}");
}

#[test]
fn dir_gets_one_page_per_visible_command_each_before_its_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let man1 = dir.path().join("man1");
    let written = write_pages(tiny(), &man1).unwrap();
    let names: Vec<_> = written.iter().map(|p| p.file_name().unwrap().to_str().unwrap().to_string()).collect();
    assert_eq!(names, ["tiny.1", "tiny-go.1", "tiny-go-far.1"]);
    for path in &written {
        assert!(std::fs::read_to_string(path).unwrap().starts_with(".ie"), "{} is not roff", path.display());
    }
    assert!(!man1.join("tiny-help.1").exists() && !man1.join("tiny-secret.1").exists());
}

#[test]
fn unwritable_dir_is_named_once_with_its_cause_as_source() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let err = write_pages(tiny(), &file.join("man1")).unwrap_err();
    assert_eq!(err.to_string(), format!("creating {}", file.join("man1").display()));
    assert!(std::error::Error::source(&err).is_some());
}
