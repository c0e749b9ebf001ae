//! Who a certificate speaks for.
//!
//! Every certificate the rblfleet CA issues names its holder twice: the subject
//! CN (for people reading it with `openssl x509`) and a SAN URI that the
//! controller trusts, `urn:rblfleet:agent:<host id>` or
//! `urn:rblfleet:admin:<name>`. The URI carries the role, so an admin
//! certificate can never speak for a host and an agent's can never drive the
//! admin API.

use std::fmt;

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use rblfleet_proto::contract::valid_host_id;
/// The URI prefixes of agent and admin identities, defined once in `proto`
/// for both ends.
pub use rblfleet_proto::contract::{ADMIN_URI_PREFIX, AGENT_URI_PREFIX};

/// Checks a host id (also used for admin names) with the rule both ends share,
/// [`valid_host_id`]: 1–253 characters of letters, digits, `.`, `_` and `-`,
/// not starting with `.` or `-`. The reason reads after the id.
pub fn check_host_id(id: &str) -> Result<(), String> {
    valid_host_id(id).map_err(|why| why.to_string())
}

/// What a certificate holder may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Agent,
    Admin,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Agent => "agent",
            Role::Admin => "admin",
        })
    }
}

/// The role and name a certificate was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub role: Role,
    pub name: String,
}

impl Identity {
    /// The SAN URI that encodes this identity.
    pub fn uri(&self) -> String {
        match self.role {
            Role::Agent => format!("{AGENT_URI_PREFIX}{}", self.name),
            Role::Admin => format!("{ADMIN_URI_PREFIX}{}", self.name),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.role, self.name)
    }
}

/// Why no identity could be read from a certificate.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("the certificate is not valid DER X.509: {0}")]
    Parse(String),
    #[error(
        "the certificate carries no rblfleet identity (no urn:rblfleet:agent: or urn:rblfleet:admin: SAN URI); was it issued by `rblfleet ca issue`?"
    )]
    Missing,
    #[error("the certificate carries more than one rblfleet identity")]
    Ambiguous,
}

/// Reads the rblfleet identity from a DER certificate.
pub fn from_der(der: &[u8]) -> Result<Identity, IdentityError> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| IdentityError::Parse(e.to_string()))?;
    let san = cert.subject_alternative_name().map_err(|e| IdentityError::Parse(e.to_string()))?;
    let mut found = None;
    for name in san.iter().flat_map(|s| s.value.general_names.iter()) {
        let GeneralName::URI(uri) = name else {
            continue;
        };
        let identity = if let Some(host) = uri.strip_prefix(AGENT_URI_PREFIX) {
            Identity { role: Role::Agent, name: host.to_string() }
        } else if let Some(admin) = uri.strip_prefix(ADMIN_URI_PREFIX) {
            Identity { role: Role::Admin, name: admin.to_string() }
        } else {
            continue;
        };
        if identity.name.is_empty() {
            return Err(IdentityError::Missing);
        }
        if found.replace(identity).is_some() {
            return Err(IdentityError::Ambiguous);
        }
    }
    found.ok_or(IdentityError::Missing)
}

#[cfg(test)]
mod tests;
