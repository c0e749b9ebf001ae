//! Free space on the data directory's filesystem, and the reserve kept free.
//!
//! sled turns a write that hits a full disk into an error that stays with
//! the open database: every later operation fails until the controller
//! restarts. So ingest is refused *before* the disk is full: while free space
//! is below the reserve (`store.min_free_mib`), `Store::check_space` answers
//! `StoreError::DiskFull` and the agent keeps the report in its outbox.
//! The reserve also leaves room for the smaller writes that continue
//! (blocklist checks, cases) and for sled's own log compaction.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Sled, StoreError};

const MIB: u64 = 1024 * 1024;

/// The reserve a store keeps until told otherwise (`store.min_free_mib`'s default).
pub const DEFAULT_MIN_FREE_BYTES: u64 = 512 * MIB;

/// How long one probe of free space is trusted: ingest asks per report, and a
/// filesystem does not fill by 512 MiB within a second from this controller.
const PROBE_TTL: Duration = Duration::from_secs(1);

/// The data directory's free space as last probed, and the reserve.
#[derive(Debug)]
pub(crate) struct Space {
    path: PathBuf,
    reserve: AtomicU64,
    probed: Mutex<Option<(Instant, u64)>>,
}

/// Free space and reserve of the data directory, for the admin API and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceStatus {
    pub path: PathBuf,
    /// Bytes available to the controller (statvfs `f_bavail`).
    pub free_bytes: u64,
    pub reserve_bytes: u64,
}

impl SpaceStatus {
    /// Whether ingest is being refused for lack of space.
    pub fn refusing(&self) -> bool {
        self.free_bytes < self.reserve_bytes
    }
}

impl Space {
    pub(crate) fn new(path: &Path, reserve: u64) -> Space {
        Space { path: path.to_path_buf(), reserve: AtomicU64::new(reserve), probed: Mutex::new(None) }
    }

    /// Free bytes, from a probe younger than `PROBE_TTL` unless `fresh`.
    fn free(&self, fresh: bool) -> Result<u64, StoreError> {
        let mut probed = self.probed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((at, free)) = *probed
            && !fresh
            && at.elapsed() < PROBE_TTL
        {
            return Ok(free);
        }
        let free = fs2::available_space(&self.path)
            .map_err(|cause| StoreError::SpaceProbe { path: self.path.clone(), cause })?;
        *probed = Some((Instant::now(), free));
        Ok(free)
    }

    fn status(&self, fresh: bool) -> Result<SpaceStatus, StoreError> {
        Ok(SpaceStatus {
            path: self.path.clone(),
            free_bytes: self.free(fresh)?,
            reserve_bytes: self.reserve.load(Ordering::Relaxed),
        })
    }

    fn check(&self) -> Result<(), StoreError> {
        let status = self.status(false)?;
        if status.refusing() {
            return Err(StoreError::DiskFull {
                path: status.path,
                free: status.free_bytes,
                reserve: status.reserve_bytes,
            });
        }
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Sled {
    /// `Err(StoreError::DiskFull)` while the data directory's filesystem has
    /// less free space than the reserve. Call it before accepting a write
    /// that can wait (a report stays in the agent's outbox). Probes at most
    /// once a second.
    pub fn check_space(&self) -> Result<(), StoreError> {
        self.space.check()
    }

    /// Sets the reserve (`store.min_free_mib`), in bytes; 0 disables the check.
    pub fn set_min_free(&self, bytes: u64) {
        self.space.reserve.store(bytes, Ordering::Relaxed);
    }

    /// Free space and reserve now (a fresh probe, which later checks reuse).
    pub fn space_status(&self) -> Result<SpaceStatus, StoreError> {
        self.space.status(true)
    }

    /// The directory the store lives in.
    pub fn data_dir(&self) -> &Path {
        self.space.path()
    }
}

/// sled errors, with a full disk (ENOSPC, EDQUOT) told apart: it needs an
/// operator, not a retry.
impl From<sled::Error> for StoreError {
    fn from(error: sled::Error) -> Self {
        match &error {
            sled::Error::Io(io) if matches!(io.kind(), ErrorKind::StorageFull | ErrorKind::QuotaExceeded) => {
                StoreError::DiskFull { path: PathBuf::new(), free: 0, reserve: 0 }
            }
            _ => StoreError::Io(error),
        }
    }
}

/// `StoreError::DiskFull`'s message. Without a reserve the OS itself refused
/// a write (sled does not say which file).
pub(super) fn disk_full_message(path: &Path, free: u64, reserve: u64) -> String {
    let kept = "new reports are refused and stay in the agents' outboxes; everything already acknowledged is stored";
    if reserve == 0 {
        // sled keeps a failed write's error and refuses every later write.
        return format!(
            "the disk holding the data directory is full (no space left on device): {kept}. The store refuses writes until it is reopened: free space on that filesystem, then restart the controller (`rblfleet verify --data-dir DIR` checks the store while it is stopped)"
        );
    }
    let advice =
        format!("{kept}. Free space on that filesystem (or lower store.min_free_mib); ingest resumes by itself");
    format!(
        "the disk holding {} has {} MiB free, less than the {} MiB reserve (store.min_free_mib): {advice}",
        path.display(),
        free / MIB,
        reserve.div_ceil(MIB),
    )
}

#[cfg(test)]
mod tests;
