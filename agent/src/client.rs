//! The connection to the controller. The only file that knows tonic.
//!
//! The channel is lazy: a controller that is down when the agent starts is
//! not an error, the first send just fails and is retried. Under TLS 1.3 a
//! certificate the controller refuses is also only seen at the first RPC, so
//! [`ControllerClient::connect`] checks what it can locally (files readable,
//! PEM well-formed) and everything else surfaces as a [`SendError`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use rblfleet_proto::v1::agent_service_client::AgentServiceClient;
use rblfleet_proto::v1::{HostReport, ReportAck};
use rblfleet_shell::connect_failure::{Client, Failure, diagnose};
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::config::ControllerConfig;

/// The client could not be set up (nothing was sent yet).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A TLS file could not be read.
    #[error("cannot read {what} {path}: {cause}")]
    Read {
        /// "controller.ca", "controller.cert" or "controller.key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// A TLS file is not what it should be.
    #[error("{what} {path}: {reason}")]
    BadPem {
        /// "controller.ca", "controller.cert" or "controller.key".
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The URL, TLS settings or key pair were refused by the TLS stack.
    #[error("controller {url}: {reason}")]
    Setup {
        /// `controller.url`.
        url: String,
        /// What tonic or rustls said.
        reason: String,
    },
}

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

/// A lazily connecting client of the controller's `AgentService`.
#[derive(Debug, Clone)]
pub struct ControllerClient {
    inner: AgentServiceClient<Channel>,
    url: String,
    /// Mutual TLS (false only for `--insecure` on loopback).
    tls: bool,
}

impl ControllerClient {
    /// Builds the channel: mTLS for `https://`, plaintext when `insecure`
    /// (the caller has checked `Config::check_transport`). Reads and checks
    /// the TLS files but does not connect. Must run inside a tokio runtime.
    pub fn connect(config: &ControllerConfig, insecure: bool) -> Result<Self, ClientError> {
        let url = config.url.trim().to_string();
        let setup = |reason: String| ClientError::Setup { url: url.clone(), reason };
        let mut endpoint = Endpoint::from_shared(url.clone())
            .map_err(|e| setup(e.to_string()))?
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .tcp_keepalive(Some(Duration::from_secs(60)));
        if !insecure {
            let tls = tls_config(config)?;
            endpoint = endpoint.tls_config(tls).map_err(|e| setup(format!("TLS setup failed: {}", error_chain(&e))))?;
        }
        Ok(Self { inner: AgentServiceClient::new(endpoint.connect_lazy()), url, tls: !insecure })
    }

    /// The controller URL, for log messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Delivers one report and returns the controller's acknowledgement.
    pub async fn send(&mut self, report: &HostReport) -> Result<ReportAck, SendError> {
        match self.inner.report(tonic::Request::new(report.clone())).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(SendError::from_transport(&status, self.tls)),
        }
    }
}

/// Reads the three PEM files named in `[controller]`.
fn tls_config(config: &ControllerConfig) -> Result<ClientTlsConfig, ClientError> {
    let ca = read_pem("controller.ca", config.ca.as_deref(), "CERTIFICATE")?;
    let cert = read_pem("controller.cert", config.cert.as_deref(), "CERTIFICATE")?;
    let key = read_pem("controller.key", config.key.as_deref(), "PRIVATE KEY")?;
    let domain =
        config.effective_server_name().map_err(|reason| ClientError::Setup { url: config.url.clone(), reason })?;
    Ok(ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .identity(Identity::from_pem(cert, key))
        .domain_name(domain))
}

/// Reads a PEM file and checks it holds a block whose label ends with `label`.
fn read_pem(what: &'static str, path: Option<&Path>, label: &str) -> Result<Vec<u8>, ClientError> {
    let path = path.ok_or_else(|| ClientError::BadPem {
        what,
        path: PathBuf::new(),
        reason: "not configured (required for an https:// controller)".into(),
    })?;
    let bytes =
        std::fs::read(path).map_err(|source| ClientError::Read { what, path: path.to_path_buf(), cause: source })?;
    let text = String::from_utf8_lossy(&bytes);
    let has_block = text.lines().any(|line| {
        line.trim()
            .strip_prefix("-----BEGIN ")
            .and_then(|rest| rest.strip_suffix("-----"))
            .is_some_and(|found| found.ends_with(label))
    });
    if !has_block {
        return Err(ClientError::BadPem {
            what,
            path: path.to_path_buf(),
            reason: format!("no PEM \"BEGIN ...{label}\" block"),
        });
    }
    Ok(bytes)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn status_mapping() {
        let rejected = [Code::InvalidArgument, Code::FailedPrecondition, Code::OutOfRange];
        for code in rejected {
            let e = SendError::from_status(&tonic::Status::new(code, "bad field ips"));
            assert!(matches!(e, SendError::Rejected { .. }), "{code:?}");
            assert!(e.to_string().contains("bad field ips"));
        }
        for code in [Code::PermissionDenied, Code::Unauthenticated] {
            let e = SendError::from_status(&tonic::Status::new(code, "x"));
            assert!(matches!(e, SendError::Retry { needs_operator: true, .. }));
        }
        for code in [Code::Unavailable, Code::DeadlineExceeded, Code::ResourceExhausted, Code::Cancelled, Code::Unknown]
        {
            let e = SendError::from_status(&tonic::Status::new(code, "x"));
            assert!(matches!(e, SendError::Retry { needs_operator: false, .. }));
        }
    }

    #[test]
    fn overload_hint_is_read_and_bad_hints_ignored() {
        let with_hint = |value: &str| {
            let mut status = tonic::Status::resource_exhausted("over capacity");
            status.metadata_mut().insert(RETRY_PUSHBACK_KEY, value.parse().unwrap());
            SendError::from_status(&status)
        };
        assert_eq!(with_hint("2500").retry_after(), Some(Duration::from_millis(2500)));
        assert_eq!(with_hint("soon").retry_after(), None);
        assert_eq!(with_hint("99999999999").retry_after(), None, "more than an hour is not trusted");
        assert_eq!(SendError::from_status(&tonic::Status::unavailable("down")).retry_after(), None);
    }

    fn controller(dir: &Path) -> ControllerConfig {
        ControllerConfig {
            url: "https://127.0.0.1:1".into(),
            ca: Some(dir.join("ca.crt")),
            cert: Some(dir.join("agent.crt")),
            key: Some(dir.join("agent.key")),
            server_name: None,
            timeout: Duration::from_secs(1),
        }
    }

    #[tokio::test]
    async fn tls_file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let e = ControllerClient::connect(&controller(dir.path()), false).unwrap_err();
        assert!(e.to_string().contains("controller.ca"), "{e}");
        assert!(e.to_string().contains("ca.crt"), "{e}");
        std::fs::write(dir.path().join("ca.crt"), "not pem").unwrap();
        let e = ControllerClient::connect(&controller(dir.path()), false).unwrap_err();
        assert!(matches!(e, ClientError::BadPem { what: "controller.ca", .. }), "{e}");
    }

    #[tokio::test]
    async fn down_controller_is_not_fatal_until_send() {
        let mut config = controller(Path::new("/nonexistent"));
        config.url = "http://127.0.0.1:1".into();
        let mut client = ControllerClient::connect(&config, true).unwrap();
        let e = client.send(&HostReport::default()).await.unwrap_err();
        assert!(matches!(e, SendError::Retry { needs_operator: false, .. }), "{e}");
    }
}
