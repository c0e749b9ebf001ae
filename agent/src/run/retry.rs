//! Between failed sends: how long to wait, and what to tell the operator.

use std::time::Duration;

use super::AgentError;
use crate::backoff::Backoff;
use crate::client::SendError;

/// The wait before the next send: the backoff's, but never shorter than
/// the controller's overload hint plus up to as much again of jitter, so a
/// fleet shed at once does not come back at once.
pub(super) fn retry_delay(backoff: &mut Backoff, e: &AgentError) -> Duration {
    let delay = backoff.next_delay();
    let hint = match e {
        AgentError::Send(send) => send.retry_after(),
        _ => None,
    };
    match hint {
        Some(hint) => {
            let jitter_ms = u64::try_from(hint.as_millis()).unwrap_or(u64::MAX);
            delay.max(hint + Duration::from_millis(fastrand::u64(0..=jitter_ms)))
        }
        None => delay,
    }
}

/// Logs a failed send: operator problems and protocol errors at error level,
/// an unreachable controller at warn.
pub(super) fn log_retry(e: &AgentError, retry_in: Option<Duration>, backlog: u64) {
    let retry_in = retry_in
        .map(|d| humantime::format_duration(Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))));
    let retry_in = retry_in.map(|d| d.to_string()).unwrap_or_default();
    match e {
        AgentError::Send(SendError::Retry { code: "RESOURCE_EXHAUSTED", .. }) => {
            tracing::warn!(error = %e, retry_in, backlog, "controller is busy or its disk is full; reports stay in the outbox");
        }
        AgentError::Send(SendError::Retry { needs_operator: false, .. }) => {
            tracing::warn!(error = %e, retry_in, backlog, "controller unreachable; reports stay in the outbox");
        }
        AgentError::Send(SendError::Retry { needs_operator: true, .. }) => {
            tracing::error!(
                error = %e, retry_in, backlog,
                "the controller and this agent do not accept each other (certificate, name, host_id or \
                 http/https): retrying alone will not help, the error says what to fix; reports stay in the outbox"
            );
        }
        _ => tracing::error!(error = %e, retry_in, backlog, "sending failed"),
    }
}
