//! Following a dated series: a new file per day instead of one rotated file.
//!
//! MailEnable writes `SMTP-Activity-YYMMDD.log` and starts a new file at
//! midnight; rsyslog templates and logrotate's `dateext` produce the same
//! shape on Linux. A `logs.paths` entry with a wildcard in its file name
//! ([`super::pattern`]) is followed as such a series:
//!
//! - the newest file is followed; when a newer one appears *and has data*
//!   (the writer has moved on), the current one is read to its end once
//!   more, its unterminated last line handed out, and the newer one is read
//!   from its start. Several newer files (the agent was stopped for days)
//!   are read one after the other, oldest first;
//! - a file once left is never read again, nor is any file whose name sorts
//!   before it (a restored or copied old log does not count twice).
//!
//! Checkpoints are kept per file, under the file's own path, exactly as for
//! a single followed file: the current file's position, and the end of each
//! file finished since the last commit (so that a file read completely
//! between two commits is still known as done). Where a restart resumes
//! follows from them alone: the newest file of the series with a checkpoint
//! is resumed at it; files before it are done; files after it are new. The
//! pattern's own entry (all zero) records that the series was started once,
//! so that files appearing after a first start with none are read from
//! their start rather than skipped as "history".
//!
//! On a first start the newest file is followed from its end (its start with
//! `read_existing`); older files are history and are not read.
//!
//! Cost: one directory listing per poll once the current file is read to
//! its end (a MailEnable log directory holds a few hundred files).

use std::path::{Path, PathBuf};

use super::file::OpenFile;
use super::pattern::{FilePattern, sort_key};
use super::read::{read_available, read_to_end};
use super::{FollowOptions, READ_BUF};
use crate::logs::{Line, LogError, PollStats, io_error};
use crate::store::checkpoint::{Checkpoint, CheckpointWrite, Checkpoints};

/// Follows the files matching one pattern; see the module documentation.
#[derive(Debug)]
pub struct Series {
    pattern: FilePattern,
    store: Checkpoints,
    /// The file being read (its `name` is its path and checkpoint key).
    cur: Option<OpenFile>,
    /// Sort key of the newest file started: it and every file before it are
    /// never started again.
    last: Option<String>,
    /// Final checkpoints of the files finished since the last commit.
    finished: Vec<(PathBuf, Checkpoint)>,
    /// The current file's checkpoint as last committed.
    committed: Option<(PathBuf, Checkpoint)>,
    buf: Vec<u8>,
}

impl Series {
    /// Opens the series `pattern`, resuming from the checkpoints in `store`
    /// (see the module documentation). A pattern that matches nothing yet is
    /// logged and waited for.
    pub fn open_with(pattern: &Path, store: &Checkpoints, options: FollowOptions) -> Result<Series, LogError> {
        let parsed = FilePattern::parse(pattern)?;
        let files = parsed.list().map_err(|e| io_error(parsed.dir(), "listing", e))?;
        if files.is_empty() {
            tracing::warn!(
                pattern = %pattern.display(),
                "the log pattern matches no file yet; its first file will be read from its start"
            );
        }
        let started = store.load_file(pattern)?.is_some();
        let mut resume = None;
        for file in files.iter().rev() {
            if let Some(cp) = store.load_file(file)? {
                resume = Some((file.clone(), cp));
                break;
            }
        }
        let mut series = Series {
            pattern: parsed,
            store: store.clone(),
            cur: None,
            last: None,
            finished: Vec::new(),
            committed: None,
            buf: vec![0; READ_BUF],
        };
        match resume {
            Some((file, cp)) => {
                series.last = Some(key(&file));
                if let Some(mut open) = OpenFile::open(&file)? {
                    if open.matches(&cp)? {
                        open.pos = cp.offset;
                    } else {
                        tracing::warn!(
                            file = %file.display(),
                            offset = cp.offset,
                            "the checkpointed file of the series was replaced; reading it from its start"
                        );
                        open.rewind();
                    }
                    series.cur = Some(open);
                }
                series.committed = Some((file, cp));
            }
            // Started before with no file yet: every file is new.
            None if started => {}
            None => {
                if let Some(mut open) = files.last().map(|f| OpenFile::open(f)).transpose()?.flatten() {
                    if !options.read_existing {
                        open.pos = open.last_line_end()?;
                    }
                    let cp = open.checkpoint();
                    series.store.save_file(&open.name, &cp)?;
                    series.last = Some(key(&open.name));
                    series.committed = Some((open.name.clone(), cp));
                    series.cur = Some(open);
                }
                series.store.save_file(pattern, &Checkpoint::default())?;
            }
        }
        Ok(series)
    }

    /// The configured pattern.
    pub fn pattern(&self) -> &Path {
        self.pattern.path()
    }

    /// The file being read, if any.
    pub fn reading(&self) -> Option<&Path> {
        self.cur.as_ref().map(|f| f.name.as_path())
    }

    /// Hands complete lines available now to `sink`, at most `max_lines`,
    /// moving on to newer files as described in the module documentation.
    /// `stats.rotations` counts the files finished.
    pub fn poll_lines(&mut self, max_lines: usize, sink: &mut dyn FnMut(&Line<'_>)) -> Result<PollStats, LogError> {
        let mut stats = PollStats::default();
        loop {
            if self.cur.is_none() {
                let Some(path) = self.newer_file()? else { break };
                let Some(open) = OpenFile::open(&path)? else { break };
                tracing::info!(file = %path.display(), "following the next file of the series");
                self.last = Some(key(&path));
                self.cur = Some(open);
            }
            let Some(cur) = self.cur.as_mut() else { break };
            let name = cur.name.clone();
            if cur.size()? < cur.read_pos() {
                tracing::warn!(file = %name.display(), "a file of the series shrank; reading it again from its start");
                stats.truncations += 1;
                cur.rewind();
            }
            if !read_available(&name, cur, &mut self.buf, max_lines, &mut stats, sink)? {
                stats.more = true;
                break;
            }
            let Some(next) = self.newer_file()? else { break };
            // An empty newer file: the writer may still be finishing this one.
            if std::fs::metadata(&next).map(|m| m.len()).unwrap_or(0) == 0 {
                break;
            }
            let Some(cur) = self.cur.as_mut() else { break };
            if !read_to_end(&name, cur, &mut self.buf, max_lines, &mut stats, sink)? {
                stats.more = true;
                break;
            }
            tracing::debug!(finished = %name.display(), next = %next.display(), "file of the series finished");
            self.finished.push((name, cur.checkpoint()));
            self.cur = None;
            stats.rotations += 1;
        }
        Ok(stats)
    }

    /// The oldest file of the series after the newest one started, if any.
    fn newer_file(&self) -> Result<Option<PathBuf>, LogError> {
        let files = self.pattern.list().map_err(|e| io_error(self.pattern.dir(), "listing", e))?;
        Ok(files.into_iter().find(|f| self.last.as_ref().is_none_or(|last| key(f) > *last)))
    }

    /// The checkpoint writes a commit would do: the end of every file
    /// finished since the last commit, and the current file's position when
    /// it moved. Follow a successful write with [`Series::mark_committed`].
    pub fn pending_commit(&self) -> Vec<CheckpointWrite> {
        self.pending().map(|(path, cp)| CheckpointWrite::file(path, &cp)).collect()
    }

    fn pending(&self) -> impl Iterator<Item = (&Path, Checkpoint)> {
        let current = self.cur.as_ref().map(|cur| (cur.name.as_path(), cur.checkpoint())).filter(|(path, cp)| {
            self.committed.as_ref().is_none_or(|(done, done_cp)| done.as_path() != *path || done_cp != cp)
        });
        self.finished.iter().map(|(path, cp)| (path.as_path(), cp.clone())).chain(current)
    }

    /// Records that the writes of [`Series::pending_commit`] are durable.
    pub fn mark_committed(&mut self) {
        self.finished.clear();
        if let Some(cur) = &self.cur {
            self.committed = Some((cur.name.clone(), cur.checkpoint()));
        }
    }

    /// Persists the pending checkpoints (see [`super::Follower::commit`]).
    pub fn commit(&mut self) -> Result<(), LogError> {
        for (path, cp) in self.pending() {
            self.store.save_file(path, &cp)?;
        }
        self.mark_committed();
        Ok(())
    }
}

fn key(path: &Path) -> String {
    sort_key(&path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
}

#[cfg(test)]
mod tests;
