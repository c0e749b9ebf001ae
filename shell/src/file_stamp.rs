//! What tells a certificate file was replaced: its modification time, size
//! and inode. Both the agent and the controller pick up renewed TLS files by
//! comparing these; the inode catches a rename over the file within one
//! timestamp tick.

use std::path::Path;
use std::time::SystemTime;

/// A file's modification time, size and inode (0 where there are none).
pub type FileStamp = (SystemTime, u64, u64);

/// The stamp of the file at `path`; `None` when it cannot be read (itself a
/// change when the file was there before).
pub fn file_stamp(path: &Path) -> Option<FileStamp> {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = 0;
    Some((meta.modified().ok()?, meta.len(), inode))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_rename_over_the_file_changes_its_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let (path, next) = (dir.path().join("a.crt"), dir.path().join("b.crt"));
        std::fs::write(&path, "one").unwrap();
        let before = file_stamp(&path).unwrap();
        std::fs::write(&next, "two").unwrap();
        std::fs::rename(&next, &path).unwrap();
        assert_ne!(file_stamp(&path), Some(before));
        assert_eq!(file_stamp(&dir.path().join("missing")), None);
    }
}
