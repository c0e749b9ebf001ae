//! Durable read positions of the log sources: one per followed file, one
//! journald cursor.
//!
//! The checkpoints live in their own sled tree, `checkpoints`, in the same
//! database as the outbox ([`Checkpoints::open`] takes the outbox's `Db`), so
//! one data directory and one lock hold everything the agent must not lose.
//! [`Checkpoints::open_dir`] opens a database of its own (offline tools, tests).
//!
//! Layout (entry version 1), keys are UTF-8:
//!
//! - `file:<path>` → `[1] ++ dev u64 BE ++ ino u64 BE ++ offset u64 BE ++
//!   fingerprint_len u16 BE ++ fingerprint` (the first up-to-256 bytes of the
//!   file, identifying it when inodes are reused or the file is copied);
//! - `journal:<name>` → `[1] ++ cursor` (UTF-8 journald cursor);
//! - `running` → `[1]`: present while an agent runs; found at start, it says
//!   the last one did not stop cleanly (crash, abort, OOM kill, power loss);
//! - `poison:<path>` → `[1] ++ dev u64 BE ++ ino u64 BE ++ offset u64 BE ++
//!   attempts u32 BE ++ single u8`: the lines of the followed file being
//!   processed when an agent that had stopped uncleanly last wrote it down
//!   ([`PoisonMark`]; the mechanism is in `run/poison.rs`).
//!
//! Every save is flushed before it returns: a checkpoint is the promise that
//! the lines before it were accounted for, so it must survive `kill -9`.
//!
//! The running agent does not save checkpoints on their own: it asks for the
//! [`CheckpointWrite`]s of what it read and has the outbox apply them in the
//! same sled transaction that stores the report built from those lines
//! ([`super::Outbox::push_with_checkpoints`]), so a crash can neither lose a
//! period nor count it twice.

use std::path::{Path, PathBuf};

const ENTRY_V1: u8 = 1;
const TREE: &str = "checkpoints";
/// Longest fingerprint stored; longer ones are cut (they only need to tell files apart).
pub const MAX_FINGERPRINT: usize = 256;

/// A checkpoint store operation failed. Every variant names the store.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// sled could not open, read or write the tree.
    #[error("checkpoint store {path}: {cause}")]
    Store {
        /// The data directory.
        path: PathBuf,
        /// sled's error.
        cause: sled::Error,
    },
    /// A stored entry cannot be decoded. Deleting the entry makes the source
    /// start again as on a first start.
    #[error("checkpoint store {path}: corrupt entry {key:?}: {reason}")]
    Corrupt {
        /// The data directory.
        path: PathBuf,
        /// The entry's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// Where a followed file was read up to.
///
/// `offset` is the end of the last line handed to the caller. The file is
/// identified by `(dev, ino)` (zero on platforms without inodes) and by
/// `fingerprint`, its first `min(256, offset)` bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Device number of the file's file system.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Byte offset just after the last line handed out.
    pub offset: u64,
    /// The file's first bytes (at most [`MAX_FINGERPRINT`]).
    pub fingerprint: Vec<u8>,
}

/// A unit of log lines an agent was about to process, written down before
/// it did so while recovering from an unclean stop (see `run/poison.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoisonMark {
    /// Device of the file.
    pub dev: u64,
    /// Inode of the file.
    pub ino: u64,
    /// Offset of the unit's first line.
    pub offset: u64,
    /// How many starts wrote this mark at this offset.
    pub attempts: u32,
    /// The unit is that one line (line-by-line recovery).
    pub single: bool,
}

/// One checkpoint entry to write, encoded, for a transaction that also
/// writes other trees of the same database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointWrite {
    pub(crate) key: String,
    pub(crate) value: Vec<u8>,
}

impl CheckpointWrite {
    /// The checkpoint of the file followed at `path`.
    pub fn file(path: &Path, checkpoint: &Checkpoint) -> Self {
        CheckpointWrite { key: file_key(path), value: encode_file(checkpoint) }
    }

    /// The journald cursor saved under `name`.
    pub fn cursor(name: &str, cursor: &str) -> Self {
        let mut value = Vec::with_capacity(1 + cursor.len());
        value.push(ENTRY_V1);
        value.extend_from_slice(cursor.as_bytes());
        CheckpointWrite { key: format!("journal:{name}"), value }
    }
}

/// The checkpoint tree. Cheap to clone (sled trees are shared handles).
#[derive(Debug, Clone)]
pub struct Checkpoints {
    path: PathBuf,
    tree: sled::Tree,
}

impl Checkpoints {
    /// Opens the `checkpoints` tree of an open database (normally the
    /// outbox's), whose directory is `dir` (used in error messages only).
    pub fn open(db: &sled::Db, dir: &Path) -> Result<Checkpoints, CheckpointError> {
        let tree = db.open_tree(TREE).map_err(|cause| CheckpointError::Store { path: dir.to_path_buf(), cause })?;
        Ok(Checkpoints { path: dir.to_path_buf(), tree })
    }

    /// Opens the `checkpoints` tree in the outbox's database; `dir` is the
    /// outbox directory (`outbox.dir`, for error messages).
    pub fn in_outbox(outbox: &super::Outbox, dir: &Path) -> Result<Checkpoints, CheckpointError> {
        Checkpoints::open(outbox.db(), dir)
    }

    /// Opens (or creates) a database of its own in `dir`, waiting briefly
    /// for a lock still held by a just-dropped handle in this process (sled's
    /// background threads release it a moment after the last handle goes).
    pub fn open_dir(dir: &Path) -> Result<Checkpoints, CheckpointError> {
        let config = sled::Config::new().path(dir).cache_capacity(4 * 1024 * 1024).flush_every_ms(None);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let db = loop {
            match config.open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if e.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(cause) => {
                    return Err(CheckpointError::Store { path: dir.to_path_buf(), cause });
                }
            }
        };
        Checkpoints::open(&db, dir)
    }

    /// The checkpoint of the file followed at `path`, if one was saved.
    pub fn load_file(&self, path: &Path) -> Result<Option<Checkpoint>, CheckpointError> {
        let key = file_key(path);
        let Some(value) = self.get(&key)? else {
            return Ok(None);
        };
        decode_file(&value).map(Some).map_err(|reason| self.corrupt(&key, reason))
    }

    /// Saves (and flushes) the checkpoint of the file followed at `path`.
    pub fn save_file(&self, path: &Path, checkpoint: &Checkpoint) -> Result<(), CheckpointError> {
        self.put(&file_key(path), &encode_file(checkpoint))
    }

    /// The journald cursor saved under `name`, if any.
    pub fn load_cursor(&self, name: &str) -> Result<Option<String>, CheckpointError> {
        let key = format!("journal:{name}");
        let Some(value) = self.get(&key)? else {
            return Ok(None);
        };
        match value.split_first() {
            Some((&ENTRY_V1, cursor)) => String::from_utf8(cursor.to_vec())
                .map(Some)
                .map_err(|_| self.corrupt(&key, "cursor is not UTF-8".into())),
            Some((v, _)) => Err(self.corrupt(&key, format!("unknown entry version {v}"))),
            None => Err(self.corrupt(&key, "empty entry".into())),
        }
    }

    /// Saves (and flushes) the journald cursor under `name`.
    pub fn save_cursor(&self, name: &str, cursor: &str) -> Result<(), CheckpointError> {
        let write = CheckpointWrite::cursor(name, cursor);
        self.put(&write.key, &write.value)
    }

    /// Records that an agent runs (flushed); returns whether the record was
    /// there already, i.e. the previous agent did not stop cleanly.
    pub fn mark_running(&self) -> Result<bool, CheckpointError> {
        let was = self.tree.insert(RUNNING_KEY, &[ENTRY_V1]).map_err(|e| self.store(e))?.is_some();
        self.tree.flush().map_err(|e| self.store(e))?;
        Ok(was)
    }

    /// Records a clean stop (flushed).
    pub fn mark_stopped(&self) -> Result<(), CheckpointError> {
        self.tree.remove(RUNNING_KEY).map_err(|e| self.store(e))?;
        self.tree.flush().map(|_| ()).map_err(|e| self.store(e))
    }

    /// The poison mark of the file followed at `path`, if any.
    pub fn load_poison(&self, path: &Path) -> Result<Option<PoisonMark>, CheckpointError> {
        let key = poison_key(path);
        let Some(value) = self.get(&key)? else {
            return Ok(None);
        };
        decode_poison(&value).map(Some).map_err(|reason| self.corrupt(&key, reason))
    }

    /// Saves (and flushes) the poison mark of the file followed at `path`.
    pub fn save_poison(&self, path: &Path, mark: &PoisonMark) -> Result<(), CheckpointError> {
        let mut value = Vec::with_capacity(30);
        value.push(ENTRY_V1);
        for n in [mark.dev, mark.ino, mark.offset] {
            value.extend_from_slice(&n.to_be_bytes());
        }
        value.extend_from_slice(&mark.attempts.to_be_bytes());
        value.push(u8::from(mark.single));
        self.put(&poison_key(path), &value)
    }

    /// Removes every poison mark; flushes only when there was one.
    pub fn clear_poison(&self) -> Result<(), CheckpointError> {
        let mut removed = false;
        for entry in self.tree.scan_prefix(POISON_PREFIX.as_bytes()) {
            let (key, _) = entry.map_err(|e| self.store(e))?;
            self.tree.remove(key).map_err(|e| self.store(e))?;
            removed = true;
        }
        if removed {
            self.tree.flush().map_err(|e| self.store(e))?;
        }
        Ok(())
    }

    /// The sled tree, for a transaction spanning it and the outbox's trees.
    pub(crate) fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    fn get(&self, key: &str) -> Result<Option<sled::IVec>, CheckpointError> {
        self.tree.get(key.as_bytes()).map_err(|e| self.store(e))
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), CheckpointError> {
        self.tree.insert(key.as_bytes(), value).map_err(|e| self.store(e))?;
        self.tree.flush().map(|_| ()).map_err(|e| self.store(e))
    }

    fn store(&self, cause: sled::Error) -> CheckpointError {
        CheckpointError::Store { path: self.path.clone(), cause }
    }

    fn corrupt(&self, key: &str, reason: String) -> CheckpointError {
        CheckpointError::Corrupt { path: self.path.clone(), key: key.to_string(), reason }
    }
}

const RUNNING_KEY: &str = "running";
const POISON_PREFIX: &str = "poison:";

fn poison_key(path: &Path) -> String {
    format!("{POISON_PREFIX}{}", path.display())
}

fn decode_poison(value: &[u8]) -> Result<PoisonMark, String> {
    let (version, rest) = value.split_first().ok_or("empty entry")?;
    if *version != ENTRY_V1 {
        return Err(format!("unknown entry version {version}"));
    }
    let short = || format!("entry of {} bytes is not 30 bytes", value.len());
    let u64_at = |at: usize| rest.get(at..at + 8).and_then(|b| <[u8; 8]>::try_from(b).ok()).map(u64::from_be_bytes);
    let attempts = rest.get(24..28).and_then(|b| <[u8; 4]>::try_from(b).ok()).map(u32::from_be_bytes);
    match (u64_at(0), u64_at(8), u64_at(16), attempts, rest.get(28), rest.len()) {
        (Some(dev), Some(ino), Some(offset), Some(attempts), Some(&single), 29) => {
            Ok(PoisonMark { dev, ino, offset, attempts, single: single != 0 })
        }
        _ => Err(short()),
    }
}

fn file_key(path: &Path) -> String {
    format!("file:{}", path.display())
}

fn encode_file(cp: &Checkpoint) -> Vec<u8> {
    let fingerprint = &cp.fingerprint[..cp.fingerprint.len().min(MAX_FINGERPRINT)];
    let mut value = Vec::with_capacity(1 + 24 + 2 + fingerprint.len());
    value.push(ENTRY_V1);
    value.extend_from_slice(&cp.dev.to_be_bytes());
    value.extend_from_slice(&cp.ino.to_be_bytes());
    value.extend_from_slice(&cp.offset.to_be_bytes());
    // Cannot truncate: the fingerprint was cut to MAX_FINGERPRINT above.
    let len = u16::try_from(fingerprint.len()).unwrap_or(u16::MAX);
    value.extend_from_slice(&len.to_be_bytes());
    value.extend_from_slice(fingerprint);
    value
}

fn decode_file(value: &[u8]) -> Result<Checkpoint, String> {
    let (version, rest) = value.split_first().ok_or("empty entry")?;
    if *version != ENTRY_V1 {
        return Err(format!("unknown entry version {version}"));
    }
    let u64_at = |at: usize| -> Result<u64, String> {
        rest.get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| format!("entry of {} bytes is too short", value.len()))
    };
    let (dev, ino, offset) = (u64_at(0)?, u64_at(8)?, u64_at(16)?);
    let len = rest
        .get(24..26)
        .and_then(|b| <[u8; 2]>::try_from(b).ok())
        .map(u16::from_be_bytes)
        .ok_or("missing fingerprint length")?;
    let fingerprint = rest.get(26..).unwrap_or_default();
    if fingerprint.len() != usize::from(len) || fingerprint.len() > MAX_FINGERPRINT {
        return Err(format!("fingerprint length {len} does not match its {} bytes", fingerprint.len()));
    }
    Ok(Checkpoint { dev, ino, offset, fingerprint: fingerprint.to_vec() })
}

#[cfg(test)]
mod tests;
