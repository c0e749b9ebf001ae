#![allow(clippy::unwrap_used)]

use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};

use super::*;
use crate::logs::Checkpoints;
use crate::store::Outbox;

#[cfg(not(windows))]
#[test]
fn off_windows_every_action_says_it_is_windows_only() {
    for action in [Action::Install { account: AccountArg::Virtual }, Action::Start, Action::Run { config: None }] {
        let mut out = Vec::new();
        let err = run(&Args { action }, &mut out).unwrap_err().to_string();
        assert!(err.contains("works only on Windows") && err.contains("systemd"), "{err}");
        assert!(out.is_empty());
    }
}

#[cfg(windows)]
#[test]
fn the_default_config_is_where_install_puts_it() {
    // `check-config`, `doctor` and `run` without --config read the file
    // `service install` wrote.
    let layout = crate::windows::layout::DataLayout::from_env(|_| None);
    assert_eq!(layout.config(), PathBuf::from(crate::cli::DEFAULT_CONFIG));
}

/// An agent config with a CA, a certificate naming the host and a
/// controller that is not there (the stop must not wait for it).
fn config_with_pki(dir: &Path) -> PathBuf {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name.push(DnType::CommonName, "test CA");
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let mut leaf = CertificateParams::new(Vec::<String>::new()).unwrap();
    leaf.subject_alt_names.push(SanType::URI("urn:rblfleet:agent:win01.example.net".try_into().unwrap()));
    let key = KeyPair::generate().unwrap();
    let cert = leaf.signed_by(&key, &ca).unwrap();
    std::fs::write(dir.join("ca.crt"), ca.pem()).unwrap();
    std::fs::write(dir.join("agent.crt"), cert.pem()).unwrap();
    std::fs::write(dir.join("agent.key"), key.serialize_pem()).unwrap();
    std::fs::create_dir_all(dir.join("SMTP")).unwrap();
    let path = dir.join("agent.toml");
    // Relative paths, as in %ProgramData%\rblfleet\agent.toml.
    std::fs::write(
        &path,
        "[controller]\nurl = \"https://127.0.0.1:9\"\nca = \"ca.crt\"\ncert = \"agent.crt\"\nkey = \"agent.key\"\n\
         timeout = \"1s\"\n[outbox]\ndir = \"outbox\"\n[logs]\npaths = [\"SMTP/SMTP-Activity-*.log\"]\n\
         poll_interval = \"50ms\"\n[queue]\nmta = \"none\"\n",
    )
    .unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_stop_goes_through_the_clean_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with_pki(dir.path());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let (running_tx, running_rx) = tokio::sync::oneshot::channel();
    let stopping = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = stopping.clone();
    let config_path = config.clone();
    let service = tokio::spawn(async move {
        body(
            &config_path,
            stop_rx,
            || {
                let _ = running_tx.send(());
            },
            move || {
                seen.store(true, std::sync::atomic::Ordering::SeqCst);
            },
        )
        .await
    });
    tokio::time::timeout(Duration::from_secs(20), running_rx).await.unwrap().unwrap();
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(20), service).await.unwrap().unwrap().unwrap();
    assert!(stopping.load(std::sync::atomic::Ordering::SeqCst), "the SCM was told the stop is pending");

    // A clean stop: the outbox is released and the running mark is gone
    // (the next start arms no crash-loop guard).
    let outbox = Outbox::open(&dir.path().join("outbox"), 100).unwrap();
    let checkpoints = Checkpoints::in_outbox(&outbox, &dir.path().join("outbox")).unwrap();
    assert!(!checkpoints.mark_running().unwrap(), "the last agent stopped cleanly");
}
