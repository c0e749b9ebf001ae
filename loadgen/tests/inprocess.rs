//! The load generator against a real controller in this process (mTLS gRPC
//! on loopback, sled in a temporary directory): every report it generates
//! is acknowledged and stored exactly once, in order.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use rblfleet_loadgen::sample::DataSize;
use rblfleet_loadgen::{Load, LoadConfig, pki, run};
use rblfleet_tests::generate::Fleet;
use rblfleet_tests::{Controller, Pki};

const AGENTS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_generated_report_is_acked_and_stored_once() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Pki::new(&dir.path().join("ca"));
    let controller = Controller::start(&ca, &dir.path().join("data"), 0, false).await;
    let fleet = Arc::new(Fleet::new(5, AGENTS));
    let hosts: Vec<&str> = (0..AGENTS).map(|i| fleet.host_id(i)).collect();
    let issued = pki::ensure_agents(&ca.dir, &hosts).unwrap();
    assert_eq!(issued.issued, AGENTS);

    // 100 reports/s over 20 agents for 2 s: each agent sends 10, one every 200 ms.
    let config = LoadConfig {
        url: controller.agent_url(),
        tls_name: "localhost".into(),
        pki: ca.dir.clone(),
        load: Load::Rate { per_second: 100.0 },
        duration: Duration::from_secs(2),
        // Generous: a loaded CI machine may be slow, but nothing may be lost.
        drain: Duration::from_secs(60),
        seed: 5,
        epoch: 77,
        connect_concurrency: 8,
        rpc_timeout: Duration::from_secs(10),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(500),
        sample_every: Duration::from_millis(500),
        controller_pid: Some(std::process::id()),
        data: Some(DataSize::Dir(controller.config.data_dir.clone())),
        progress: false,
    };
    let summary = run(&config, fleet.clone()).await.unwrap();

    assert_eq!(summary.generated, 200, "the schedule offers exactly rate x duration");
    assert_eq!(summary.acked, summary.generated, "{summary:#?}");
    assert!(summary.lossless(), "{summary:#?}");
    assert!(summary.errors.is_empty(), "{:?}", summary.errors);
    assert_eq!((summary.rejected, summary.duplicates, summary.retries), (0, 0, 0));
    assert_eq!(summary.latency_ms.count, 200);
    assert!(summary.latency_ms.max >= summary.latency_ms.p99 && summary.latency_ms.p99 >= summary.latency_ms.p50);
    assert!(summary.latency_ms.p50 > 0.0);
    // The sampler saw this process and the store directory.
    let last = summary.timeline.last().unwrap();
    assert!(summary.timeline.len() >= 2, "{:?}", summary.timeline);
    assert!(last.rss_kib.unwrap() > 0 && last.data_bytes.unwrap() > 0, "{last:?}");
    assert_eq!((last.acked, last.generated, last.backlog), (200, 200, 0));

    // What the controller stored: every host, every sequence number, no gap, no double.
    let hosts: serde_json::Value =
        serde_json::from_str(&controller.cli(&["hosts", "--format", "json"]).await.unwrap()).unwrap();
    let hosts = hosts.as_array().unwrap();
    assert_eq!(hosts.len(), AGENTS);
    let mut stored = 0;
    for host in hosts {
        assert_eq!(host["epoch"], 77, "{host}");
        assert_eq!(host["reports_stored"], 10, "{host}");
        assert_eq!(host["last_seq"], 10, "{host}");
        assert_eq!(host["seq_gaps"], 0, "{host}");
        stored += host["reports_stored"].as_u64().unwrap();
    }
    assert_eq!(stored, summary.generated);
    controller.stop().await;
}

#[tokio::test]
async fn a_controller_that_is_not_there_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Pki::new(&dir.path().join("ca"));
    let fleet = Arc::new(Fleet::new(1, 2));
    pki::ensure_agents(&ca.dir, &[fleet.host_id(0), fleet.host_id(1)]).unwrap();
    // A port nobody listens on: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = LoadConfig {
        url: format!("https://127.0.0.1:{port}"),
        tls_name: "localhost".into(),
        pki: ca.dir.clone(),
        load: Load::Rate { per_second: 10.0 },
        duration: Duration::from_secs(1),
        drain: Duration::from_secs(1),
        seed: 1,
        epoch: 1,
        connect_concurrency: 2,
        rpc_timeout: Duration::from_secs(2),
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(100),
        sample_every: Duration::from_secs(1),
        controller_pid: None,
        data: None,
        progress: false,
    };
    let err = run(&config, fleet).await.unwrap_err().to_string();
    assert!(err.contains("cannot connect") && err.contains(&port.to_string()), "{err}");
}
