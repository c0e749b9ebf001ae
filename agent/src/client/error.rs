//! A failed send as the agent acts on it: retry (with backoff, perhaps on
//! another controller) or drop the report for good.

use rblfleet_shell::connect_failure::{Client, Failure, diagnose};
use tonic::Code;

/// Sending one report failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SendError {
    /// The report may be accepted later: keep it and retry with backoff.
    #[error("{code}: {message}")]
    Retry {
        /// The gRPC status code name, e.g. "UNAVAILABLE".
        code: &'static str,
        /// The controller's or the transport's message.
        message: String,
        /// True for PERMISSION_DENIED and UNAUTHENTICATED: retrying alone will
        /// not help, an operator has to fix the certificate or `host_id`.
        needs_operator: bool,
        /// The controller's hint (`grpc-retry-pushback-ms`) when it shed
        /// the report because it is over capacity.
        retry_after: Option<std::time::Duration>,
    },
    /// The controller will never accept this report: drop it from the outbox.
    #[error("rejected, {code}: {message}")]
    Rejected {
        /// The gRPC status code name.
        code: &'static str,
        /// The controller's message, naming what is wrong.
        message: String,
    },
}

impl SendError {
    /// Maps a gRPC status to retry-or-drop (see the variants), for a TLS
    /// client.
    pub fn from_status(status: &tonic::Status) -> SendError {
        SendError::from_transport(status, true)
    }

    /// Maps a gRPC status to retry-or-drop. A transport failure is named for
    /// what it is (refused, DNS, timeout, which certificate; see
    /// `rblfleet_shell::connect_failure`); one that an operator must fix (a
    /// certificate, a name, http vs https) is `needs_operator`. `tls` is
    /// whether the client speaks TLS to the controller.
    pub fn from_transport(status: &tonic::Status, tls: bool) -> SendError {
        let code = code_name(status.code());
        if std::error::Error::source(status).is_some() {
            let diagnosis = diagnose(status, tls, Client::Agent);
            if diagnosis.failure != Failure::Other {
                let needs_operator = diagnosis.failure.needs_operator();
                return SendError::Retry { code, message: diagnosis.to_string(), needs_operator, retry_after: None };
            }
        }
        let mut message = status.message().to_string();
        // Transport errors carry the useful part (refused, TLS alert) in the chain.
        let mut source = std::error::Error::source(status);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message = if message.is_empty() { text } else { format!("{message}: {text}") };
            }
            source = cause.source();
        }
        match status.code() {
            Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
                SendError::Rejected { code, message }
            }
            Code::PermissionDenied | Code::Unauthenticated => {
                SendError::Retry { code, message, needs_operator: true, retry_after: None }
            }
            _ => SendError::Retry { code, message, needs_operator: false, retry_after: retry_pushback(status) },
        }
    }

    /// How long the controller asked to wait before retrying, if it did.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            SendError::Retry { retry_after, .. } => *retry_after,
            SendError::Rejected { .. } => None,
        }
    }
}

/// The metadata key of the controller's retry hint, in milliseconds: defined
/// once in `proto` so both ends read the same name.
pub use rblfleet_proto::contract::RETRY_PUSHBACK_KEY;

/// Reads the retry hint; a hint that is not a plain number of milliseconds,
/// or one longer than an hour, is ignored (the agent's own backoff applies).
fn retry_pushback(status: &tonic::Status) -> Option<std::time::Duration> {
    let millis: u64 = status.metadata().get(RETRY_PUSHBACK_KEY)?.to_str().ok()?.trim().parse().ok()?;
    (millis <= 3_600_000).then(|| std::time::Duration::from_millis(millis))
}

/// The canonical gRPC names, as the proto documents them.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}
