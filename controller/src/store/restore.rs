//! `rblfleet restore`: a backup file into a data directory, offline.
//!
//! The order protects what is already there: the target is checked (not in
//! use, empty unless forced), the whole backup is read and its checksum and
//! schema version checked before anything is written, the store is rebuilt
//! in `DIR.restoring` beside the target and checked for consistency, and only
//! then renamed into place. A forced restore moves the old directory aside
//! (`DIR.replaced-<unix seconds>`) rather than deleting it.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::StoreError;
use super::backup::{BackupError, BackupInfo, Item, read_backup};
use super::verify::{VerifyReport, verify_dir};

/// Records written per batch while rebuilding.
const BATCH: usize = 10_000;

/// What a restore did.
#[derive(Debug, Clone)]
pub struct Restored {
    pub info: BackupInfo,
    pub dir: PathBuf,
    /// Where the directory that was there before went (with `force`).
    pub replaced: Option<PathBuf>,
    pub verify: VerifyReport,
}

/// Restores `input` into `dir`. `force` replaces a non-empty `dir` (moved
/// aside, not deleted); a directory a running controller holds is never
/// replaced.
pub fn restore(input: &Path, dir: &Path, force: bool) -> Result<Restored, BackupError> {
    let target = Target::check(dir, force)?;
    let open = || {
        File::open(input)
            .map(BufReader::new)
            .map_err(BackupError::io(format!("cannot read the backup {}", input.display())))
    };
    // First pass: nothing is written until the whole file proves intact.
    let info = read_backup(open()?, |_| Ok(()))?;

    let staging = sibling(dir, "restoring")?;
    if staging.exists() {
        tracing::warn!(path = %staging.display(), "removing the leftovers of an interrupted restore");
        std::fs::remove_dir_all(&staging)
            .map_err(BackupError::io(format!("cannot remove the leftover {}", staging.display())))?;
    }
    let rebuilt = rebuild(&staging, open()?);
    let verify = match rebuilt.and_then(|()| verify_released(&staging).map_err(BackupError::from)) {
        Ok(verify) => verify,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    if !verify.is_clean() {
        let first = verify.problems.first().map(|p| format!("{} {}: {}", p.tree, p.key, p.reason)).unwrap_or_default();
        return Err(BackupError::Target(format!(
            "the restored store fails its consistency check ({} problems, first: {first}); {} was not touched and the restored copy is left in {} for inspection (`rblfleet verify --data-dir {}`)",
            verify.problems_total,
            dir.display(),
            staging.display(),
            staging.display()
        )));
    }
    let replaced = target.clear()?;
    std::fs::rename(&staging, dir).map_err(BackupError::io(format!(
        "cannot rename {} to {}",
        staging.display(),
        dir.display()
    )))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(BackupError::io(format!("cannot sync {}", parent.display())))?;
    }
    Ok(Restored { info, dir: dir.to_path_buf(), replaced, verify })
}

/// `verify_dir` on a store this process has just closed. sled releases its
/// file lock from a background thread after the last handle drops, so the
/// first open can still find it held; wait for it (at most 5 s) instead of
/// reporting our own store as in use.
fn verify_released(staging: &Path) -> Result<VerifyReport, StoreError> {
    let mut tries = 0;
    loop {
        match verify_dir(staging) {
            Err(StoreError::Open { cause, .. })
                if tries < 100 && cause.to_string().contains("could not acquire lock") =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            other => return other,
        }
    }
}

/// Writes every tree and record of a backup into a new store at `staging`;
/// the second read re-checks the checksum, in case the file changed.
fn rebuild(staging: &Path, input: impl std::io::Read) -> Result<(), BackupError> {
    let db =
        sled::Config::new().path(staging).open().map_err(|cause| StoreError::Open { path: staging.into(), cause })?;
    let mut tree: Option<sled::Tree> = None;
    let mut batch = sled::Batch::default();
    let mut pending = 0usize;
    read_backup(input, |item| {
        match item {
            Item::Tree(name) => {
                if let (Some(t), true) = (&tree, pending > 0) {
                    t.apply_batch(std::mem::take(&mut batch)).map_err(StoreError::from)?;
                    pending = 0;
                }
                tree = Some(db.open_tree(name).map_err(StoreError::from)?);
            }
            Item::Record(key, value) => {
                batch.insert(key, value);
                pending += 1;
                if pending >= BATCH
                    && let Some(t) = &tree
                {
                    t.apply_batch(std::mem::take(&mut batch)).map_err(StoreError::from)?;
                    pending = 0;
                }
            }
        }
        Ok(())
    })?;
    if let (Some(t), true) = (&tree, pending > 0) {
        t.apply_batch(batch).map_err(StoreError::from)?;
    }
    db.flush().map_err(StoreError::from)?;
    Ok(())
}

/// The target directory as found.
struct Target {
    dir: PathBuf,
    exists: bool,
    empty: bool,
}

impl Target {
    fn check(dir: &Path, force: bool) -> Result<Target, BackupError> {
        let read = BackupError::io(format!("cannot read {}", dir.display()));
        let (exists, empty) = match std::fs::read_dir(dir) {
            Ok(mut entries) => (true, entries.next().is_none()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (false, true),
            Err(e) => return Err(read(e)),
        };
        if exists && in_use(dir)? {
            return Err(BackupError::Target(format!(
                "{} is in use by a running controller (it holds the store's lock); stop `rblfleet serve` first — a restore never replaces a live store",
                dir.display()
            )));
        }
        if !empty && !force {
            return Err(BackupError::Target(format!(
                "{} is not empty; restore into a new directory, or add --force to move the existing one aside (to {}.replaced-<time>) and restore in its place",
                dir.display(),
                dir.display()
            )));
        }
        Ok(Target { dir: dir.to_path_buf(), exists, empty })
    }

    /// Makes room for the rename; returns where a non-empty directory went.
    fn clear(&self) -> Result<Option<PathBuf>, BackupError> {
        if !self.exists {
            return Ok(None);
        }
        if self.empty {
            std::fs::remove_dir(&self.dir)
                .map_err(BackupError::io(format!("cannot replace {}", self.dir.display())))?;
            return Ok(None);
        }
        let secs = crate::clock::now_ms() / 1000;
        let aside = sibling(&self.dir, &format!("replaced-{secs}"))?;
        std::fs::rename(&self.dir, &aside).map_err(BackupError::io(format!(
            "cannot move {} aside to {}",
            self.dir.display(),
            aside.display()
        )))?;
        Ok(Some(aside))
    }
}

/// Whether a process holds sled's lock on the store in `dir` (sled takes an
/// exclusive `flock` on `DIR/db` while open).
fn in_use(dir: &Path) -> Result<bool, BackupError> {
    use fs2::FileExt;
    let db = dir.join("db");
    let file = match std::fs::OpenOptions::new().read(true).write(true).open(&db) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(BackupError::io(format!("cannot open {}", db.display()))(e)),
    };
    match file.try_lock_exclusive() {
        // Closing the file releases the lock.
        Ok(()) => Ok(false),
        Err(e) if e.kind() == fs2::lock_contended_error().kind() => Ok(true),
        Err(e) => Err(BackupError::io(format!("cannot test the lock on {}", db.display()))(e)),
    }
}

/// `DIR.suffix` beside `DIR`.
fn sibling(dir: &Path, suffix: &str) -> Result<PathBuf, BackupError> {
    let name =
        dir.file_name().ok_or_else(|| BackupError::Target(format!("{} does not name a directory", dir.display())))?;
    let mut name = name.to_os_string();
    name.push(format!(".{suffix}"));
    Ok(dir.with_file_name(name))
}
