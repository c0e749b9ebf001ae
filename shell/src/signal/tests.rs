#![allow(clippy::unwrap_used)]

use std::time::Duration;

use super::*;

fn send(signal: &str) {
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("kill").args([signal, &pid]).status().unwrap();
    assert!(status.success(), "kill {signal} {pid}: {status}");
}

// One test for every signal: a signal reaches every listener in the
// process, so tests running at once would see each other's.
#[cfg(unix)]
#[tokio::test]
async fn shutdown_waits_for_a_signal_then_resolves_on_sigterm_or_sigint_and_says_which() {
    let waited = tokio::time::timeout(Duration::from_millis(50), Shutdown::listen().unwrap().wait()).await;
    assert!(waited.is_err(), "resolved without a signal: {waited:?}");

    let shutdown = Shutdown::listen().unwrap();
    send("-TERM");
    let received = tokio::time::timeout(Duration::from_secs(10), shutdown.wait()).await.unwrap().unwrap();
    assert_eq!(received, Received::Terminate);
    assert_eq!(received.to_string(), "SIGTERM");

    let shutdown = Shutdown::listen().unwrap();
    send("-INT");
    let received = tokio::time::timeout(Duration::from_secs(10), shutdown.wait()).await.unwrap().unwrap();
    assert_eq!(received, Received::Interrupt);
    assert_eq!(received.to_string(), "Ctrl-C");
}
