//! The controller's TLS configuration, rebuilt from its files when they change.
//!
//! tonic's `ServerTlsConfig` is built once at start, so a renewed controller
//! certificate (or a CA bundle gaining the next CA) needed a restart, and a
//! restart is what an operator forgets the night before an expiry. Here the
//! rustls `ServerConfig` sits behind a lock; every TLS handshake takes the
//! current one, and [`watch`] replaces it when `tls.cert`, `tls.key` or
//! `tls.ca` change (checked every `tls.reload_interval`, and at once on
//! SIGHUP). Connections already open keep the session they negotiated.
//!
//! A new file set that does not load (garbage, a key that does not match the
//! certificate, a half-written bundle) is logged as an error naming the file
//! and the old configuration stays in service: a renewal gone wrong must never
//! take the fleet's only ingest endpoint down. A change is only loaded once the
//! files have looked the same on two checks in a row, so tooling that replaces
//! the certificate and then the key is not caught in between.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use rblfleet_shell::file_stamp::{FileStamp, file_stamp};

use crate::config::Tls;

/// ALPN for gRPC: clients (tonic's included) insist on HTTP/2.
const ALPN_H2: &[u8] = b"h2";

/// Why a TLS file set could not be loaded. `what` is the configuration key
/// ("tls.cert", "tls.key" or "tls.ca"), so the operator knows which file to fix.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {cause}")]
    Read { what: &'static str, path: PathBuf, cause: std::io::Error },
    #[error("{what} {path}: {reason}")]
    Bad { what: &'static str, path: PathBuf, reason: String },
}

/// What the reloader has done, for logs, `/metrics` and tests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReloadStatus {
    /// Successful reloads since start (the initial load not counted).
    pub reloads: u64,
    /// Why the newest file set on disk is not in service, if it is not.
    pub last_error: Option<String>,
}

/// The current server configuration and the files it came from.
#[derive(Debug)]
pub struct ReloadingTls {
    files: Tls,
    current: RwLock<Arc<ServerConfig>>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// The stamps of the files in service.
    loaded: Stamps,
    /// Stamps seen changed on the previous check, waiting to settle.
    pending: Option<Stamps>,
    /// Stamps that failed to load (not retried, not re-logged, until they change).
    failed: Option<Stamps>,
    status: ReloadStatus,
}

/// What identifies one version of the three files: modification time, size
/// and (on Unix) inode, so a rename over the file is seen even within one
/// timestamp tick.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Stamps([Option<FileStamp>; 3]);

impl ReloadingTls {
    /// Loads the files named in `[tls]`; an error here stops the controller
    /// from starting (there is no old configuration to fall back on).
    pub fn load(files: &Tls) -> Result<ReloadingTls, TlsError> {
        let stamps = stamps(files);
        let config = build(files)?;
        Ok(ReloadingTls {
            files: files.clone(),
            current: RwLock::new(config),
            state: Mutex::new(State { loaded: stamps, ..State::default() }),
        })
    }

    /// An acceptor with the configuration in service now.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.current.read().unwrap_or_else(PoisonError::into_inner).clone())
    }

    /// What the reloader has done so far.
    pub fn status(&self) -> ReloadStatus {
        self.state.lock().unwrap_or_else(PoisonError::into_inner).status.clone()
    }

    /// Reloads now if the files differ from those in service (SIGHUP: the
    /// operator says the files are complete, so no settling). Returns whether
    /// a new configuration went into service.
    pub fn reload_now(&self) -> bool {
        let now = stamps(&self.files);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.pending = None;
        self.try_load(&mut state, now, true)
    }

    /// One periodic check: loads a change once it has settled.
    pub fn check(&self) -> bool {
        let now = stamps(&self.files);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if now == state.loaded || state.failed.as_ref() == Some(&now) {
            state.pending = None;
            return false;
        }
        if state.pending.as_ref() != Some(&now) {
            state.pending = Some(now);
            return false;
        }
        state.pending = None;
        self.try_load(&mut state, now, false)
    }

    fn try_load(&self, state: &mut State, now: Stamps, forced: bool) -> bool {
        if !forced && (now == state.loaded || state.failed.as_ref() == Some(&now)) {
            return false;
        }
        match build(&self.files) {
            Ok(config) => {
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = config;
                state.loaded = now;
                state.failed = None;
                state.status.reloads += 1;
                state.status.last_error = None;
                tracing::info!(
                    cert = %self.files.cert.display(),
                    valid_until = %not_after(&self.files.cert).unwrap_or_else(|| "?".into()),
                    "TLS files reloaded: new connections use the new certificate"
                );
                true
            }
            Err(error) => {
                tracing::error!(
                    %error,
                    "TLS files changed but do not load: the previous certificate stays in service; fix the file \
                     (or put the old one back) before the previous certificate expires"
                );
                state.failed = Some(now);
                state.status.last_error = Some(error.to_string());
                false
            }
        }
    }
}

/// Checks the files every `interval` and on SIGHUP until `stopped` turns true.
pub async fn watch(tls: Arc<ReloadingTls>, interval: Duration, mut stopped: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut hangup = hangup_signal();
    loop {
        tokio::select! {
            _ = tick.tick() => { tls.check(); }
            Some(()) = next_hangup(&mut hangup) => {
                tracing::info!("SIGHUP: checking the TLS files");
                tls.reload_now();
            }
            result = stopped.wait_for(|stop| *stop) => {
                let _ = result;
                return;
            }
        }
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

#[cfg(unix)]
fn hangup_signal() -> Hangup {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::hangup())
        .map_err(|error| tracing::warn!(%error, "cannot watch SIGHUP; TLS files are still checked periodically"))
        .ok()
}

#[cfg(not(unix))]
fn hangup_signal() -> Hangup {
    None
}

/// The next SIGHUP; never resolves without a handler.
#[cfg(unix)]
async fn next_hangup(hangup: &mut Hangup) -> Option<()> {
    match hangup {
        Some(signal) => signal.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut Hangup) -> Option<()> {
    std::future::pending().await
}

fn stamps(files: &Tls) -> Stamps {
    Stamps([file_stamp(&files.cert), file_stamp(&files.key), file_stamp(&files.ca)])
}

/// Builds the mTLS server configuration: the controller's certificate and
/// key, client certificates verified against `tls.ca`, ALPN h2, ring.
pub fn build(files: &Tls) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let bad = |what: &'static str, path: &Path, reason: String| TlsError::Bad { what, path: path.into(), reason };

    let mut roots = rustls::RootCertStore::empty();
    for ca in certificates("tls.ca", &files.ca)? {
        roots.add(ca).map_err(|e| bad("tls.ca", &files.ca, format!("not a usable CA certificate: {e}")))?;
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| bad("tls.ca", &files.ca, e.to_string()))?;
    let chain = certificates("tls.cert", &files.cert)?;
    let key_pem = read("tls.key", &files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| bad("tls.key", &files.key, format!("no usable PEM private key: {e}")))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("tls.cert", &files.cert, e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| {
            bad("tls.key", &files.key, format!("does not fit the certificate {}: {e}", files.cert.display()))
        })?;
    config.alpn_protocols = vec![ALPN_H2.to_vec()];
    Ok(Arc::new(config))
}

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|cause| TlsError::Read { what, path: path.into(), cause })
}

/// Every certificate in a PEM file; none at all is an error.
fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read(what, path)?;
    let certs = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().map_err(|e| TlsError::Bad {
        what,
        path: path.into(),
        reason: format!("bad PEM: {e}"),
    })?;
    if certs.is_empty() {
        return Err(TlsError::Bad { what, path: path.into(), reason: "no PEM \"BEGIN CERTIFICATE\" block".into() });
    }
    Ok(certs)
}

/// The leaf certificate's expiry, for the reload log line.
fn not_after(path: &Path) -> Option<String> {
    let pem = std::fs::read(path).ok()?;
    let der = CertificateDer::pem_slice_iter(&pem).next()?.ok()?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).ok()?;
    Some(cert.validity().not_after.to_string())
}

#[cfg(test)]
mod tests;
