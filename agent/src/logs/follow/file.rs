//! One open log file: its identity, its fingerprint and how far it was read,
//! plus the search for a file that was rotated away.

use std::fs::{File, Metadata};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::super::{LogError, io_error};
use crate::store::checkpoint::{Checkpoint, MAX_FINGERPRINT};

/// (device, inode); both zero where the platform has no inodes, so that
/// identity then rests on the fingerprint alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileId {
    pub(super) dev: u64,
    pub(super) ino: u64,
}

#[cfg(unix)]
pub(super) fn file_id(meta: &Metadata) -> FileId {
    use std::os::unix::fs::MetadataExt;
    FileId { dev: meta.dev(), ino: meta.ino() }
}

#[cfg(not(unix))]
pub(super) fn file_id(_meta: &Metadata) -> FileId {
    FileId { dev: 0, ino: 0 }
}

/// An open file and the reader's position in it.
#[derive(Debug)]
pub(super) struct OpenFile {
    file: File,
    /// The name it was opened under (for messages; it may have moved since).
    pub(super) name: PathBuf,
    pub(super) id: FileId,
    /// The file's first bytes, up to [`MAX_FINGERPRINT`], as far as known:
    /// always at least `min(MAX_FINGERPRINT, read_pos())` of them.
    pub(super) head: Vec<u8>,
    /// End of the last line handed out.
    pub(super) pos: u64,
    /// Bytes read after `pos` that do not yet end in a newline.
    pub(super) pending: Vec<u8>,
    /// Reading the rest of an overlong line, which is skipped.
    pub(super) skipping: bool,
}

impl OpenFile {
    /// Opens `name` at position 0; `Ok(None)` when it does not exist.
    pub(super) fn open(name: &Path) -> Result<Option<OpenFile>, LogError> {
        let file = match File::open(name) {
            Ok(file) => file,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(name, "opening", e)),
        };
        let meta = file.metadata().map_err(|e| io_error(name, "inspecting", e))?;
        let mut open = OpenFile {
            file,
            name: name.to_path_buf(),
            id: file_id(&meta),
            head: Vec::new(),
            pos: 0,
            pending: Vec::new(),
            skipping: false,
        };
        open.head = open.read_head(MAX_FINGERPRINT)?;
        Ok(Some(open))
    }

    /// Where the next read starts.
    pub(super) fn read_pos(&self) -> u64 {
        self.pos + self.pending.len() as u64
    }

    /// The file's current size.
    pub(super) fn size(&self) -> Result<u64, LogError> {
        self.file.metadata().map(|m| m.len()).map_err(|e| io_error(&self.name, "inspecting", e))
    }

    /// Reads up to `buf.len()` bytes at `offset`; 0 at end of file.
    pub(super) fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<usize, LogError> {
        let name = &self.name;
        self.file.seek(SeekFrom::Start(offset)).map_err(|e| io_error(name, "seeking", e))?;
        loop {
            match self.file.read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(io_error(name, "reading", e)),
            }
        }
    }

    /// The file's first `max` bytes (fewer if it is shorter).
    fn read_head(&mut self, max: usize) -> Result<Vec<u8>, LogError> {
        let mut head = vec![0; max];
        let mut filled = 0;
        while filled < max {
            let n = self.read_at(filled as u64, &mut head[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        head.truncate(filled);
        Ok(head)
    }

    /// Extends `head` with bytes just read at `offset`.
    pub(super) fn note_read(&mut self, offset: u64, bytes: &[u8]) {
        let have = self.head.len();
        let (Ok(offset), true) = (usize::try_from(offset), have < MAX_FINGERPRINT) else {
            return;
        };
        if offset <= have && offset + bytes.len() > have {
            let end = (offset + bytes.len()).min(MAX_FINGERPRINT);
            self.head.extend_from_slice(&bytes[have - offset..end - offset]);
        }
    }

    /// True when the file still starts with the bytes we saw there: false
    /// means it was truncated and written again since.
    pub(super) fn starts_with(&mut self, prefix: &[u8]) -> Result<bool, LogError> {
        if prefix.is_empty() {
            return Ok(true);
        }
        Ok(self.read_head(prefix.len())? == prefix)
    }

    /// True when this is the checkpointed file and holds at least its offset.
    pub(super) fn matches(&mut self, cp: &Checkpoint) -> Result<bool, LogError> {
        Ok(self.id == (FileId { dev: cp.dev, ino: cp.ino })
            && self.size()? >= cp.offset
            && self.starts_with(&cp.fingerprint)?)
    }

    /// The checkpoint of the current position.
    pub(super) fn checkpoint(&self) -> Checkpoint {
        let known = usize::try_from(self.pos).unwrap_or(usize::MAX);
        Checkpoint {
            dev: self.id.dev,
            ino: self.id.ino,
            offset: self.pos,
            fingerprint: self.head[..self.head.len().min(known)].to_vec(),
        }
    }

    /// The end of the last complete line: where a first start begins so that
    /// it does not hand out the tail of a line as a line.
    pub(super) fn last_line_end(&mut self) -> Result<u64, LogError> {
        const SCAN: u64 = 64 * 1024;
        let size = self.size()?;
        let start = size.saturating_sub(SCAN);
        let mut buf = vec![0; usize::try_from(size - start).unwrap_or(0)];
        let mut filled = 0;
        while filled < buf.len() {
            let n = self.read_at(start + filled as u64, &mut buf[filled..])?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        Ok(match buf[..filled].iter().rposition(|&b| b == b'\n') {
            Some(i) => start + i as u64 + 1,
            None if start == 0 => 0,
            None => size,
        })
    }

    /// Starts over at 0, as for a new file.
    pub(super) fn rewind(&mut self) {
        self.pos = 0;
        self.pending.clear();
        self.skipping = false;
        self.head.clear();
    }
}

/// Names logrotate gives the rotated file, in the same directory:
/// `NAME.1`, `NAME.0` and `NAME-YYYYMMDD…` (dateext), newest first.
/// Compressed files are not candidates: the checkpoint cannot point into them.
pub(super) fn rotated_candidates(path: &Path) -> Vec<PathBuf> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy();
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let mut found = Vec::new();
    for suffix in [".1", ".0"] {
        let candidate = dir.join(format!("{name}{suffix}"));
        if candidate.is_file() {
            found.push(candidate);
        }
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    let mut dated: Vec<(std::time::SystemTime, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|entry| {
            let file_name = entry.file_name();
            let file_name = file_name.to_string_lossy();
            file_name.strip_prefix(&*name).is_some_and(|rest| {
                rest.strip_prefix('-').is_some_and(|date| date.len() >= 8 && date.bytes().all(|b| b.is_ascii_digit()))
            })
        })
        .filter_map(|entry| {
            let meta = entry.metadata().ok()?;
            let modified = meta.modified().ok()?;
            meta.is_file().then(|| (modified, entry.path()))
        })
        .collect();
    dated.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    found.extend(dated.into_iter().map(|(_, p)| p));
    found
}

/// Finds the checkpointed file under a rotated name: first by identity
/// (rotation by rename keeps the inode), then, for a copy made by
/// copytruncate, by fingerprint alone. `exclude` is the live file, which is
/// never its own rotated copy.
pub(super) fn find_rotated(
    path: &Path,
    cp: &Checkpoint,
    exclude: Option<FileId>,
) -> Result<Option<OpenFile>, LogError> {
    let mut opened = Vec::new();
    for candidate in rotated_candidates(path) {
        match OpenFile::open(&candidate) {
            // Without inodes every id is zero: nothing can be excluded by id.
            Ok(Some(file)) if exclude.is_some_and(|x| x == file.id && x.ino != 0) => {}
            Ok(Some(file)) => opened.push(file),
            Ok(None) => {}
            Err(e) => tracing::debug!(error = %e, "skipping a rotated-log candidate"),
        }
    }
    for by_identity in [true, false] {
        if !by_identity && cp.fingerprint.is_empty() {
            break;
        }
        for i in 0..opened.len() {
            let file = &mut opened[i];
            let fits = if by_identity {
                file.matches(cp)?
            } else {
                file.size()? >= cp.offset && file.starts_with(&cp.fingerprint)?
            };
            if fits {
                return Ok(Some(opened.swap_remove(i)));
            }
        }
    }
    Ok(None)
}
