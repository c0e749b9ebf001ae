//! Following one log file across rotation, with exactly-once hand-out.
//!
//! A file is identified by (device, inode) and by its first bytes (the
//! fingerprint), so that both rotation styles of logrotate are recognised:
//!
//! - **rename** (`create`): the path now names a new inode. The old file stays
//!   open and is read to its end first; the follower switches to the new file
//!   only once the new file has data, i.e. once the writer has moved on (a
//!   syslog daemon keeps writing to the old file until it is told to reopen).
//!   A file that is rotated again before the follower switched is still read
//!   in order, since the follower holds it open from the moment it saw it.
//! - **copytruncate**: the same inode shrinks below the read position (or, if
//!   it has grown back already, no longer starts with the fingerprint). The
//!   follower reads the rest of what it had not read from the rotated copy
//!   (found by fingerprint), then the truncated file from offset 0. Lines
//!   written between logrotate's copy and its truncate are in neither file:
//!   that loss is inherent to copytruncate and cannot be avoided by a reader.
//!   A second copytruncate before the follower finished the first copy loses
//!   the lines of the file in between the same way.
//!
//! After a restart, the checkpoint (identity, fingerprint, offset) is looked
//! for under the path and then under the rotated names (`NAME.1`, `NAME.0`,
//! `NAME-YYYYMMDD`), so a rotation that happened while the agent was stopped
//! costs nothing: the rotated file's tail is read first, then the new file.
//!
//! Memory is bounded: one 64 KiB read buffer, at most one partial line of up
//! to [`MAX_LINE`] bytes and 256 fingerprint bytes per open file. A longer
//! line is handed out cut at [`MAX_LINE`] (marked [`Line::truncated`]) and
//! the rest of it is skipped up to its newline; a restart in the middle of
//! that rest reads what is left of it as one more line. Without inodes
//! (Windows), rotation by rename is not detected; truncation is.

mod file;
pub mod pattern;
mod read;
pub mod series;

use std::path::{Path, PathBuf};

use file::{OpenFile, find_rotated};
use read::{emit, read_available, read_to_end};
pub use series::Series;

use super::{Line, LogError, PollStats};
use crate::store::checkpoint::{Checkpoint, CheckpointWrite, Checkpoints};

/// Lines longer than this are cut here; the same limit as `scan`'s.
pub use super::guard::MAX_LINE;
const READ_BUF: usize = 64 * 1024;

/// How a follower starts when it has no checkpoint yet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowOptions {
    /// Read the file's existing content (default: start at its end).
    pub read_existing: bool,
}

/// Follows the file at one path; see the module documentation.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    store: Checkpoints,
    /// The file being read; `None` while the path does not exist.
    cur: Option<OpenFile>,
    /// The file that replaced `cur` at the path, read once `cur` is done.
    next: Option<OpenFile>,
    committed: Checkpoint,
    buf: Vec<u8>,
}

impl Follower {
    /// [`Follower::open_with`] with default options.
    pub fn open(path: &Path, store: &Checkpoints) -> Result<Follower, LogError> {
        Follower::open_with(path, store, FollowOptions::default())
    }

    /// Opens `path`, resuming from its checkpoint in `store`. Without a
    /// checkpoint it starts at the end of the file (or at its start with
    /// `read_existing`, or when the file appears later) and records that
    /// starting point at once, so a restart before the first commit does not
    /// skip what was written in between. A missing file is waited for.
    pub fn open_with(path: &Path, store: &Checkpoints, options: FollowOptions) -> Result<Follower, LogError> {
        let saved = store.load_file(path)?;
        let mut follower = Follower {
            path: path.to_path_buf(),
            store: store.clone(),
            cur: None,
            next: None,
            committed: saved.clone().unwrap_or_default(),
            buf: vec![0; READ_BUF],
        };
        match saved {
            Some(cp) => follower.resume(&cp)?,
            None => {
                if let Some(mut file) = OpenFile::open(path)? {
                    if !options.read_existing {
                        file.pos = file.last_line_end()?;
                    }
                    follower.cur = Some(file);
                }
                let start = follower.checkpoint();
                follower.store.save_file(path, &start)?;
                follower.committed = start;
            }
        }
        Ok(follower)
    }

    /// Positions the follower at `cp`, wherever that file is now.
    fn resume(&mut self, cp: &Checkpoint) -> Result<(), LogError> {
        let mut live = OpenFile::open(&self.path)?;
        if let Some(file) = live.as_mut()
            && file.matches(cp)?
        {
            file.pos = cp.offset;
            self.cur = live;
            return Ok(());
        }
        if let Some(mut rotated) = find_rotated(&self.path, cp, live.as_ref().map(|f| f.id))? {
            tracing::info!(
                path = %self.path.display(),
                rotated = %rotated.name.display(),
                offset = cp.offset,
                "the log was rotated while the agent was stopped; reading the rotated file's tail first"
            );
            rotated.pos = cp.offset;
            self.cur = Some(rotated);
            self.next = live;
            return Ok(());
        }
        if cp.offset > 0 {
            tracing::warn!(
                path = %self.path.display(),
                offset = cp.offset,
                "the checkpointed log file is gone (rotated and compressed or deleted); \
                 lines after the checkpoint in it are lost, reading the current file from its start"
            );
        }
        if let Some(file) = live.as_mut() {
            file.rewind();
        }
        self.cur = live;
        Ok(())
    }

    /// The followed path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file being read (a rotated name while its tail is read), if any.
    pub fn reading(&self) -> Option<&Path> {
        self.cur.as_ref().map(|f| f.name.as_path())
    }

    /// Hands complete lines available now to `sink`, at most `max_lines`
    /// (`stats.more` says the budget ran out). A partial last line is held
    /// back until its newline arrives, except a rotated file's unterminated
    /// last line, which is handed out when the follower moves on. Lines are
    /// decoded as UTF-8 with replacement characters; `\n` and `\r\n` are cut.
    pub fn poll(&mut self, max_lines: usize, sink: &mut dyn FnMut(&str)) -> Result<PollStats, LogError> {
        self.poll_lines(max_lines, &mut |line: &Line<'_>| sink(line.text))
    }

    /// [`Follower::poll`], with where each line was read.
    pub fn poll_lines(&mut self, max_lines: usize, sink: &mut dyn FnMut(&Line<'_>)) -> Result<PollStats, LogError> {
        let mut stats = PollStats::default();
        if self.cur.is_none() {
            match OpenFile::open(&self.path)? {
                Some(file) => {
                    tracing::info!(path = %self.path.display(), "the mail log appeared");
                    self.cur = Some(file);
                }
                None => return Ok(stats),
            }
        }
        self.check_truncation(&mut stats, sink)?;
        while let Some(cur) = self.cur.as_mut() {
            if !read_available(&self.path, cur, &mut self.buf, max_lines, &mut stats, sink)? {
                stats.more = true;
                break;
            }
            let cur_id = cur.id;
            let Some(next) = self.next.as_ref() else {
                self.next = self.file_at_path_unless(cur_id)?;
                if self.next.is_none() {
                    break;
                }
                continue;
            };
            // An empty new file: the writer may still be writing to the old
            // one. Once the new one has data, the old one is complete after
            // one more read to its end.
            if next.size()? == 0 {
                // Unless the empty file was itself rotated away meanwhile.
                match self.file_at_path_unless(next.id)? {
                    Some(newer) if newer.id != cur_id => self.next = Some(newer),
                    _ => break,
                }
                continue;
            }
            let Some(cur) = self.cur.as_mut() else { break };
            if !read_to_end(&self.path, cur, &mut self.buf, max_lines, &mut stats, sink)? {
                stats.more = true;
                break;
            }
            tracing::debug!(
                path = %self.path.display(),
                finished = %cur.name.display(),
                "rotated log finished; following the new file"
            );
            self.cur = self.next.take();
            stats.rotations += 1;
        }
        Ok(stats)
    }

    /// The file now at the path, unless it is the file `known`.
    fn file_at_path_unless(&self, known: file::FileId) -> Result<Option<OpenFile>, LogError> {
        match std::fs::metadata(&self.path) {
            Ok(meta) if file::file_id(&meta) == known => Ok(None),
            Ok(_) => Ok(OpenFile::open(&self.path)?.filter(|f| f.id != known)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(super::io_error(&self.path, "inspecting", e)),
        }
    }

    /// Detects copytruncate on the file being read and moves to its copy.
    fn check_truncation(&mut self, stats: &mut PollStats, sink: &mut dyn FnMut(&Line<'_>)) -> Result<(), LogError> {
        // With a file already queued behind `cur`, `cur` is a rotated file:
        // nothing truncates those.
        let (Some(cur), None) = (self.cur.as_mut(), self.next.as_ref()) else {
            return Ok(());
        };
        let known = cur.head.len().min(usize::try_from(cur.read_pos()).unwrap_or(usize::MAX));
        let head = cur.head[..known].to_vec();
        if cur.size()? >= cur.read_pos() && cur.starts_with(&head)? {
            return Ok(());
        }
        stats.truncations += 1;
        let unread_from = Checkpoint { offset: cur.read_pos(), fingerprint: head, ..cur.checkpoint() };
        if let Some(mut copy) = find_rotated(&self.path, &unread_from, Some(cur.id))? {
            tracing::info!(
                path = %self.path.display(),
                copy = %copy.name.display(),
                "the log was truncated (copytruncate); reading the rest of its copy first"
            );
            copy.pos = cur.pos;
            cur.rewind();
            self.next = self.cur.take();
            self.cur = Some(copy);
        } else {
            tracing::warn!(
                path = %self.path.display(),
                offset = cur.read_pos(),
                "the log was truncated and no rotated copy holds its unread end; \
                 reading it again from the start"
            );
            if !cur.pending.is_empty() {
                let tail = std::mem::take(&mut cur.pending);
                emit(&self.path, cur, &tail, tail.len() as u64, false, stats, sink);
            }
            cur.rewind();
        }
        Ok(())
    }

    /// The position after the last line handed out (what [`Follower::commit`]
    /// would persist).
    pub fn checkpoint(&self) -> Checkpoint {
        match &self.cur {
            Some(cur) => cur.checkpoint(),
            None => self.committed.clone(),
        }
    }

    /// The checkpoint write that [`Follower::commit`] would do, for a
    /// transaction that also stores what was derived from the lines; `None`
    /// when nothing was read since the last commit. Follow a successful
    /// write with [`Follower::mark_committed`], with no poll in between.
    pub fn pending_commit(&self) -> Option<CheckpointWrite> {
        let cp = self.checkpoint();
        (cp != self.committed).then(|| CheckpointWrite::file(&self.path, &cp))
    }

    /// Records that the write from [`Follower::pending_commit`] is durable.
    pub fn mark_committed(&mut self) {
        self.committed = self.checkpoint();
    }

    /// Persists [`Follower::checkpoint`]. Call it only once what was derived
    /// from the lines handed out is itself durable: lines after the committed
    /// position are handed out again after a restart.
    pub fn commit(&mut self) -> Result<(), LogError> {
        let cp = self.checkpoint();
        if cp != self.committed {
            self.store.save_file(&self.path, &cp)?;
            self.committed = cp;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
