//! What the controller costs while it carries the load: its resident memory
//! (from /proc) and the size of its data (a sled data directory, or a
//! PostgreSQL database's `pg_database_size`), sampled over time.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// One point of the timeline.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Sample {
    /// Seconds since the load started.
    pub t_s: f64,
    pub generated: u64,
    pub acked: u64,
    /// Acks per second since the previous sample.
    pub acks_per_s: f64,
    /// Reports generated but not yet acknowledged or rejected (the agents' outboxes).
    pub backlog: u64,
    pub retries: u64,
    pub errors: u64,
    /// Controller resident set, KiB (None without `--controller-pid`).
    pub rss_kib: Option<u64>,
    /// Data directory or database size, bytes (None without `--data-dir`
    /// or `--store-url`).
    pub data_bytes: Option<u64>,
}

/// Errors reading the controller's figures.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("cannot read /proc/{pid}/status (is the controller running, with that pid?): {cause}")]
    Proc { pid: u32, cause: std::io::Error },
    #[error("/proc/{pid}/status has no VmRSS line")]
    NoRss { pid: u32 },
    #[error("cannot measure {path}: {cause}")]
    Dir { path: String, cause: std::io::Error },
    #[error("cannot measure the database: {0}")]
    Database(rblfleet_controller::store::StoreError),
}

/// Where the controller's data is, for its size.
#[derive(Debug, Clone)]
pub enum DataSize {
    /// A sled data directory: the files' sizes.
    Dir(PathBuf),
    /// A PostgreSQL database, opened by this process: `pg_database_size`.
    Database(rblfleet_controller::store::Store),
}

impl DataSize {
    pub fn bytes(&self) -> Result<u64, SampleError> {
        match self {
            DataSize::Dir(dir) => dir_bytes(dir),
            DataSize::Database(store) => store.size_on_disk().map_err(SampleError::Database),
        }
    }
}

/// The resident set size of process `pid`, KiB (Linux).
pub fn rss_kib(pid: u32) -> Result<u64, SampleError> {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|cause| SampleError::Proc { pid, cause })?;
    parse_vm_rss(&status).ok_or(SampleError::NoRss { pid })
}

/// The `VmRSS:   12345 kB` line of /proc/PID/status.
fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.trim_start_matches("VmRSS:").split_whitespace().next()?.parse().ok()
}

/// The sum of the sizes of all files under `dir`, recursively. Files that
/// vanish while we walk (sled replaces segments) are skipped, not errors.
pub fn dir_bytes(dir: &Path) -> Result<u64, SampleError> {
    let err = |cause| SampleError::Dir { path: dir.display().to_string(), cause };
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let entries = match std::fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound && path != dir => continue,
            Err(e) => return Err(err(e)),
        };
        for entry in entries {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(err(e)),
            };
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(err(e)),
            };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn reads_its_own_rss() {
        let status = "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t   4321 kB\nThreads: 1\n";
        assert_eq!(parse_vm_rss(status), Some(4321));
        assert_eq!(parse_vm_rss("Name: x\n"), None);
        let own = rss_kib(std::process::id()).unwrap();
        assert!(own > 100, "{own} KiB");
        let err = rss_kib(u32::MAX).unwrap_err();
        assert!(err.to_string().contains("is the controller running"), "{err}");
    }

    #[test]
    fn sums_files_recursively() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), vec![0u8; 1000]).unwrap();
        std::fs::create_dir_all(dir.path().join("b/c")).unwrap();
        std::fs::write(dir.path().join("b/c/d"), vec![0u8; 234]).unwrap();
        assert_eq!(dir_bytes(dir.path()).unwrap(), 1234);
        let missing = dir.path().join("missing");
        assert!(dir_bytes(&missing).unwrap_err().to_string().contains("missing"));
    }
}
