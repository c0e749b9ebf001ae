//! The action ledger: each action id runs at most once, across crashes.
//!
//! One small directory (by default `actions/` under the outbox directory):
//! `<id>.started` is written and flushed to disk (file, then directory)
//! before the first command runs; `<id>.done` holds the result, written the
//! same way after. An id with `.started` and no `.done` was running when the
//! agent died: it may have taken effect, so it is never run again; its
//! result reads [`Status::Interrupted`] and is recorded as done so that every
//! later delivery of the same action gets the same answer.
//!
//! Plain files rather than a sled tree: the ledger is written a few times a
//! month, must be readable by an admin with `cat` after an incident, and
//! keeps sled's single-process lock out of the `actions` module.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{ActionKind, ActionResult, Status, UndoData, validate};

/// The ledger could not be read or written. Nothing runs when it fails.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// An I/O error on the named file.
    #[error("action ledger {path}: {cause}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        cause: std::io::Error,
    },
    /// A `.done` file does not decode.
    #[error("action ledger {path}: corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The id was started already; it is never started twice.
    #[error("action ledger: {0} was started already")]
    AlreadyStarted(String),
    /// The id cannot name a ledger file.
    #[error("action ledger: {0}")]
    BadId(String),
}

/// Where an id stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Never seen.
    New,
    /// Started, not finished: the agent stopped in between.
    Started {
        /// When it started (Unix ms).
        started_ms: i64,
    },
    /// Finished with this result.
    Done(Box<ActionResult>),
}

/// The ledger directory.
#[derive(Debug, Clone)]
pub struct ActionLedger {
    dir: PathBuf,
}

impl ActionLedger {
    /// Opens (creating) the ledger in `dir`, mode 0700.
    pub fn open(dir: impl Into<PathBuf>) -> Result<ActionLedger, LedgerError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|cause| LedgerError::Io { path: dir.clone(), cause })?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(|cause| LedgerError::Io { path: dir.clone(), cause })?;
        }
        Ok(ActionLedger { dir })
    }

    /// The ledger under an outbox directory (`<outbox>/actions`).
    pub fn in_outbox(outbox_dir: &Path) -> Result<ActionLedger, LedgerError> {
        Self::open(outbox_dir.join("actions"))
    }

    fn file(&self, id: &str, ext: &str) -> Result<PathBuf, LedgerError> {
        validate::action_id(id).map_err(|e| LedgerError::BadId(e.to_string()))?;
        Ok(self.dir.join(format!("{id}.{ext}")))
    }

    /// Where `id` stands.
    pub fn get(&self, id: &str) -> Result<Entry, LedgerError> {
        let done = self.file(id, "done")?;
        match fs::read(&done) {
            Ok(bytes) => {
                let result = serde_json::from_slice(&bytes)
                    .map_err(|e| LedgerError::Corrupt { path: done.clone(), reason: e.to_string() })?;
                return Ok(Entry::Done(Box::new(result)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(cause) => return Err(LedgerError::Io { path: done, cause }),
        }
        let started = self.file(id, "started")?;
        match fs::read_to_string(&started) {
            Ok(text) => Ok(Entry::Started { started_ms: text.trim().parse().unwrap_or(0) }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Entry::New),
            Err(cause) => Err(LedgerError::Io { path: started, cause }),
        }
    }

    /// Marks `id` started, durably, before anything runs. Fails if it was
    /// started already (by a concurrent run or before a crash): the mark is
    /// published with `link`, which never replaces an existing file.
    pub fn start(&self, id: &str, started_ms: i64) -> Result<(), LedgerError> {
        let path = self.file(id, "started")?;
        let tmp = self.file(id, "starting")?;
        let io = |cause| LedgerError::Io { path: path.clone(), cause };
        let mut file = File::create(&tmp).map_err(io)?;
        file.write_all(started_ms.to_string().as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        let linked = fs::hard_link(&tmp, &path);
        let _ = fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(LedgerError::AlreadyStarted(id.into()));
            }
            Err(cause) => return Err(io(cause)),
        }
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|cause| LedgerError::Io { path: self.dir.clone(), cause })
    }

    /// Records the result of `result.id`, durably.
    pub fn finish(&self, result: &ActionResult) -> Result<(), LedgerError> {
        let path = self.file(&result.id, "done")?;
        let bytes = serde_json::to_vec(result)
            .map_err(|e| LedgerError::Corrupt { path: path.clone(), reason: e.to_string() })?;
        self.write_durably(&path, &bytes)
    }

    /// Ids started and never finished (found after a crash), sorted.
    pub fn interrupted(&self) -> Result<Vec<String>, LedgerError> {
        let entries = fs::read_dir(&self.dir).map_err(|cause| LedgerError::Io { path: self.dir.clone(), cause })?;
        let mut ids = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".started")) else { continue };
            if matches!(self.get(id)?, Entry::Started { .. }) {
                ids.push(id.to_string());
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The kind and undo data of the finished action whose undo data equals
    /// `undo` (restores take their data from here, never from the wire).
    pub fn find_undo(&self, undo: &UndoData) -> Result<Option<(ActionKind, UndoData)>, LedgerError> {
        let entries = fs::read_dir(&self.dir).map_err(|cause| LedgerError::Io { path: self.dir.clone(), cause })?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(".done")) else { continue };
            let Entry::Done(result) = self.get(id)? else { continue };
            if let (Some(kind), Some(recorded)) = (result.kind, &result.undo)
                && recorded == undo
            {
                return Ok(Some((kind, recorded.clone())));
            }
        }
        Ok(None)
    }

    /// The result an interrupted id reports (and records, so it stays so).
    pub fn settle_interrupted(
        &self,
        id: &str,
        kind: Option<ActionKind>,
        started_ms: i64,
        now_ms: i64,
    ) -> Result<ActionResult, LedgerError> {
        let result = ActionResult {
            id: id.to_string(),
            kind,
            status: Status::Interrupted,
            exit_code: 0,
            commands: Vec::new(),
            output: String::new(),
            reason: "the agent stopped while this action ran: it may have taken effect; it is not run again \
                     (check the host, then plan a new action if needed)"
                .into(),
            undo: None,
            started_ms,
            finished_ms: now_ms,
        };
        self.finish(&result)?;
        Ok(result)
    }

    /// Write to a temporary file, fsync, rename, fsync the directory.
    fn write_durably(&self, path: &Path, bytes: &[u8]) -> Result<(), LedgerError> {
        let io = |cause| LedgerError::Io { path: path.to_path_buf(), cause };
        let tmp = path.with_extension("tmp");
        let mut file = File::create(&tmp).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        fs::rename(&tmp, path).map_err(io)?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|cause| LedgerError::Io { path: self.dir.clone(), cause })
    }
}
