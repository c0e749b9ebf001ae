//! Errors as the operator reads them: each cause printed once, both by the
//! binary (`{:#}`, the whole chain) and where a message is printed alone
//! (`{}`, a log line or a gRPC status). STYLE.md "Error sources printed once".

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rblfleet_controller::config::Config;
use rblfleet_controller::daemon::DaemonError;
use rblfleet_controller::store::{Store, StoreOptions};

/// What the OS says for a missing file and for a path through a regular file.
const NOT_FOUND: &str = "No such file or directory (os error 2)";
const NOT_A_DIR: &str = "Not a directory (os error 20)";

/// `text` holds `needle` exactly once.
#[track_caller]
fn once(text: &str, needle: &str) {
    assert_eq!(text.matches(needle).count(), 1, "{needle:?} is not in here exactly once: {text}");
}

/// No error in the chain repeats its source's message: the structural form
/// of "printed once", whatever the OS or library says.
#[track_caller]
fn no_source_repeated(error: &anyhow::Error) {
    for (outer, inner) in error.chain().zip(error.chain().skip(1)) {
        let (outer, inner) = (outer.to_string(), inner.to_string());
        assert!(!outer.contains(&inner), "{outer:?} already prints its source {inner:?}");
    }
}

/// Runs the CLI in-process, as `main` does, and returns its error.
async fn cli_error(args: &[&str]) -> anyhow::Error {
    let argv = std::iter::once("rblfleet").chain(args.iter().copied());
    let mut out = Vec::new();
    let run = rblfleet_controller::cli::run_args(argv, &mut out);
    // A command that wrongly succeeds (`serve`) would wait for a signal.
    tokio::time::timeout(Duration::from_secs(60), run).await.expect("the command did not fail").unwrap_err()
}

/// A controller config on loopback with ephemeral ports, no metrics and no
/// blocklist checks, so start-up reaches the store and the TLS files.
fn write_config(dir: &Path, data_dir: &Path, tls_dir: &Path) -> PathBuf {
    let path = dir.join("controller.toml");
    let text = format!(
        "data_dir = {data:?}\n[agent_api]\nlisten = \"127.0.0.1:0\"\n[admin_api]\nlisten = \"127.0.0.1:0\"\n\
         [tls]\nca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\n[metrics]\nenabled = false\n[dnsbl]\nenabled = false\n",
        data = data_dir.display().to_string(),
        ca = tls_dir.join("ca.crt").display().to_string(),
        cert = tls_dir.join("controller.crt").display().to_string(),
        key = tls_dir.join("controller.key").display().to_string(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A regular file, and a path that goes through it as if it were a directory.
fn through_a_file(dir: &Path) -> PathBuf {
    let file = dir.join("a-file");
    std::fs::write(&file, "").unwrap();
    file.join("below")
}

#[tokio::test]
async fn a_missing_config_file_names_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let alone = Config::load(&missing, false).unwrap_err().to_string();
    assert_eq!(alone, format!("cannot read {}: {NOT_FOUND}", missing.display()));

    let error = cli_error(&["serve", "--config", missing.to_str().unwrap()]).await;
    assert_eq!(format!("{error:#}"), alone);
    no_source_repeated(&error);
}

#[tokio::test]
async fn a_store_that_cannot_open_names_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = through_a_file(dir.path());
    let alone = Store::open(&data_dir, &StoreOptions::default()).unwrap_err();
    // Alone (the gRPC status, the log line) it carries the cause.
    once(&alone.to_string(), NOT_A_DIR);
    let nested = anyhow::Error::from(DaemonError::from(alone));
    once(&format!("{nested:#}"), NOT_A_DIR);
    no_source_repeated(&nested);

    // The same through `rblfleet serve`.
    let config = write_config(dir.path(), &data_dir, dir.path());
    let error = cli_error(&["serve", "--config", config.to_str().unwrap()]).await;
    let text = format!("{error:#}");
    once(&text, NOT_A_DIR);
    once(&text, "is another `rblfleet serve` using it?");
    no_source_repeated(&error);
}

#[tokio::test]
async fn a_data_directory_in_use_names_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let _held = Store::open(&data_dir, &StoreOptions::default()).unwrap();
    let error =
        cli_error(&["serve", "--config", write_config(dir.path(), &data_dir, dir.path()).to_str().unwrap()]).await;
    let text = format!("{error:#}");
    once(&text, "could not acquire lock");
    once(&text, "Resource temporarily unavailable");
    no_source_repeated(&error);
}

#[tokio::test]
async fn missing_and_unusable_tls_files_name_their_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let tls_dir = dir.path().join("no-such-dir");
    let config = write_config(dir.path(), &dir.path().join("data"), &tls_dir);
    let error = cli_error(&["serve", "--config", config.to_str().unwrap()]).await;
    let text = format!("{error:#}");
    once(&text, NOT_FOUND);
    // The files are read by the reloading TLS setup, which names the setting.
    assert!(
        text.starts_with("TLS setup failed (check tls.cert, tls.key and tls.ca): cannot read tls.")
            && text.contains("no-such-dir"),
        "{text}"
    );
    no_source_repeated(&error);

    // Files that are there but hold no certificate: tonic says only
    // "transport error"; the reason is below it and must reach the message.
    let tls_dir = dir.path().join("garbage");
    std::fs::create_dir(&tls_dir).unwrap();
    for name in ["ca.crt", "controller.crt", "controller.key"] {
        std::fs::write(tls_dir.join(name), "not a PEM file\n").unwrap();
    }
    let config = write_config(dir.path(), &dir.path().join("data2"), &tls_dir);
    let error = cli_error(&["serve", "--config", config.to_str().unwrap()]).await;
    let (chained, alone) = (format!("{error:#}"), error.to_string());
    assert!(chained.starts_with("TLS setup failed (check tls.cert, tls.key and tls.ca): "), "{chained}");
    assert_eq!(chained, alone, "the message alone must be complete");
    assert!(!chained.ends_with(": "), "{chained}");
    no_source_repeated(&error);
}

#[tokio::test]
async fn ca_errors_name_their_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let under_a_file = through_a_file(dir.path());
    let error = cli_error(&["ca", "init", "--dir", under_a_file.to_str().unwrap()]).await;
    once(&format!("{error:#}"), NOT_A_DIR);
    no_source_repeated(&error);

    // A CA whose key is not a key: rcgen's reason, once.
    let ca = dir.path().join("ca");
    std::fs::create_dir(&ca).unwrap();
    std::fs::write(ca.join("ca.crt"), "not a certificate\n").unwrap();
    std::fs::write(ca.join("ca.key"), "not a key\n").unwrap();
    let reason = rcgen::KeyPair::from_pem("not a key\n").unwrap_err().to_string();
    let error = cli_error(&["ca", "issue", "--dir", ca.to_str().unwrap(), "--controller", "localhost"]).await;
    let text = format!("{error:#}");
    once(&text, &reason);
    once(&text, "not a usable CA certificate or key");
    no_source_repeated(&error);
}

/// The binary itself, as an operator sees it on the terminal.
#[test]
fn the_binary_prints_a_missing_config_file_cause_once() {
    let out = Command::new(env!("CARGO_BIN_EXE_rblfleet"))
        .args(["serve", "--config", "/nonexistent.toml"])
        .env_remove("RBLFLEET_CONFIG")
        .env("RBLFLEET_LOG", "error")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr, format!("error: cannot read /nonexistent.toml: {NOT_FOUND}\n"));
}
