//! A backup taken through the real admin API while agents keep reporting
//! restores to a store that passes its own consistency check and holds every
//! report acknowledged before the backup started.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rblfleet_controller::store::{Store, StoreOptions};
use rblfleet_tests::{Controller, Pki, raw_agent_client, valid_report};

const HOSTS: usize = 6;

/// Runs `rblfleet ARGS` (offline commands take no --controller) and returns
/// stdout, or the error with whatever was printed.
async fn rblfleet(args: &[&str]) -> Result<String, (anyhow::Error, String)> {
    let mut out = Vec::new();
    let argv = std::iter::once("rblfleet").chain(args.iter().copied());
    let result = rblfleet_controller::cli::run_args(argv, &mut out).await;
    let text = String::from_utf8(out).unwrap();
    result.map(|()| text.clone()).map_err(|e| (e, text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_during_ingest_restores_to_a_consistent_store_with_every_acknowledged_report() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let controller = Controller::start(&pki, &tmp.path().join("data"), 0, false).await;

    // Agents report as fast as they are acknowledged until told to stop.
    let acked: Arc<Mutex<BTreeSet<(String, u64)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut agents = Vec::new();
    for i in 0..HOSTS {
        let host = format!("web{i:02}.example");
        let (cert, key) = pki.agent(&host);
        let mut client = raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await.unwrap();
        let (acked, stop) = (acked.clone(), stop.clone());
        agents.push(tokio::spawn(async move {
            let mut seq = 0;
            while !stop.load(Ordering::SeqCst) {
                seq += 1;
                client.report(valid_report(&host, 1, seq)).await.unwrap();
                acked.lock().unwrap().insert((host.clone(), seq));
            }
            seq
        }));
    }
    let acked_count = || acked.lock().unwrap().len();
    wait_until(|| acked_count() >= HOSTS * 20).await;

    let before_backup = acked.lock().unwrap().clone();
    let file = tmp.path().join("backups/fleet.bak");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let output = controller.cli(&["backup", "--output", file.to_str().unwrap()]).await.unwrap();
    assert!(output.contains("Backup written to") && output.contains("SHA-256"), "{output}");
    // Ingest went on during and after the backup.
    let during = acked_count();
    wait_until(|| acked_count() >= during + HOSTS * 5).await;
    stop.store(true, Ordering::SeqCst);
    for agent in agents {
        assert!(agent.await.unwrap() > 20);
    }
    assert!(!tmp.path().join("backups/fleet.bak.partial").exists(), "the partial file was left behind");

    let restored = tmp.path().join("restored");
    let out = rblfleet(&["restore", "--input", file.to_str().unwrap(), "--data-dir", restored.to_str().unwrap()])
        .await
        .unwrap();
    assert!(out.contains(": consistent"), "{out}");
    let verify = rblfleet(&["verify", "--data-dir", restored.to_str().unwrap(), "--format", "json"]).await.unwrap();
    let verify: serde_json::Value = serde_json::from_str(&verify).unwrap();
    assert_eq!(verify["clean"], true, "{verify:#}");
    let reports = verify["trees"].as_array().unwrap().iter().find(|t| t["name"] == "reports").unwrap();
    assert!(reports["records"].as_u64().unwrap() >= before_backup.len() as u64, "{verify:#}");

    controller.stop().await;
    let store = Store::open(&restored, &StoreOptions::default()).unwrap();
    let mut missing = Vec::new();
    for (host, seq) in &before_backup {
        if !store.host_reports(host).unwrap().iter().any(|r| r.seq == *seq) {
            missing.push((host.clone(), *seq));
        }
    }
    assert!(missing.is_empty(), "acknowledged before the backup but not in it: {missing:?}");
    // Every host's summary agrees with its stored reports (verify checked the invariants).
    assert_eq!(store.list_hosts().unwrap().len(), HOSTS);
}

#[tokio::test]
async fn backup_without_a_controller_and_verify_of_a_live_store_fail_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("x.bak");
    let (err, _) = rblfleet(&["backup", "--output", file.to_str().unwrap(), "--controller", "http://127.0.0.1:1"])
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("cannot reach the rblfleet controller"), "{err:#}");
    assert!(!file.exists() && !tmp.path().join("x.bak.partial").exists());

    let (err, _) = rblfleet(&["verify", "--data-dir", tmp.path().to_str().unwrap()]).await.unwrap_err();
    assert!(format!("{err:#}").contains("holds no rblfleet store"), "{err:#}");

    let data = tmp.path().join("data");
    let _live = Store::open(&data, &StoreOptions::default()).unwrap();
    let (err, _) = rblfleet(&["verify", "--data-dir", data.to_str().unwrap()]).await.unwrap_err();
    assert!(format!("{err:#}").contains("another `rblfleet serve`"), "{err:#}");
}

/// Polls until `done` (generous deadline: never fails on a slow machine
/// unless nothing happens for a minute).
async fn wait_until(done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "no progress within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
