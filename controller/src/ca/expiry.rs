//! When certificates expire: read from a certificate (DER or a PEM file),
//! and the controller's registry of every certificate it depends on.
//!
//! An agent certificate that expires silences its host, and `ca issue
//! --agents-from` gives a whole fleet the same expiry day, so the controller
//! keeps each agent's notAfter as seen on its last connection, next to its
//! own certificate and the CA it trusts. `/metrics` and the alerts read it.
//!
//! The agent part lives in memory only: agents report every minute, so a
//! restarted controller knows the fleet again a minute later, and nothing is
//! added to the store for a value the next report brings anyway. The
//! controller's own files ([`OwnFiles`]) are read afresh each time they are
//! asked for, so a renewed certificate shows as soon as it is on disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex, PoisonError};

use x509_parser::prelude::{FromDer, X509Certificate};

/// Why an expiry could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ExpiryError {
    #[error("{path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("{what}: not a valid X.509 certificate: {reason}")]
    Parse { what: String, reason: String },
    #[error("{path}: holds no PEM certificate")]
    Empty { path: PathBuf },
}

/// Which certificate an expiry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CertKind {
    /// An agent's client certificate, named by its host id.
    Agent,
    /// The controller's server certificate (`tls.cert`).
    Controller,
    /// A CA certificate the controller trusts (`tls.ca`; two during a CA roll).
    Ca,
}

impl CertKind {
    /// The wire and label form: "agent", "controller", "ca".
    pub fn as_str(self) -> &'static str {
        match self {
            CertKind::Agent => "agent",
            CertKind::Controller => "controller",
            CertKind::Ca => "ca",
        }
    }
}

/// One certificate's expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    pub kind: CertKind,
    /// The host id for an agent, else the certificate's subject CN.
    pub name: String,
    /// notAfter, Unix milliseconds.
    pub not_after_ms: i64,
}

/// A certificate read from a PEM file: its subject CN and notAfter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemCert {
    pub subject: String,
    pub not_after_ms: i64,
}

/// notAfter of a DER certificate, Unix milliseconds.
pub fn not_after_ms(der: &[u8]) -> Result<i64, ExpiryError> {
    parse(der, "the certificate").map(|c| c.not_after_ms)
}

fn parse(der: &[u8], what: &str) -> Result<PemCert, ExpiryError> {
    let (_, cert) = X509Certificate::from_der(der)
        .map_err(|e| ExpiryError::Parse { what: what.to_string(), reason: e.to_string() })?;
    let subject = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map_or_else(|| cert.subject().to_string(), str::to_string);
    Ok(PemCert { subject, not_after_ms: cert.validity().not_after.timestamp().saturating_mul(1000) })
}

/// Every certificate in a PEM file, in file order (a CA file holds two
/// while a new CA overlaps the old one).
pub fn read_pem_file(path: &Path) -> Result<Vec<PemCert>, ExpiryError> {
    let pem = std::fs::read(path).map_err(|cause| ExpiryError::Io { path: path.into(), cause })?;
    let mut certs = Vec::new();
    for (index, block) in x509_parser::pem::Pem::iter_from_buffer(&pem).enumerate() {
        let what = || format!("{} (certificate {})", path.display(), index + 1);
        let block = block.map_err(|e| ExpiryError::Parse { what: what(), reason: e.to_string() })?;
        if block.label == "CERTIFICATE" {
            certs.push(parse(&block.contents, &what())?);
        }
    }
    if certs.is_empty() {
        return Err(ExpiryError::Empty { path: path.into() });
    }
    Ok(certs)
}

/// Days from `now_ms` to `not_after_ms`, rounded up ("expires in 7 days"
/// from 7 days before to 6 days and a second before); 0 or less once
/// expired (-1 from a day after).
pub fn days_left(not_after_ms: i64, now_ms: i64) -> i64 {
    const DAY_MS: i64 = 86_400_000;
    (not_after_ms.saturating_sub(now_ms).saturating_add(DAY_MS - 1)).div_euclid(DAY_MS)
}

/// The controller's own certificate files (`tls.cert`, `tls.ca`), read
/// afresh each time, so a renewed file shows as soon as it is on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnFiles {
    pub cert: PathBuf,
    pub ca: PathBuf,
}

impl OwnFiles {
    /// The controller's certificate (its leaf, the file's first) and each
    /// CA in the CA file, named by subject CN; a CN that repeats (an old
    /// and a new CA both called "rblfleet fleet CA") gets " #2".
    pub fn read(&self) -> Result<Vec<Expiry>, ExpiryError> {
        let mut out = Vec::new();
        if let Some(leaf) = read_pem_file(&self.cert)?.into_iter().next() {
            out.push(Expiry { kind: CertKind::Controller, name: leaf.subject, not_after_ms: leaf.not_after_ms });
        }
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for c in read_pem_file(&self.ca)? {
            let n = seen.entry(c.subject.clone()).or_insert(0);
            *n += 1;
            let name = if *n == 1 { c.subject } else { format!("{} #{n}", c.subject) };
            out.push(Expiry { kind: CertKind::Ca, name, not_after_ms: c.not_after_ms });
        }
        Ok(out)
    }
}

/// Agents' certificate expiries as last seen. One per process: see
/// [`registry`].
#[derive(Debug, Default)]
pub struct Registry {
    /// notAfter (Unix ms) by host id.
    agents: Mutex<BTreeMap<String, i64>>,
}

/// The process's registry of agent certificates. Process-wide like a
/// metrics registry: the agent API writes to it, `/metrics`, the alerts and
/// the admin API read it, and the server's constructor (shared with other
/// work) need not thread it through. A process runs one controller; tests
/// that run several in one process share it, keyed by host id, so they
/// assert ranges (an expiry about `days` ahead), never another test's absence.
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);
    &REGISTRY
}

impl Registry {
    /// Records the client certificate `der` an agent connected with. The
    /// caller has already checked that it names `host`.
    pub fn record_agent(&self, host: &str, der: &[u8]) -> Result<i64, ExpiryError> {
        let not_after_ms = not_after_ms(der)?;
        let mut agents = self.agents.lock().unwrap_or_else(PoisonError::into_inner);
        // Every report lands here: no new key allocated for a known host.
        match agents.get_mut(host) {
            Some(seen) => *seen = not_after_ms,
            None => {
                agents.insert(host.to_string(), not_after_ms);
            }
        }
        Ok(not_after_ms)
    }

    /// The notAfter of `host`'s certificate as last seen, if it connected
    /// since the controller started.
    pub fn agent(&self, host: &str) -> Option<i64> {
        self.agents.lock().unwrap_or_else(PoisonError::into_inner).get(host).copied()
    }

    /// Every agent's expiry, by host id.
    pub fn agents(&self) -> Vec<Expiry> {
        let agents = self.agents.lock().unwrap_or_else(PoisonError::into_inner);
        agents
            .iter()
            .map(|(host, &not_after_ms)| Expiry { kind: CertKind::Agent, name: host.clone(), not_after_ms })
            .collect()
    }
}

#[cfg(test)]
mod tests;
