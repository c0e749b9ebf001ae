//! What both ends of the wire agree on beyond the messages: how a certificate
//! names its holder, which host ids exist, and the name of the retry hint.
//!
//! The agent builds reports and reads its own certificate; the controller
//! issues certificates, checks them and validates reports. Both import these
//! definitions, so an id the agent starts with is an id the controller stores.

/// SAN URI prefix of an agent certificate: `urn:rblfleet:agent:<host id>`.
pub const AGENT_URI_PREFIX: &str = "urn:rblfleet:agent:";
/// SAN URI prefix of an admin certificate: `urn:rblfleet:admin:<name>`.
pub const ADMIN_URI_PREFIX: &str = "urn:rblfleet:admin:";

/// Metadata key of the retry hint on a `RESOURCE_EXHAUSTED` answer, in
/// milliseconds (the name gRPC's own retry policy reads).
pub const RETRY_PUSHBACK_KEY: &str = "grpc-retry-pushback-ms";

/// The longest host id, in bytes: a DNS name's limit, since most host ids are
/// the host's name.
pub const MAX_HOST_ID_LEN: usize = 253;

/// Why a string is not a host id. The messages read after the id, e.g.
/// `host id "web 07" contains ' '; …`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostIdError {
    /// The id is empty.
    #[error("must not be empty")]
    Empty,
    /// The id is longer than [`MAX_HOST_ID_LEN`] bytes.
    #[error("is {len} bytes long; the limit is {MAX_HOST_ID_LEN}")]
    TooLong {
        /// The id's length in bytes.
        len: usize,
    },
    /// The id starts with `.` or `-` (a hidden file, a command-line option).
    #[error("must not start with '.' or '-'")]
    BadStart,
    /// The id holds a character outside the alphabet.
    #[error("contains {0:?}; only letters, digits, '.', '_' and '-' are allowed")]
    BadChar(char),
}

/// Checks a host id (also used for admin names): 1–253 ASCII letters, digits,
/// `.`, `_` and `-`, not starting with `.` or `-`.
///
/// The alphabet keeps host ids safe as file names, store keys and URI
/// suffixes, and printable on any terminal.
pub fn valid_host_id(id: &str) -> Result<(), HostIdError> {
    if id.is_empty() {
        return Err(HostIdError::Empty);
    }
    if id.len() > MAX_HOST_ID_LEN {
        return Err(HostIdError::TooLong { len: id.len() });
    }
    if id.starts_with(['.', '-']) {
        return Err(HostIdError::BadStart);
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(HostIdError::BadChar(c));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
