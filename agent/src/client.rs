//! The connection to the controller. The only file that knows tonic.
//!
//! The channel is lazy: a controller that is down when the agent starts is
//! not an error, the first send just fails and is retried. Under TLS 1.3 a
//! certificate the controller refuses is also only seen at the first RPC, so
//! [`ControllerClient::connect`] checks what it can locally (files readable,
//! PEM well-formed) and everything else surfaces as a [`SendError`].
//!
//! With several controllers (`controller.urls`) the client holds one lazy
//! channel per URL and sends on the one in use; `client/failover.rs` decides
//! when a failed send moves on to the next.
//!
//! Renewed TLS files are picked up without a restart: before each send the
//! client looks at the files' stamps (`client/reload.rs`) and, when they
//! changed, builds a new channel from them. Files that do not load are logged
//! once and the old channel stays in use: a bad renewal must not silence a
//! host whose old certificate still works.

mod error;
pub mod failover;
mod reload;

pub use error::{RETRY_PUSHBACK_KEY, SendError, code_name};

use std::path::{Path, PathBuf};
use std::time::Duration;

use rblfleet_proto::v1::agent_service_client::AgentServiceClient;
use rblfleet_proto::v1::{HostReport, ReportAck};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::config::ControllerConfig;
use failover::{Rotation, fails_over};

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
        /// The controller URL (or the config key when there is no usable URL).
        url: String,
        /// What tonic or rustls said.
        reason: String,
    },
}

/// A lazily connecting client of the controllers' `AgentService`.
#[derive(Debug, Clone)]
pub struct ControllerClient {
    /// One channel per controller URL, in the configured order.
    targets: Vec<Target>,
    /// Which one is in use and where a failed send goes next.
    rotation: Rotation,
    /// A change of controller not yet taken by [`Self::take_switch`].
    switch: Option<ControllerSwitch>,
    /// Mutual TLS (false only for `--insecure` on loopback).
    tls: bool,
    /// What the channels are rebuilt from when the TLS files change.
    config: ControllerConfig,
    /// The TLS files the channels in use were built from.
    loaded: reload::Stamps,
    /// TLS files that failed to load (not retried until they change again).
    failed: Option<reload::Stamps>,
    /// Channel sets rebuilt from renewed files since `connect`.
    reloads: u64,
}

/// One controller: its URL and its lazy channel.
#[derive(Debug, Clone)]
struct Target {
    url: String,
    inner: AgentServiceClient<Channel>,
}

/// The controller in use changed (or was used for the first time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerSwitch {
    /// The controller that acknowledged the report.
    pub to: String,
    /// The one that acknowledged the reports before; `None` at the first ack.
    pub from: Option<String>,
    /// Why `from` was left: its last failure.
    pub reason: Option<String>,
}

impl ControllerClient {
    /// Builds one channel per controller URL: mTLS for `https://`,
    /// plaintext when `insecure` (the caller has checked
    /// `Config::check_transport`). Reads and checks the TLS files but does
    /// not connect. Must run inside a tokio runtime.
    pub fn connect(config: &ControllerConfig, insecure: bool) -> Result<Self, ClientError> {
        let loaded = reload::Stamps::of(config);
        let targets = targets(config, insecure)?;
        Ok(Self {
            rotation: Rotation::new(targets.len()),
            targets,
            switch: None,
            tls: !insecure,
            config: config.clone(),
            loaded,
            failed: None,
            reloads: 0,
        })
    }

    /// Rebuilds the channels if `controller.ca`, `.cert` or `.key` changed
    /// since they were built. `Ok(true)`: new channels are in use (their
    /// first send makes a new TLS connection with the new files). An error
    /// is returned once per change; the old channels stay in use meanwhile.
    pub fn reload_if_changed(&mut self) -> Result<bool, ClientError> {
        if !self.tls {
            return Ok(false);
        }
        let now = reload::Stamps::of(&self.config);
        if now == self.loaded || self.failed.as_ref() == Some(&now) {
            return Ok(false);
        }
        match targets(&self.config, false) {
            Ok(targets) => {
                self.targets = targets;
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

    /// The URL of the controller in use (or tried next), for log messages.
    pub fn url(&self) -> &str {
        self.targets.get(self.rotation.current()).map_or("", |t| t.url.as_str())
    }

    /// Every controller URL, in the order tried.
    pub fn urls(&self) -> Vec<&str> {
        self.targets.iter().map(|t| t.url.as_str()).collect()
    }

    /// The controller that acknowledged the last report, if one did.
    pub fn in_use(&self) -> Option<&str> {
        self.rotation.last_ok().and_then(|i| self.targets.get(i)).map(|t| t.url.as_str())
    }

    /// The change of controller made by the last sends, once.
    pub fn take_switch(&mut self) -> Option<ControllerSwitch> {
        self.switch.take()
    }

    /// Delivers one report and returns the controller's acknowledgement.
    ///
    /// Starts with the controller in use; a failure that is a failover
    /// reason ([`failover::fails_over`]) tries the next URL at once, until
    /// every one was tried; then the error names each controller's failure.
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
        self.rotation.reset_round();
        let mut failures: Vec<(String, SendError)> = Vec::new();
        loop {
            let Some(target) = self.targets.get_mut(self.rotation.current()) else {
                return Err(SendError::Retry {
                    code: "UNAVAILABLE",
                    message: "no controller configured".into(),
                    needs_operator: true,
                    retry_after: None,
                });
            };
            let status = match target.inner.report(tonic::Request::new(report.clone())).await {
                Ok(response) => {
                    if let Some(switch) = self.rotation.succeeded() {
                        let url = |i: usize| self.targets.get(i).map(|t| t.url.clone()).unwrap_or_default();
                        self.switch = Some(ControllerSwitch {
                            to: url(switch.to),
                            from: switch.from.map(url),
                            reason: switch.reason,
                        });
                    }
                    return Ok(response.into_inner());
                }
                Err(status) => status,
            };
            let error = SendError::from_transport(&status, self.tls);
            if !fails_over(&status) {
                return Err(error);
            }
            let url = target.url.clone();
            let next = self.rotation.failed(format!("{url}: {error}"));
            failures.push((url, error));
            match next {
                Some(next) => tracing::debug!(
                    failed = %failures.last().map_or("", |f| f.0.as_str()),
                    next = %self.url(),
                    next_index = next,
                    "controller failed; trying the next one"
                ),
                None => return Err(every_controller_failed(failures)),
            }
        }
    }
}

/// The error of a round in which every controller failed: the only one's
/// as it is, several named by URL.
fn every_controller_failed(mut failures: Vec<(String, SendError)>) -> SendError {
    if failures.len() <= 1
        && let Some((_, error)) = failures.pop()
    {
        return error;
    }
    let needs_operator = failures.iter().any(|(_, e)| matches!(e, SendError::Retry { needs_operator: true, .. }));
    let code = match failures.last() {
        Some((_, SendError::Retry { code, .. } | SendError::Rejected { code, .. })) => code,
        None => "UNAVAILABLE",
    };
    let each: Vec<String> = failures.iter().map(|(url, e)| format!("{url}: {e}")).collect();
    SendError::Retry {
        code,
        message: format!("every controller failed: {}", each.join("; ")),
        needs_operator,
        retry_after: None,
    }
}

/// One lazy channel per configured controller URL.
fn targets(config: &ControllerConfig, insecure: bool) -> Result<Vec<Target>, ClientError> {
    let controllers = config.controllers().map_err(|(key, reason)| ClientError::Setup { url: key, reason })?;
    controllers.into_iter().map(|c| Ok(Target { inner: channel(config, &c.url, insecure)?, url: c.url })).collect()
}

/// A lazy channel to `url`: mTLS for `https://`, plaintext when `insecure`.
fn channel(config: &ControllerConfig, url: &str, insecure: bool) -> Result<AgentServiceClient<Channel>, ClientError> {
    let setup = |reason: String| ClientError::Setup { url: url.to_string(), reason };
    let mut endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| setup(e.to_string()))?
        .timeout(config.timeout)
        .connect_timeout(config.timeout)
        .tcp_keepalive(Some(Duration::from_secs(60)));
    if !insecure {
        let tls = tls_config(config, url)?;
        endpoint = endpoint.tls_config(tls).map_err(|e| setup(format!("TLS setup failed: {}", error_chain(&e))))?;
    }
    Ok(AgentServiceClient::new(endpoint.connect_lazy()))
}

/// Reads the three PEM files named in `[controller]`; the controller at
/// `url` must present a certificate for its host (or `server_name`).
fn tls_config(config: &ControllerConfig, url: &str) -> Result<ClientTlsConfig, ClientError> {
    let ca = read_pem("controller.ca", config.ca.as_deref(), "CERTIFICATE")?;
    let cert = read_pem("controller.cert", config.cert.as_deref(), "CERTIFICATE")?;
    let key = read_pem("controller.key", config.key.as_deref(), "PRIVATE KEY")?;
    let domain = config.server_name_for(url).map_err(|reason| ClientError::Setup { url: url.to_string(), reason })?;
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
