//! Which controller the running agent sends to, for `rblfleet-agent doctor`.
//!
//! The running agent holds the outbox's lock, so the doctor cannot ask sled;
//! the agent writes this small file beside it (`controller.json` in the
//! outbox directory) each time the controller in use changes, and the
//! doctor reads it. Written to a temporary file and renamed over, so a
//! reader never sees half of it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file's name inside the outbox directory.
pub const FILE: &str = "controller.json";

/// The controller in use, as last written by the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InUse {
    /// The URL that acknowledged the last report.
    pub url: String,
    /// When the agent moved to it (Unix ms).
    pub since_ms: u64,
    /// The controller used before, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// Why the previous one was left.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Writing or reading the file failed.
#[derive(Debug, thiserror::Error)]
pub enum InUseError {
    /// The file could not be written or read.
    #[error("{path}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The file is not what the agent writes.
    #[error("{path}: not the agent's controller record: {cause}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// serde_json's message.
        cause: serde_json::Error,
    },
}

/// Replaces the record in the outbox directory `dir`.
pub fn write(dir: &Path, in_use: &InUse) -> Result<(), InUseError> {
    let path = dir.join(FILE);
    let tmp = dir.join(format!("{FILE}.tmp"));
    let io = |cause| InUseError::Io { path: path.clone(), cause };
    let bytes = serde_json::to_vec_pretty(in_use).map_err(|e| io(std::io::Error::other(e)))?;
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)
}

/// The record in `dir`; `Ok(None)` when the agent has not written one.
pub fn read(dir: &Path) -> Result<Option<InUse>, InUseError> {
    let path = dir.join(FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(cause) => return Err(InUseError::Io { path, cause }),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|cause| InUseError::Parse { path, cause })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn written_record_reads_back_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()).unwrap(), None);
        let first = InUse { url: "https://a:7443".into(), since_ms: 1, previous: None, reason: None };
        write(dir.path(), &first).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(first));
        let second = InUse {
            url: "https://b:7443".into(),
            since_ms: 2,
            previous: Some("https://a:7443".into()),
            reason: Some("UNAVAILABLE: connection refused".into()),
        };
        write(dir.path(), &second).unwrap();
        assert_eq!(read(dir.path()).unwrap(), Some(second));
        std::fs::write(dir.path().join(FILE), "not json").unwrap();
        assert!(read(dir.path()).unwrap_err().to_string().contains(FILE));
    }
}
