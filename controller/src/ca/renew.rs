//! Which issued certificates are due for renewal, and renewing one.
//!
//! The list comes from the CA directory itself: `DIR/agents/HOST.crt` for
//! every agent `ca issue` made, `DIR/controller.crt` and
//! `DIR/controllers/ID.crt`. That works on an
//! offline CA host, and it is the only complete list: the controller knows
//! an agent's expiry only once the agent has connected since the controller
//! started, so a host that was down, or whose certificate already expired
//! (it cannot connect at all), is missing from it exactly when it matters.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::expiry::{CertKind, read_pem_file};
use super::{CaError, Issued, Subject};

/// An issued certificate found in a CA directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub kind: CertKind,
    /// The host id of an agent; "controller" for the controller.
    pub name: String,
    pub cert: PathBuf,
    pub not_after_ms: i64,
}

fn bad(path: &Path, reason: impl ToString) -> CaError {
    CaError::BadCert { path: path.to_path_buf(), reason: reason.to_string() }
}

/// Every agent certificate in `dir/agents`, by host id; a `.crt` that does
/// not parse is an error naming it (nothing is renewed from a half-read list).
pub fn agents(dir: &Path) -> Result<Vec<Found>, CaError> {
    let agents = dir.join("agents");
    let entries = match std::fs::read_dir(&agents) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(cause) => return Err(CaError::Io { path: agents, cause }),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|cause| CaError::Io { path: agents.clone(), cause })?;
        let name = entry.file_name();
        // Not Path::extension: host ids contain dots ("web01.example").
        let Some(host) = name.to_str().and_then(|n| n.strip_suffix(".crt")) else { continue };
        let cert = entry.path();
        let first = read_pem_file(&cert).map_err(|e| bad(&cert, e))?.into_iter().next();
        let Some(first) = first else { continue };
        found.push(Found { kind: CertKind::Agent, name: host.to_string(), cert, not_after_ms: first.not_after_ms });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// The controller certificates `ca issue --controller` made: `dir/controller.crt`
/// (named "controller") and every `dir/controllers/ID.crt` (named by its id).
pub fn controllers(dir: &Path) -> Result<Vec<Found>, CaError> {
    let mut found = Vec::new();
    let single = dir.join("controller.crt");
    if single.exists() {
        found.extend(read_found(single, "controller")?);
    }
    let several = dir.join(super::CONTROLLERS);
    let entries = match std::fs::read_dir(&several) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(cause) => return Err(CaError::Io { path: several, cause }),
    };
    let mut each = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|cause| CaError::Io { path: several.clone(), cause })?;
        let name = entry.file_name();
        let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".crt")) else { continue };
        each.extend(read_found(entry.path(), id)?);
    }
    each.sort_by(|a, b| a.name.cmp(&b.name));
    found.extend(each);
    Ok(found)
}

fn read_found(cert: PathBuf, name: &str) -> Result<Option<Found>, CaError> {
    let first = read_pem_file(&cert).map_err(|e| bad(&cert, e))?.into_iter().next();
    Ok(first.map(|c| Found { kind: CertKind::Controller, name: name.into(), cert, not_after_ms: c.not_after_ms }))
}

/// The DNS names and IPs a controller certificate is valid for, in its
/// order, so a renewal keeps exactly the names agents connect to.
pub fn controller_names(cert: &Path) -> Result<Vec<String>, CaError> {
    let pem = std::fs::read(cert).map_err(|cause| CaError::Io { path: cert.into(), cause })?;
    let (_, block) = x509_parser::pem::parse_x509_pem(&pem).map_err(|e| bad(cert, e))?;
    let (_, parsed) = X509Certificate::from_der(&block.contents).map_err(|e| bad(cert, e))?;
    let san = parsed.subject_alternative_name().map_err(|e| bad(cert, e))?;
    let mut names = Vec::new();
    for name in san.iter().flat_map(|s| s.value.general_names.iter()) {
        match name {
            GeneralName::DNSName(dns) => names.push((*dns).to_string()),
            GeneralName::IPAddress(bytes) => {
                let ip = match bytes.len() {
                    4 => <[u8; 4]>::try_from(*bytes).map(IpAddr::from).ok(),
                    16 => <[u8; 16]>::try_from(*bytes).map(IpAddr::from).ok(),
                    _ => None,
                };
                names.push(ip.ok_or_else(|| bad(cert, "a SAN IP address is neither IPv4 nor IPv6"))?.to_string());
            }
            _ => {}
        }
    }
    if names.is_empty() {
        return Err(bad(cert, "no DNS name or IP in its subject alternative names"));
    }
    Ok(names)
}

/// Re-issues `found` for `days` with a new key, over the old files.
pub fn renew(dir: &Path, found: &Found, days: i64) -> Result<Issued, CaError> {
    let subject = match found.kind {
        CertKind::Agent => Subject::Agent { host_id: found.name.clone() },
        CertKind::Controller => {
            let names = controller_names(&found.cert)?;
            // Over the files it was found in: `controller.crt` or `controllers/ID.crt`.
            let id = (found.cert != dir.join("controller.crt")).then_some(found.name.as_str());
            return super::issue_controller(dir, &names, id, days, true);
        }
        CertKind::Ca => {
            return Err(bad(&found.cert, "a CA is never renewed in place: roll a new one (operations guide)"));
        }
    };
    super::issue(dir, &subject, days, true)
}
