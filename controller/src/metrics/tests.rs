#![allow(clippy::unwrap_used)]

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::ingest::IngestStats;
use crate::store::{Store, StoreError, StoreOptions};

/// A real store and the controller's own collectors, plus one that always
/// fails as a store read would: the scrape is still a 200, with only that
/// collector's families missing.
#[tokio::test]
async fn a_failing_collector_leaves_a_whole_scrape_with_its_success_at_zero() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data"), &StoreOptions::default()).unwrap();
    let sources = Sources { store, engine: None, ingest: Arc::new(IngestStats::default()) };
    let mut metrics = ControllerMetrics::new(sources, Process { version: "test", started_ms: 0 });
    metrics.collectors.insert(
        0,
        Collector::new("broken", |_: &Scrape, e: &mut Encoder| {
            e.family("rblfleet_broken", text::Kind::Gauge, "Never shown.").sample(&[], 1.0);
            Err(StoreError::Corrupt { key: "hosts/x".into(), reason: "bad".into() }.into())
        }),
    );
    let bound =
        bind(&MetricsConfig { enabled: true, listen: SocketAddr::from(([127, 0, 0, 1], 0)) }).await.unwrap().unwrap();
    let addr = bound.addr;
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(http::serve(bound.listener, Arc::new(metrics), stopped));

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(!response.contains("rblfleet_broken"), "{response}");
    let success = |name: &str, ok: u8| format!("\nrblfleet_scrape_collector_success{{collector=\"{name}\"}} {ok}\n");
    assert!(response.contains(&success("broken", 0)), "{response}");
    // Blocklist checks are off: no zones collector.
    for name in ["fleet", "agents", "ingest", "store_writer", "disk", "controller"] {
        assert!(response.contains(&success(name, 1)), "{name}: {response}");
    }
    assert!(!response.contains("collector=\"zones\""), "{response}");
    for sample in
        ["\nrblfleet_hosts 0\n", "\nrblfleet_cases{state=\"open\"} 0\n", "\nrblfleet_build_info{version=\"test\"} 1\n"]
    {
        assert!(response.contains(sample), "{sample}: {response}");
    }
    assert!(response.contains("\nrblfleet_store_free_bytes "), "{response}");
    stop.send(true).unwrap();
    task.await.unwrap();
}
