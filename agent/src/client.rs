//! The connection to the controller. The only file that knows tonic.
//!
//! The channel is lazy: a controller that is down when the agent starts is
//! not an error, the first send just fails and is retried. Under TLS 1.3 a
//! certificate the controller refuses is also only seen at the first RPC, so
//! [`ControllerClient::connect`] checks what it can locally (files readable,
//! PEM well-formed) and everything else surfaces as a [`SendError`].
//!
//! Renewed TLS files are picked up without a restart: before each send the
//! client looks at the files' stamps (`client/reload.rs`) and, when they
//! changed, builds a new channel from them. Files that do not load are logged
//! once and the old channel stays in use: a bad renewal must not silence a
//! host whose old certificate still works.

mod reload;

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
    /// What the channel is rebuilt from when the TLS files change.
    config: ControllerConfig,
    /// The TLS files the channel in use was built from.
    loaded: reload::Stamps,
    /// TLS files that failed to load (not retried until they change again).
    failed: Option<reload::Stamps>,
    /// Channels rebuilt from renewed files since `connect`.
    reloads: u64,
}

impl ControllerClient {
    /// Builds the channel: mTLS for `https://`, plaintext when `insecure`
    /// (the caller has checked `Config::check_transport`). Reads and checks
    /// the TLS files but does not connect. Must run inside a tokio runtime.
    pub fn connect(config: &ControllerConfig, insecure: bool) -> Result<Self, ClientError> {
        let loaded = reload::Stamps::of(config);
        Ok(Self {
            inner: channel(config, insecure)?,
            url: config.url.trim().to_string(),
            tls: !insecure,
            config: config.clone(),
            loaded,
            failed: None,
            reloads: 0,
        })
    }

    /// Rebuilds the channel if `controller.ca`, `.cert` or `.key` changed
    /// since it was built. `Ok(true)`: a new channel is in use (its first
    /// send makes a new TLS connection with the new files). An error is
    /// returned once per change; the old channel stays in use meanwhile.
    pub fn reload_if_changed(&mut self) -> Result<bool, ClientError> {
        if !self.tls {
            return Ok(false);
        }
        let now = reload::Stamps::of(&self.config);
        if now == self.loaded || self.failed.as_ref() == Some(&now) {
            return Ok(false);
        }
        match channel(&self.config, false) {
            Ok(inner) => {
                self.inner = inner;
                self.loaded = now;
                self.failed = None;
                self.reloads += 1;
                Ok(true)
            }
            Err(error) => {
                self.failed = Some(now);
                Err(error)
            }
        }
    }

    /// How many times renewed TLS files were put into use.
    pub fn reloads(&self) -> u64 {
        self.reloads
    }

    /// The controller URL, for log messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Delivers one report and returns the controller's acknowledgement.
    pub async fn send(&mut self, report: &HostReport) -> Result<ReportAck, SendError> {
        match self.reload_if_changed() {
            Ok(false) => {}
            Ok(true) => tracing::info!(
                cert = ?self.config.cert,
                "TLS files changed: reconnecting to the controller with the new certificate"
            ),
            Err(error) => tracing::error!(
                %error,
                "TLS files changed but do not load: still using the previous certificate; fix the file (or put \
                 the old one back) before the previous certificate expires"
            ),
        }
        match self.inner.report(tonic::Request::new(report.clone())).await {
            Ok(response) => Ok(response.into_inner()),
            Err(status) => Err(SendError::from_transport(&status, self.tls)),
        }
    }
}

/// A lazy channel: mTLS for `https://`, plaintext when `insecure`.
fn channel(config: &ControllerConfig, insecure: bool) -> Result<AgentServiceClient<Channel>, ClientError> {
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
    Ok(AgentServiceClient::new(endpoint.connect_lazy()))
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
mod tests;
