//! The outbox: a durable FIFO of reports waiting for the controller's ack.
//!
//! Layout (format version 1):
//!
//! - tree `meta`: `format` = [1]; `epoch`, `next_seq`, `dropped`, `rejected`
//!   = u64 big-endian. The epoch (Unix ms at creation) names this spool to
//!   the controller, which deduplicates on (host, epoch, seq); a wiped spool
//!   gets a new epoch, so its restarted sequence is not taken for a replay.
//! - tree `reports`: key = seq as u64 big-endian (so sled's key order is send
//!   order), value = [1-byte entry version] ++ prost-encoded `HostReport`.
//!
//! Every mutation is flushed before it returns: a pushed report survives
//! `kill -9`, and an acked one is not resent after a restart (if it were, the
//! controller would answer `duplicate`, which is harmless).

use std::path::{Path, PathBuf};

use prost::Message;
use rblfleet_proto::v1::HostReport;
use sled::Transactional;

use super::checkpoint::{CheckpointWrite, Checkpoints};
use sled::transaction::{ConflictableTransactionError, TransactionError};

const STORE_FORMAT: u8 = 1;
const ENTRY_V1: u8 = 1;

const K_FORMAT: &[u8] = b"format";
const K_EPOCH: &[u8] = b"epoch";
const K_NEXT_SEQ: &[u8] = b"next_seq";
const K_DROPPED: &[u8] = b"dropped";
const K_REJECTED: &[u8] = b"rejected";

/// An outbox operation failed. Every variant names the outbox directory.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    /// Another process (or another `Outbox` in this process) holds the lock.
    #[error("outbox {path} is in use by another rblfleet-agent? (its lock file {path}/db is held)")]
    Locked {
        /// The outbox directory.
        path: PathBuf,
        /// sled's error.
        cause: sled::Error,
    },
    /// sled could not open or write the store.
    #[error("outbox {path}: {cause}")]
    Store {
        /// The outbox directory.
        path: PathBuf,
        /// sled's error.
        cause: sled::Error,
    },
    /// Stored data cannot be read back. Moving the directory aside (and
    /// starting a new epoch) is the recovery path.
    #[error("outbox {path}: corrupt {what}: {reason}")]
    Corrupt {
        /// The outbox directory.
        path: PathBuf,
        /// Which record, e.g. "report seq 12" or "meta key epoch".
        what: String,
        /// What is wrong with it.
        reason: String,
        /// The seq of a corrupt report entry (None for metadata).
        seq: Option<u64>,
    },
}

/// A durable FIFO spool of encoded reports.
#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    reports: sled::Tree,
    epoch: u64,
    max_reports: u64,
    /// Cached `reports.len()`: sled's len() walks the whole tree.
    len: u64,
}

impl Outbox {
    /// Opens (or creates) the spool in `dir`, keeping at most `max_reports`.
    pub fn open(dir: &Path, max_reports: u64) -> Result<Outbox, OutboxError> {
        let path = dir.to_path_buf();
        let db = open_db(dir)?;
        let store_err = |source| OutboxError::Store { path: path.clone(), cause: source };
        let meta = db.open_tree("meta").map_err(store_err)?;
        let reports = db.open_tree("reports").map_err(store_err)?;
        let mut outbox = Outbox { path, db, meta, reports, epoch: 0, max_reports: max_reports.max(1), len: 0 };
        outbox.init_meta()?;
        outbox.len = outbox.reports.len() as u64;
        Ok(outbox)
    }

    /// Reads the metadata, writing it on first open.
    fn init_meta(&mut self) -> Result<(), OutboxError> {
        match self.meta.get(K_FORMAT).map_err(|e| self.store(e))? {
            Some(v) if v.as_ref() == [STORE_FORMAT] => {}
            Some(v) => {
                return Err(
                    self.corrupt_meta("format", format!("unknown store format {v:?}; written by a newer agent?"))
                );
            }
            None => {
                let epoch = unix_ms().max(1);
                self.meta
                    .transaction(|m| {
                        m.insert(K_EPOCH, &epoch.to_be_bytes())?;
                        m.insert(K_NEXT_SEQ, &1u64.to_be_bytes())?;
                        m.insert(K_DROPPED, &0u64.to_be_bytes())?;
                        m.insert(K_REJECTED, &0u64.to_be_bytes())?;
                        m.insert(K_FORMAT, &[STORE_FORMAT])?;
                        Ok::<_, ConflictableTransactionError<()>>(())
                    })
                    .map_err(|e| self.tx(e))?;
                self.flush()?;
                tracing::info!(path = %self.path.display(), epoch, "created a new outbox");
            }
        }
        self.epoch = self.meta_u64(K_EPOCH, "epoch")?;
        if self.epoch == 0 {
            return Err(self.corrupt_meta("epoch", "is zero".into()));
        }
        Ok(())
    }

    /// The spool's epoch (constant for the life of the directory).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Reports waiting for an ack.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True when nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Reports dropped because the outbox was full, since the epoch began.
    pub fn dropped(&self) -> Result<u64, OutboxError> {
        self.meta_u64(K_DROPPED, "dropped")
    }

    /// Reports the controller refused for good, since the epoch began.
    pub fn rejected(&self) -> Result<u64, OutboxError> {
        self.meta_u64(K_REJECTED, "rejected")
    }

    /// Numbers `report` (sets `epoch` and `seq`), stores it, drops the oldest
    /// reports beyond `max_reports`, flushes, and returns the seq.
    pub fn push(&mut self, report: &mut HostReport) -> Result<u64, OutboxError> {
        self.push_with_checkpoints(report, None)
    }

    /// [`Self::push`], writing the log checkpoints of the lines the report
    /// was built from in the same transaction: after a crash, either both
    /// the report and the positions are stored, or neither (and the lines
    /// are read again). `checkpoints` must be the tree in this outbox's
    /// database ([`super::checkpoint::Checkpoints::in_outbox`]).
    pub fn push_with_checkpoints(
        &mut self,
        report: &mut HostReport,
        checkpoints: Option<(&Checkpoints, &[CheckpointWrite])>,
    ) -> Result<u64, OutboxError> {
        let seq = self.meta_u64(K_NEXT_SEQ, "next_seq")?;
        report.epoch = self.epoch;
        report.seq = seq;
        let body = report.encode_to_vec();
        let mut value = Vec::with_capacity(1 + body.len());
        value.push(ENTRY_V1);
        value.extend_from_slice(&body);
        match checkpoints {
            Some((tree, writes)) if !writes.is_empty() => (&self.meta, &self.reports, tree.tree())
                .transaction(|(m, r, c)| {
                    r.insert(&seq.to_be_bytes(), value.as_slice())?;
                    m.insert(K_NEXT_SEQ, &(seq + 1).to_be_bytes())?;
                    for write in writes {
                        c.insert(write.key.as_bytes(), write.value.as_slice())?;
                    }
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(|e| self.tx(e))?,
            _ => (&self.meta, &self.reports)
                .transaction(|(m, r)| {
                    r.insert(&seq.to_be_bytes(), value.as_slice())?;
                    m.insert(K_NEXT_SEQ, &(seq + 1).to_be_bytes())?;
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(|e| self.tx(e))?,
        }
        self.len += 1;
        self.enforce_cap()?;
        self.flush()?;
        Ok(seq)
    }

    /// Drops the oldest reports while more than `max_reports` are stored.
    fn enforce_cap(&mut self) -> Result<(), OutboxError> {
        let mut dropped_now = 0u64;
        while self.len > self.max_reports {
            let Some((key, _)) = self.reports.first().map_err(|e| self.store(e))? else {
                break;
            };
            let dropped = self.meta_u64(K_DROPPED, "dropped")?;
            (&self.meta, &self.reports)
                .transaction(|(m, r)| {
                    r.remove(&key)?;
                    m.insert(K_DROPPED, &(dropped + 1).to_be_bytes())?;
                    Ok::<_, ConflictableTransactionError<()>>(())
                })
                .map_err(|e| self.tx(e))?;
            self.len -= 1;
            dropped_now += 1;
        }
        if dropped_now > 0 {
            tracing::warn!(
                path = %self.path.display(),
                dropped = dropped_now,
                max_reports = self.max_reports,
                "outbox full: dropped the oldest unsent reports (outbox.max_reports)"
            );
        }
        Ok(())
    }

    /// The oldest waiting report, decoded. A corrupt entry is an error with
    /// its seq, so the caller can discard it and move on.
    pub fn peek_oldest(&self) -> Result<Option<HostReport>, OutboxError> {
        let Some((key, value)) = self.reports.first().map_err(|e| self.store(e))? else {
            return Ok(None);
        };
        let seq = decode_key(&key).ok_or_else(|| OutboxError::Corrupt {
            path: self.path.clone(),
            what: format!("report key {key:?}"),
            reason: "not an 8-byte sequence number".into(),
            seq: None,
        })?;
        let corrupt = |reason: String| OutboxError::Corrupt {
            path: self.path.clone(),
            what: format!("report seq {seq}"),
            reason,
            seq: Some(seq),
        };
        match value.split_first() {
            Some((&ENTRY_V1, body)) => {
                let report = HostReport::decode(body).map_err(|e| corrupt(e.to_string()))?;
                if report.seq != seq || report.epoch != self.epoch {
                    return Err(corrupt(format!("entry says epoch {} seq {}", report.epoch, report.seq)));
                }
                Ok(Some(report))
            }
            Some((version, _)) => Err(corrupt(format!("unknown entry version {version}"))),
            None => Err(corrupt("empty entry".into())),
        }
    }

    /// Removes an acknowledged report and flushes. Acking an absent seq is a
    /// no-op (it was already acked, or dropped by the cap).
    pub fn ack(&mut self, seq: u64) -> Result<(), OutboxError> {
        if self.reports.remove(seq.to_be_bytes()).map_err(|e| self.store(e))?.is_some() {
            self.len = self.len.saturating_sub(1);
        }
        self.flush()
    }

    /// Removes a report the controller will never accept (or that cannot be
    /// decoded), counts it, and flushes.
    pub fn reject(&mut self, seq: u64) -> Result<(), OutboxError> {
        let rejected = self.meta_u64(K_REJECTED, "rejected")?;
        let removed = (&self.meta, &self.reports)
            .transaction(|(m, r)| {
                let removed = r.remove(&seq.to_be_bytes())?.is_some();
                if removed {
                    m.insert(K_REJECTED, &(rejected + 1).to_be_bytes())?;
                }
                Ok::<_, ConflictableTransactionError<()>>(removed)
            })
            .map_err(|e| self.tx(e))?;
        if removed {
            self.len = self.len.saturating_sub(1);
        }
        self.flush()
    }

    /// The database, shared with the log checkpoints
    /// ([`super::checkpoint::Checkpoints::open`]): one directory, one lock.
    pub(crate) fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Writes everything to disk.
    pub fn flush(&self) -> Result<(), OutboxError> {
        self.db.flush().map(|_| ()).map_err(|e| self.store(e))
    }

    fn meta_u64(&self, key: &[u8], name: &str) -> Result<u64, OutboxError> {
        let value = self.meta.get(key).map_err(|e| self.store(e))?;
        let value = value.ok_or_else(|| self.corrupt_meta(name, "missing".into()))?;
        decode_key(&value).ok_or_else(|| self.corrupt_meta(name, format!("{value:?} is not a u64")))
    }

    fn store(&self, source: sled::Error) -> OutboxError {
        OutboxError::Store { path: self.path.clone(), cause: source }
    }

    fn tx(&self, e: TransactionError<()>) -> OutboxError {
        match e {
            TransactionError::Storage(source) => self.store(source),
            TransactionError::Abort(()) => self.store(sled::Error::Unsupported("transaction aborted".into())),
        }
    }

    fn corrupt_meta(&self, name: &str, reason: String) -> OutboxError {
        OutboxError::Corrupt { path: self.path.clone(), what: format!("meta key {name}"), reason, seq: None }
    }
}

fn decode_key(bytes: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(bytes).ok().map(u64::from_be_bytes)
}

/// How long [`open_db`] waits for a lock held by a just-dropped handle.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Opens the sled database, waiting briefly for a lock that is being released.
///
/// sled's own threads (flusher, I/O pool, deferred reclamation) keep the
/// directory's lock file open for a moment after the last handle is dropped,
/// so a reopen in the same process (a restart in tests, or `Agent::open`
/// right after the previous agent stopped) can find it locked. A lock still
/// held after [`LOCK_WAIT`] belongs to a live agent.
fn open_db(dir: &Path) -> Result<sled::Db, OutboxError> {
    let config = sled::Config::new()
        .path(dir)
        .cache_capacity(16 * 1024 * 1024)
        // Every mutation flushes itself; no periodic flusher thread.
        .flush_every_ms(None);
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    let mut pause = std::time::Duration::from_millis(5);
    loop {
        match config.open() {
            Ok(db) => return Ok(db),
            Err(e) => match open_error(dir, e) {
                OutboxError::Locked { .. } if std::time::Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(std::time::Duration::from_millis(100));
                }
                other => return Err(other),
            },
        }
    }
}

/// sled reports a held lock as an I/O error with this text.
fn open_error(path: &Path, source: sled::Error) -> OutboxError {
    let locked = matches!(&source, sled::Error::Io(e) if e.to_string().contains("could not acquire lock"));
    if locked {
        OutboxError::Locked { path: path.to_path_buf(), cause: source }
    } else {
        OutboxError::Store { path: path.to_path_buf(), cause: source }
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
