//! The host identity carried by the agent's certificate.
//!
//! The controller's CA issues an agent certificate with the subject CN set to
//! the host id and a URI subject alternative name `urn:rblfleet:agent:<host_id>`;
//! admin certificates carry `urn:rblfleet:admin:<name>` instead. The controller
//! trusts the URI, not the CN (a CN is free text), so the agent reads the same
//! field: the host id it puts in reports must match what the controller sees.

use std::path::{Path, PathBuf};

use crate::config::Config;
use rblfleet_proto::contract::valid_host_id;
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

/// The URI SAN prefixes, defined once in `proto` for both ends.
pub use rblfleet_proto::contract::{ADMIN_URI_PREFIX, AGENT_URI_PREFIX};

/// Why no host id could be read from a certificate file.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The file could not be read.
    #[error("cannot read certificate {path}: {cause}")]
    Read {
        /// The certificate file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The file holds no parsable PEM certificate.
    #[error("{path}: not a PEM certificate: {reason}")]
    NotACertificate {
        /// The certificate file.
        path: PathBuf,
        /// What the parser said.
        reason: String,
    },
    /// The certificate has no usable agent identity.
    #[error("{path}: {reason}")]
    NoAgentIdentity {
        /// The certificate file.
        path: PathBuf,
        /// What is missing or malformed.
        reason: String,
    },
}

/// Reads a PEM certificate file and returns its host id.
pub fn host_id_from_cert_file(path: &Path) -> Result<String, IdentityError> {
    let pem = std::fs::read(path).map_err(|source| IdentityError::Read { path: path.to_path_buf(), cause: source })?;
    host_id_from_cert_pem(&pem, path)
}

/// Returns the host id from the first certificate in `pem` (the leaf, when the
/// file also holds a chain). `path` is only used in error messages.
pub fn host_id_from_cert_pem(pem: &[u8], path: &Path) -> Result<String, IdentityError> {
    let not_cert = |reason: String| IdentityError::NotACertificate { path: path.to_path_buf(), reason };
    let no_identity = |reason: String| IdentityError::NoAgentIdentity { path: path.to_path_buf(), reason };
    let block = Pem::iter_from_buffer(pem)
        .map(|block| block.map_err(|e| not_cert(e.to_string())))
        .find(|block| block.as_ref().map_or(true, |b| b.label == "CERTIFICATE"))
        .ok_or_else(|| not_cert("no BEGIN CERTIFICATE block".into()))??;
    let cert = block.parse_x509().map_err(|e| not_cert(e.to_string()))?;
    let san = cert.subject_alternative_name().map_err(|e| not_cert(format!("bad subjectAltName: {e}")))?.ok_or_else(
        || {
            no_identity(format!(
                "no subjectAltName; an agent certificate names its host as URI {AGENT_URI_PREFIX}HOST \
                 (issue one with `rblfleet ca issue --agent HOST`)"
            ))
        },
    )?;
    let uris: Vec<&str> = san
        .value
        .general_names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some(*uri),
            _ => None,
        })
        .collect();
    let agent: Vec<&str> = uris.iter().filter_map(|uri| uri.strip_prefix(AGENT_URI_PREFIX)).collect();
    match agent.as_slice() {
        [host_id] => match valid_host_id(host_id) {
            Ok(()) => Ok((*host_id).to_string()),
            // The controller would refuse every report: say so now, not at the first send.
            Err(why) => Err(no_identity(format!(
                "malformed agent identity {AGENT_URI_PREFIX}{host_id:?}: the host id {why}; \
                 the controller refuses it (issue a new one with `rblfleet ca issue --agent HOST`)"
            ))),
        },
        [] if uris.iter().any(|u| u.starts_with(ADMIN_URI_PREFIX)) => Err(no_identity(
            "this is an admin certificate; the agent needs an agent certificate \
             (`rblfleet ca issue --agent HOST`)"
                .into(),
        )),
        [] => Err(no_identity(format!(
            "no {AGENT_URI_PREFIX}HOST URI in subjectAltName \
             (issue one with `rblfleet ca issue --agent HOST`)"
        ))),
        _ => Err(no_identity(format!("{} agent identities in one certificate; expected exactly one", agent.len()))),
    }
}

/// The host id the agent reports: `host_id` from the config, else the
/// certificate's identity.
///
/// A configured `host_id` that differs from the certificate is kept (the
/// operator asked for it) but logged as an error, because the controller
/// refuses such reports with PERMISSION_DENIED. With `insecure` and no
/// certificate, `host_id` is required.
pub fn resolve_host_id(config: &Config, insecure: bool) -> Result<String, IdentityError> {
    let cert = config.controller.cert.as_deref();
    let from_cert = match cert {
        Some(path) if !insecure || config.host_id.is_none() => Some(host_id_from_cert_file(path)?),
        _ => None,
    };
    match (&config.host_id, from_cert) {
        (Some(configured), Some(from_cert)) => {
            if *configured != from_cert {
                tracing::error!(
                    host_id = %configured,
                    certificate = %from_cert,
                    "host_id differs from the agent certificate's identity; \
                     the controller will refuse every report (PERMISSION_DENIED)"
                );
            }
            Ok(configured.clone())
        }
        (Some(configured), None) => Ok(configured.clone()),
        (None, Some(from_cert)) => Ok(from_cert),
        (None, None) => Err(IdentityError::NoAgentIdentity {
            path: PathBuf::from("<config>"),
            reason: "no host id: set host_id, or controller.cert to an agent certificate".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair, SanType};

    fn cert_pem(cn: &str, uris: &[&str]) -> String {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        for uri in uris {
            params.subject_alt_names.push(SanType::URI((*uri).try_into().unwrap()));
        }
        let key = KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    fn host_id(pem: &str) -> Result<String, IdentityError> {
        host_id_from_cert_pem(pem.as_bytes(), Path::new("/etc/rblfleet/agent.crt"))
    }

    #[test]
    fn reads_agent_uri() {
        let pem = cert_pem("web07.example.net", &["urn:rblfleet:agent:web07.example.net"]);
        assert_eq!(host_id(&pem).unwrap(), "web07.example.net");
    }

    #[test]
    fn uri_wins_over_cn() {
        let pem = cert_pem("something else", &["urn:rblfleet:agent:web08"]);
        assert_eq!(host_id(&pem).unwrap(), "web08");
    }

    #[test]
    fn leaf_first_in_a_chain() {
        let leaf = cert_pem("a", &["urn:rblfleet:agent:a"]);
        let ca = cert_pem("ca", &[]);
        assert_eq!(host_id(&format!("{leaf}{ca}")).unwrap(), "a");
    }

    #[test]
    fn missing_identity_names_the_file() {
        let e = host_id(&cert_pem("web07", &[])).unwrap_err().to_string();
        assert!(e.contains("/etc/rblfleet/agent.crt"), "{e}");
        assert!(e.contains("urn:rblfleet:agent:"), "{e}");
        let e = host_id(&cert_pem("web07", &["https://example.net/"])).unwrap_err().to_string();
        assert!(e.contains("no urn:rblfleet:agent:"), "{e}");
    }

    #[test]
    fn admin_certificate_is_refused() {
        let e = host_id(&cert_pem("alice", &["urn:rblfleet:admin:alice"])).unwrap_err().to_string();
        assert!(e.contains("admin certificate"), "{e}");
    }

    #[test]
    fn malformed_identity_is_refused() {
        assert!(host_id(&cert_pem("x", &["urn:rblfleet:agent:"])).is_err());
        assert!(host_id(&cert_pem("x", &["urn:rblfleet:agent:a", "urn:rblfleet:agent:b"])).is_err());
    }

    #[test]
    fn identity_the_controller_refuses_is_refused_with_the_reason() {
        for (id, why) in
            [("web 07", "contains ' '"), ("-web07", "must not start with '.' or '-'"), ("a:b", "contains ':'")]
        {
            let e = host_id(&cert_pem("x", &[&format!("urn:rblfleet:agent:{id}")])).unwrap_err().to_string();
            assert!(e.contains("malformed agent identity") && e.contains(why), "{id:?}: {e}");
            assert!(e.contains("controller refuses"), "{e}");
        }
    }

    #[test]
    fn not_a_certificate() {
        let e = host_id("hello").unwrap_err();
        assert!(matches!(e, IdentityError::NotACertificate { .. }), "{e}");
        let key = KeyPair::generate().unwrap().serialize_pem();
        assert!(host_id(&key).is_err());
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.crt");
        let e = host_id_from_cert_file(&path).unwrap_err().to_string();
        assert!(e.contains("agent.crt"), "{e}");
        std::fs::write(&path, cert_pem("h", &["urn:rblfleet:agent:h"])).unwrap();
        assert_eq!(host_id_from_cert_file(&path).unwrap(), "h");
    }
}
