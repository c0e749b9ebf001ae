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
//! A result must reach the controller even if the agent dies before the
//! report that carries it is stored: `<id>.reported` marks a result that is
//! in a stored report; every `.done` without it is reported again at start
//! ([`ActionLedger::unreported`]).
//!
//! The ledger is pruned ([`ActionLedger::prune`]): an id is forgotten only
//! once no signed copy of its action can still be valid, i.e. after the
//! longest expiry an agent accepts ([`MAX_TTL_MS`]) plus a margin for clock
//! steps. Entries with undo data are kept longer ([`UNDO_RETENTION_MS`]),
//! since an undo may come days later and restores only what was recorded
//! here; and at most [`MAX_ENTRIES`] results are kept at all. Forgetting an
//! id early could only let a controller re-run an action it could as well
//! sign again under a new id, so the cap gives a compromised controller
//! nothing; a started-but-not-done or unreported id is never pruned.
//!
//! Plain files rather than a sled tree: the ledger is written a few times a
//! month, must be readable by an admin with `cat` after an incident, and
//! keeps sled's single-process lock out of the `actions` module.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{ActionKind, ActionResult, Status, UndoData, validate};

/// The longest an action may be valid for: an action whose expiry is
/// further ahead is refused (the controller's default `[actions] ttl` is 15
/// minutes). Bounds how long the ledger must remember an id.
pub const MAX_TTL_MS: i64 = 24 * 3_600_000;
/// Added to [`MAX_TTL_MS`] before an id is forgotten: clock steps between
/// the controller and this host.
pub const MARGIN_MS: i64 = 3_600_000;
/// How long a result with undo data is kept (undo is refused after that:
/// the restore would have no recorded data to restore).
pub const UNDO_RETENTION_MS: i64 = 90 * 86_400_000;
/// The most results the ledger keeps, whatever their age.
pub const MAX_ENTRIES: usize = 10_000;

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

    /// The ledger's directory (private to the agent, mode 0700).
    pub fn dir(&self) -> &Path {
        &self.dir
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

    /// Marks `id`'s result as carried by a stored report. Not synced: a
    /// mark lost in a crash only sends the result once more, which the
    /// controller ignores.
    /// An id the ledger never recorded (a dry run, a refusal before the
    /// executor) gets no mark.
    pub fn mark_reported(&self, id: &str) -> Result<(), LedgerError> {
        if !self.file(id, "done")?.exists() {
            return Ok(());
        }
        let path = self.file(id, "reported")?;
        File::create(&path).map(drop).map_err(|cause| LedgerError::Io { path, cause })
    }

    /// Finished results no stored report carries yet (the agent stopped
    /// before its next report), oldest first. Interrupted ids are settled
    /// first, so each of them is reported once as interrupted.
    pub fn unreported(&self, now_ms: i64) -> Result<Vec<ActionResult>, LedgerError> {
        for id in self.interrupted()? {
            let Entry::Started { started_ms } = self.get(&id)? else { continue };
            self.settle_interrupted(&id, None, started_ms, now_ms)?;
        }
        let mut out = Vec::new();
        for id in self.ids("done")? {
            if self.file(&id, "reported")?.exists() {
                continue;
            }
            if let Entry::Done(result) = self.get(&id)? {
                out.push(*result);
            }
        }
        out.sort_by_key(|r| (r.finished_ms, r.id.clone()));
        Ok(out)
    }

    /// Forgets reported results past their retention (see the module doc)
    /// and, beyond [`MAX_ENTRIES`], the oldest reported ones. Returns how
    /// many ids were forgotten.
    pub fn prune(&self, now_ms: i64) -> Result<usize, LedgerError> {
        self.prune_to(now_ms, MAX_ENTRIES)
    }

    /// [`ActionLedger::prune`] with another cap (tests).
    pub(crate) fn prune_to(&self, now_ms: i64, max_entries: usize) -> Result<usize, LedgerError> {
        let mut kept = Vec::new();
        let mut pruned = 0;
        for id in self.ids("done")? {
            if !self.file(&id, "reported")?.exists() {
                continue;
            }
            let Entry::Done(result) = self.get(&id)? else { continue };
            let retention = if result.undo.is_some() { UNDO_RETENTION_MS } else { MAX_TTL_MS + MARGIN_MS };
            if result.finished_ms.saturating_add(retention) < now_ms {
                self.forget(&id)?;
                pruned += 1;
            } else {
                kept.push((result.finished_ms, id));
            }
        }
        kept.sort();
        let excess = kept.len().saturating_sub(max_entries);
        for (_, id) in kept.drain(..excess) {
            self.forget(&id)?;
            pruned += 1;
        }
        Ok(pruned)
    }

    /// Removes every file of `id` ("done" last: a crash half-way leaves a
    /// finished entry, never a started one).
    fn forget(&self, id: &str) -> Result<(), LedgerError> {
        for ext in ["reported", "started", "done"] {
            let path = self.file(id, ext)?;
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(cause) => return Err(LedgerError::Io { path, cause }),
            }
        }
        Ok(())
    }

    /// The ids that have a file with extension `ext`.
    fn ids(&self, ext: &str) -> Result<Vec<String>, LedgerError> {
        let entries = fs::read_dir(&self.dir).map_err(|cause| LedgerError::Io { path: self.dir.clone(), cause })?;
        let suffix = format!(".{ext}");
        Ok(entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(|n| n.strip_suffix(&suffix)).map(str::to_string))
            .filter(|id| validate::action_id(id).is_ok())
            .collect())
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
