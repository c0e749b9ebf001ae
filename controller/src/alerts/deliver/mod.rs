//! Delivery: one task per route with its own bounded queue, so a slow or
//! failing endpoint delays only its own messages, and the detector never
//! waits (it hands a message over with `try_send`; a full queue drops the
//! message, logs it and counts it).
//!
//! A failed attempt is retried after a doubling backoff, up to
//! `retry.attempts` tries; then the message is logged and counted as failed.

mod email;
mod webhook;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub use email::Email;
pub use webhook::Webhook;

use super::AlertStats;
use super::body::Rendered;
use super::config::RetryConfig;

/// Why one attempt failed. Never quotes a webhook URL or a password.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("the endpoint answered HTTP {status}: {body}")]
    Http { status: u16, body: String },
    #[error("cannot reach the endpoint: {0}")]
    Connect(String),
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("SMTP: {0}")]
    Smtp(String),
    #[error("{0}")]
    Setup(String),
}

/// Where a route's messages go.
#[derive(Debug, Clone)]
pub enum Transport {
    Webhook(Webhook),
    Email(Email),
}

impl Transport {
    /// One attempt, bounded by `timeout`.
    pub async fn send(&self, message: &Rendered, timeout: Duration) -> Result<(), DeliveryError> {
        let attempt = async {
            match self {
                Transport::Webhook(w) => w.send(message).await,
                Transport::Email(e) => e.send(message).await,
            }
        };
        tokio::time::timeout(timeout, attempt).await.unwrap_or(Err(DeliveryError::Timeout(timeout)))
    }
}

/// A route's delivery task and the queue feeding it.
#[derive(Debug)]
pub struct Worker {
    pub route: String,
    pub queue: mpsc::Sender<Rendered>,
    pub task: JoinHandle<()>,
}

/// The backoff before try `attempt + 1` (attempt counts from 1).
pub fn backoff(retry: &RetryConfig, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    retry.initial.saturating_mul(factor).min(retry.max)
}

/// Starts the delivery task of `route`. After `stop`, it sends what is
/// still queued once each (no retries) and ends.
pub fn spawn(
    route: String,
    transport: Transport,
    retry: RetryConfig,
    queue_size: usize,
    stats: Arc<AlertStats>,
    mut stop: watch::Receiver<bool>,
) -> Worker {
    let (queue, mut rx) = mpsc::channel::<Rendered>(queue_size);
    let name = route.clone();
    let task = tokio::spawn(async move {
        loop {
            let message = tokio::select! {
                biased;
                m = rx.recv() => match m { Some(m) => m, None => break },
                _ = stop.wait_for(|s| *s) => break,
            };
            deliver(&name, &transport, &retry, &stats, &message, &mut stop).await;
        }
        // Shutting down: one try each for what is left, so nothing is lost silently.
        let once = RetryConfig { attempts: 1, ..retry.clone() };
        while let Ok(message) = rx.try_recv() {
            deliver(&name, &transport, &once, &stats, &message, &mut stop).await;
        }
    });
    Worker { route, queue, task }
}

/// Tries `message` until it is delivered or the attempts are used up (or,
/// during a backoff, the controller stops: then it counts as failed).
async fn deliver(
    route: &str,
    transport: &Transport,
    retry: &RetryConfig,
    stats: &AlertStats,
    message: &Rendered,
    stop: &mut watch::Receiver<bool>,
) {
    for attempt in 1..=retry.attempts {
        let error = match transport.send(message, retry.timeout).await {
            Ok(()) => {
                stats.delivered.fetch_add(1, Ordering::Relaxed);
                tracing::info!(route, attempt, subject = %message.subject, "alert delivered");
                return;
            }
            Err(error) => error,
        };
        if attempt == retry.attempts {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            tracing::error!(route, attempts = attempt, %error, subject = %message.subject, "alert not delivered; giving up");
            return;
        }
        stats.retries.fetch_add(1, Ordering::Relaxed);
        let wait = backoff(retry, attempt);
        tracing::warn!(route, attempt, %error, retry_in = ?wait, "alert delivery failed; will retry");
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => {
                stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::error!(route, %error, subject = %message.subject, "alert not delivered: the controller is stopping");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests;
