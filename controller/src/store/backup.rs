//! Backups: a point-in-time copy of every tree in one self-checking file.
//!
//! sled allows one process per data directory, so the running controller
//! writes the backup (`Store::export_backup`) and `rblfleet restore` reads it
//! offline (see `restore`). The format is ours, not sled's, so a backup
//! outlives sled's on-disk layout:
//!
//! ```text
//! header   "RBLFBAK\0", format version (u32 BE), schema version (u32 BE), created (i64 BE, Unix ms)
//! tree     b'T', name length (u16 BE), name
//! record   b'R', key length (u32 BE), key, value length (u32 BE), value   (records follow their tree)
//! trailer  b'E', trees (u32 BE), records (u64 BE), SHA-256 of every byte before it
//! ```
//!
//! Values are stored exactly as sled holds them (the `encoding` formats), so a
//! restore reproduces the store byte for byte. The store holds no secrets:
//! zone keys live in the configuration only, and checks store the zone with
//! any key redacted.

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{SCHEMA_VERSION, Sled, StoreError};

const MAGIC: &[u8; 8] = b"RBLFBAK\0";
/// The version of the layout above.
pub const BACKUP_FORMAT: u32 = 1;
/// Bounds that keep a corrupt length from asking for gigabytes before the
/// checksum can tell (keys are short; a report is at most a few MiB).
const MAX_KEY: u32 = 64 * 1024;
const MAX_VALUE: u32 = 64 * 1024 * 1024;

/// Why a backup could not be written, read or restored.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{what}: {cause}")]
    Io { what: String, cause: io::Error },
    #[error("not an rblfleet backup (the file does not start with the rblfleet backup header)")]
    NotABackup,
    #[error("backup format version {found} is not supported; this rblfleet reads version {BACKUP_FORMAT}")]
    Format { found: u32 },
    #[error(
        "the backup holds a store of schema version {found}; this rblfleet uses version {SCHEMA_VERSION} (restore it with the rblfleet version that wrote it)"
    )]
    Schema { found: u32 },
    #[error("the backup is truncated: it ends at byte {offset} inside {inside} (an interrupted copy?)")]
    Truncated { offset: u64, inside: &'static str },
    #[error("the backup is corrupt at byte {offset}: {reason}")]
    Corrupt { offset: u64, reason: String },
    #[error(
        "the backup's checksum does not match its content (stored {stored}, computed {computed}): it was altered or damaged"
    )]
    Checksum { stored: String, computed: String },
    #[error("{0}")]
    Target(String),
}

impl BackupError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> BackupError {
        let what = what.into();
        move |cause| BackupError::Io { what, cause }
    }
}

/// What a backup holds, from its header and trailer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct BackupInfo {
    pub format: u32,
    pub schema_version: u32,
    pub created_ms: i64,
    pub trees: Vec<TreeCount>,
    pub records: u64,
    pub bytes: u64,
    /// Hex SHA-256 of everything before the checksum.
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TreeCount {
    pub name: String,
    pub records: u64,
}

/// One item of a backup, in file order.
#[derive(Debug)]
pub(crate) enum Item<'a> {
    Tree(&'a [u8]),
    Record(&'a [u8], &'a [u8]),
}

/// Counts and hashes what passes through.
struct Hashing<T> {
    inner: T,
    hasher: Sha256,
    bytes: u64,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Self {
        Hashing { inner, hasher: Sha256::new(), bytes: 0 }
    }
}

impl<W: Write> Hashing<W> {
    fn put(&mut self, data: &[u8]) -> io::Result<()> {
        self.inner.write_all(data)?;
        self.hasher.update(data);
        self.bytes += data.len() as u64;
        Ok(())
    }
}

impl<R: Read> Hashing<R> {
    fn take(&mut self, buf: &mut [u8], inside: &'static str) -> Result<(), BackupError> {
        match self.inner.read_exact(buf) {
            Ok(()) => {
                self.hasher.update(&*buf);
                self.bytes += buf.len() as u64;
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                Err(BackupError::Truncated { offset: self.bytes, inside })
            }
            Err(e) => Err(BackupError::io("cannot read the backup")(e)),
        }
    }

    fn array<const N: usize>(&mut self, inside: &'static str) -> Result<[u8; N], BackupError> {
        let mut buf = [0u8; N];
        self.take(&mut buf, inside)?;
        Ok(buf)
    }

    fn bytes_of(&mut self, len: usize, inside: &'static str) -> Result<Vec<u8>, BackupError> {
        let mut buf = vec![0u8; len];
        self.take(&mut buf, inside)?;
        Ok(buf)
    }
}

impl Sled {
    /// Writes every tree to `out` as one point-in-time snapshot and returns
    /// what it wrote and how long writers waited. Writers are held off for
    /// the whole export, so write to a fast local file and copy it elsewhere
    /// afterwards (as the admin API does).
    pub fn export_backup(&self, out: &mut dyn Write) -> Result<(BackupInfo, Duration), BackupError> {
        let created_ms = crate::clock::now_ms();
        let mut w = Hashing::new(out);
        let wrote = BackupError::io("cannot write the backup");
        let mut header = MAGIC.to_vec();
        header.extend_from_slice(&BACKUP_FORMAT.to_be_bytes());
        header.extend_from_slice(&SCHEMA_VERSION.to_be_bytes());
        header.extend_from_slice(&created_ms.to_be_bytes());
        w.put(&header).map_err(wrote)?;

        let mut trees = Vec::new();
        let mut records = 0u64;
        let started = Instant::now();
        let turn = self.snapshot_turn();
        for name in self.db.tree_names() {
            let tree = self.db.open_tree(&name).map_err(StoreError::from)?;
            let name_len = u16::try_from(name.len()).map_err(|_| StoreError::Corrupt {
                key: "tree name".into(),
                reason: "longer than 65535 bytes".into(),
            })?;
            let mut head = vec![b'T'];
            head.extend_from_slice(&name_len.to_be_bytes());
            head.extend_from_slice(&name);
            w.put(&head).map_err(BackupError::io("cannot write the backup"))?;
            let mut count = 0u64;
            for entry in tree.iter() {
                let (key, value) = entry.map_err(StoreError::from)?;
                let mut rec = Vec::with_capacity(9 + key.len() + value.len());
                rec.push(b'R');
                rec.extend_from_slice(&len32(key.len())?.to_be_bytes());
                rec.extend_from_slice(&key);
                rec.extend_from_slice(&len32(value.len())?.to_be_bytes());
                rec.extend_from_slice(&value);
                w.put(&rec).map_err(BackupError::io("cannot write the backup"))?;
                count += 1;
            }
            records += count;
            trees.push(TreeCount { name: String::from_utf8_lossy(&name).into_owned(), records: count });
        }
        drop(turn);
        let locked = started.elapsed();

        let mut trailer = vec![b'E'];
        trailer.extend_from_slice(&len32(trees.len())?.to_be_bytes());
        trailer.extend_from_slice(&records.to_be_bytes());
        w.put(&trailer).map_err(BackupError::io("cannot write the backup"))?;
        let digest = w.hasher.clone().finalize();
        w.inner.write_all(&digest).map_err(BackupError::io("cannot write the backup"))?;
        w.inner.flush().map_err(BackupError::io("cannot write the backup"))?;
        let info = BackupInfo {
            format: BACKUP_FORMAT,
            schema_version: SCHEMA_VERSION,
            created_ms,
            trees,
            records,
            bytes: w.bytes + digest.len() as u64,
            sha256: hex(&digest),
        };
        Ok((info, locked))
    }

    /// What the store takes on disk (an upper bound for a backup's size).
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Holds every writer off, so that what is read meanwhile is one point
    /// in time across trees. The one place backups and `verify` take the
    /// writers' turn.
    pub(super) fn snapshot_turn(&self) -> impl Drop + '_ {
        self.write_turn()
    }
}

fn len32(len: usize) -> Result<u32, BackupError> {
    u32::try_from(len).map_err(|_| BackupError::Corrupt { offset: 0, reason: format!("a record of {len} bytes") })
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks the backup file at `path` (structure, versions, checksum) and
/// says what it holds; `rblfleet backup` runs it on what it received.
pub fn inspect_backup(path: &std::path::Path) -> Result<BackupInfo, BackupError> {
    let file = std::fs::File::open(path).map_err(BackupError::io(format!("cannot read {}", path.display())))?;
    read_backup(io::BufReader::new(file), |_| Ok(()))
}

/// Reads a whole backup, handing each tree and record to `visit` in order,
/// and checks its header, structure, counts and checksum. Nothing `visit`
/// did may be trusted unless this returns `Ok`: the checksum is known last.
pub(crate) fn read_backup(
    input: impl Read,
    mut visit: impl FnMut(Item<'_>) -> Result<(), BackupError>,
) -> Result<BackupInfo, BackupError> {
    let mut r = Hashing::new(input);
    if &r.array::<8>("the header")? != MAGIC {
        return Err(BackupError::NotABackup);
    }
    let format = u32::from_be_bytes(r.array("the header")?);
    if format != BACKUP_FORMAT {
        return Err(BackupError::Format { found: format });
    }
    let schema_version = u32::from_be_bytes(r.array("the header")?);
    if schema_version != SCHEMA_VERSION {
        return Err(BackupError::Schema { found: schema_version });
    }
    let created_ms = i64::from_be_bytes(r.array("the header")?);
    let mut trees: Vec<TreeCount> = Vec::new();
    let mut records = 0u64;
    loop {
        let at = r.bytes;
        let corrupt = |reason: String| BackupError::Corrupt { offset: at, reason };
        match r.array::<1>("a record")?[0] {
            b'T' => {
                let len = u16::from_be_bytes(r.array("a tree name")?);
                let name = r.bytes_of(usize::from(len), "a tree name")?;
                visit(Item::Tree(&name))?;
                trees.push(TreeCount { name: String::from_utf8_lossy(&name).into_owned(), records: 0 });
            }
            b'R' => {
                let Some(tree) = trees.last_mut() else {
                    return Err(corrupt("a record before any tree".into()));
                };
                let key_len = u32::from_be_bytes(r.array("a key")?);
                if key_len > MAX_KEY {
                    return Err(corrupt(format!("a key of {key_len} bytes (at most {MAX_KEY})")));
                }
                let key = r.bytes_of(key_len as usize, "a key")?;
                let value_len = u32::from_be_bytes(r.array("a value")?);
                if value_len > MAX_VALUE {
                    return Err(corrupt(format!("a value of {value_len} bytes (at most {MAX_VALUE})")));
                }
                let value = r.bytes_of(value_len as usize, "a value")?;
                visit(Item::Record(&key, &value))?;
                tree.records += 1;
                records += 1;
            }
            b'E' => {
                let tree_count = u32::from_be_bytes(r.array("the trailer")?);
                let record_count = u64::from_be_bytes(r.array("the trailer")?);
                let computed = r.hasher.clone().finalize();
                let stored: [u8; 32] = r.array("the trailer's checksum")?;
                if stored[..] != computed[..] {
                    return Err(BackupError::Checksum { stored: hex(&stored), computed: hex(&computed) });
                }
                if tree_count as usize != trees.len() || record_count != records {
                    return Err(corrupt(format!(
                        "the trailer counts {tree_count} trees and {record_count} records, the file holds {} and {records}",
                        trees.len()
                    )));
                }
                let mut extra = [0u8; 1];
                match r.inner.read(&mut extra) {
                    Ok(0) => {}
                    Ok(_) => return Err(corrupt("data after the trailer".into())),
                    Err(e) => return Err(BackupError::io("cannot read the backup")(e)),
                }
                return Ok(BackupInfo {
                    format,
                    schema_version,
                    created_ms,
                    trees,
                    records,
                    bytes: r.bytes,
                    sha256: hex(&computed),
                });
            }
            other => return Err(corrupt(format!("unknown record tag 0x{other:02x}"))),
        }
    }
}

#[cfg(test)]
mod tests;
