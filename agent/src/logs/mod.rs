//! Log sources: the mail log followed across rotation, or the journal.
//!
//! A source hands out complete lines to a sink, synchronously and with a
//! budget per call ([`LogSource::poll`]); the caller decides the cadence
//! (`logs.poll_interval`) and where the lines go (the parsers). Reading is
//! separated from accounting on purpose: a source remembers how far it has
//! handed out lines, but persists that position only when the caller says
//! the lines' effects are durable ([`LogSource::commit`]). A crash between
//! the two re-reads those lines instead of losing them; since the caller's
//! aggregation is persisted in the same step as the commit, nothing is
//! counted twice. The agent goes one step further: it takes the sources'
//! pending checkpoint writes ([`LogSources::pending_commit`]) and stores them
//! in the same sled transaction as the report.
//!
//! Lines are handed out with where they were read ([`Line`]) and cut at
//! [`guard::MAX_LINE`]; [`guard`] also holds the per-line panic guard that
//! the agent and `scan` put around parsing.
//!
//! Source selection ([`plan`]): `logs.paths` when set (an entry with a
//! wildcard in its file name is a dated series, [`Series`]); else the first of
//! [`DEFAULT_PATHS`] that exists; else, unless `journald = "never"`, the
//! journal via `journalctl -o json`. `journald = "always"` uses the journal
//! only (rsyslog usually writes the same lines to a file, so reading both
//! would count every line twice).

pub mod follow;
pub mod guard;
pub mod journald;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use crate::store::checkpoint::{Checkpoint, CheckpointError, CheckpointWrite, Checkpoints};
pub use follow::pattern::{FilePattern, PatternError, is_pattern};
pub use follow::{FollowOptions, Follower, Series};
pub use journald::Journal;

/// The mail logs looked for when `logs.paths` is empty: RHEL/CentOS/Plesk
/// on RHEL, then Debian/Ubuntu.
pub const DEFAULT_PATHS: [&str; 2] = ["/var/log/maillog", "/var/log/mail.log"];

/// Why a log source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A file could not be opened, inspected or read.
    #[error("{path}: {op}: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done, e.g. "reading".
        op: &'static str,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The checkpoint store failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A `logs.paths` pattern is not usable.
    #[error(transparent)]
    Pattern(#[from] PatternError),
    /// `journalctl` could not be started (missing, not executable).
    #[error("cannot run {command}: {cause}")]
    Spawn {
        /// The program.
        command: String,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// `journalctl` stopped; it is restarted from the last cursor later.
    #[error("{command} exited ({status}){}", crate::command::colon_prefixed(.stderr))]
    Exited {
        /// The program.
        command: String,
        /// Its exit status.
        status: String,
        /// The first line of its stderr (may be empty).
        stderr: String,
    },
    /// No log file exists and the journal is not allowed.
    #[error("no mail log found (looked for {looked}) and logs.journald = \"never\"")]
    NoSource {
        /// The paths looked for, comma-separated.
        looked: String,
    },
}

/// `logs.journald`: when the journal is a source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JournaldMode {
    /// Only when no log file is configured or found.
    #[default]
    Auto,
    /// Always, and then the journal only.
    Always,
    /// Never.
    Never,
}

/// `[logs]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// Mail log files to follow; empty = the first of [`DEFAULT_PATHS`] that
    /// exists. An entry with `*` or `?` in its file name is a dated series
    /// ([`Series`]), e.g. `C:\…\SMTP\SMTP-Activity-*.log`.
    #[serde(default)]
    pub paths: Vec<PathBuf>,
    /// When to read the journal instead of a file.
    #[serde(default)]
    pub journald: JournaldMode,
    /// Time between two polls of the sources.
    #[serde(default = "default_poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Lines handed out per source and poll at most (bounds the work per poll).
    #[serde(default = "default_max_lines")]
    pub max_lines_per_poll: usize,
    /// On the very first start (no checkpoint), read what the log already
    /// holds instead of starting at its end. Off by default: a week of history
    /// would land in the first report period.
    #[serde(default)]
    pub read_existing: bool,
    /// The `journalctl` program.
    #[serde(default = "default_journalctl")]
    pub journalctl: PathBuf,
    /// journalctl match arguments selecting mail entries.
    #[serde(default = "default_journal_matches")]
    pub journal_matches: Vec<String>,
}

fn default_poll_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_max_lines() -> usize {
    10_000
}
fn default_journalctl() -> PathBuf {
    PathBuf::from("journalctl")
}
fn default_journal_matches() -> Vec<String> {
    // Facility 2 = mail: Postfix and qmail (via splogger) both log there.
    vec!["SYSLOG_FACILITY=2".to_string()]
}

impl Default for LogsConfig {
    fn default() -> Self {
        Self {
            paths: Vec::new(),
            journald: JournaldMode::default(),
            poll_interval: default_poll_interval(),
            max_lines_per_poll: default_max_lines(),
            read_existing: false,
            journalctl: default_journalctl(),
            journal_matches: default_journal_matches(),
        }
    }
}

impl LogsConfig {
    /// Checks the `paths` patterns: a wildcard outside the file name is an
    /// error; a pattern that matches no file yet is a warning (returned in
    /// words: MailEnable creates the day's file at its first line).
    pub fn check_paths(&self) -> Result<Vec<String>, PatternError> {
        let mut warnings = Vec::new();
        for path in self.paths.iter().filter(|p| is_pattern(p)) {
            let pattern = FilePattern::parse(path)?;
            if pattern.list().map(|files| files.is_empty()).unwrap_or(true) {
                warnings.push(format!("logs.paths: {} matches no file yet", path.display()));
            }
        }
        Ok(warnings)
    }
}

/// What [`plan`] chose to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourcePlan {
    /// Follow these files (a configured file that does not exist yet is
    /// waited for).
    Files(Vec<PathBuf>),
    /// Read the journal.
    Journal,
}

/// One line handed out by a source.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// The text without its line end, decoded as UTF-8 with replacement
    /// characters, at most [`guard::MAX_LINE`] bytes.
    pub text: &'a str,
    /// The followed path (the checkpoint's key), or the journal program.
    pub source: &'a Path,
    /// The file it was read from: `source`, or a rotated name while its tail is read.
    pub file: &'a Path,
    /// Where the line starts; `None` for the journal.
    pub at: Option<LineAt>,
    /// The line was longer than [`guard::MAX_LINE`]: `text` is its start.
    pub truncated: bool,
}

/// A line's position in a followed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineAt {
    /// Device of the file (0 without inodes).
    pub dev: u64,
    /// Inode of the file (0 without inodes).
    pub ino: u64,
    /// Byte offset of the line's first byte.
    pub offset: u64,
}

/// What one poll did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollStats {
    /// Lines handed to the sink.
    pub lines: usize,
    /// Bytes of those lines, line ends included.
    pub bytes: u64,
    /// Rotated files finished (the source moved on to the new file).
    pub rotations: u32,
    /// Truncations detected (copytruncate).
    pub truncations: u32,
    /// Lines longer than [`guard::MAX_LINE`]: handed out cut (files) or
    /// skipped (journal entries, whose JSON would not parse once cut).
    pub truncated: u64,
    /// The budget ran out with more to read: poll again soon.
    pub more: bool,
}

impl PollStats {
    pub(crate) fn add(&mut self, other: PollStats) {
        self.lines += other.lines;
        self.bytes += other.bytes;
        self.rotations += other.rotations;
        self.truncations += other.truncations;
        self.truncated += other.truncated;
        self.more |= other.more;
    }
}

/// Chooses the sources per the module's rules.
pub fn plan(config: &LogsConfig) -> Result<SourcePlan, LogError> {
    let defaults: Vec<PathBuf> = DEFAULT_PATHS.iter().map(PathBuf::from).collect();
    plan_with_defaults(config, &defaults)
}

fn plan_with_defaults(config: &LogsConfig, defaults: &[PathBuf]) -> Result<SourcePlan, LogError> {
    if config.journald == JournaldMode::Always {
        return Ok(SourcePlan::Journal);
    }
    if !config.paths.is_empty() {
        return Ok(SourcePlan::Files(config.paths.clone()));
    }
    if let Some(found) = defaults.iter().find(|p| p.is_file()) {
        return Ok(SourcePlan::Files(vec![found.clone()]));
    }
    match config.journald {
        JournaldMode::Never => Err(LogError::NoSource {
            looked: defaults.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        }),
        _ => Ok(SourcePlan::Journal),
    }
}

/// One open source.
#[derive(Debug)]
pub enum LogSource {
    /// A followed file.
    File(Follower),
    /// A dated series of files (a `logs.paths` pattern).
    Series(Series),
    /// The journal.
    Journal(Journal),
}

impl LogSource {
    /// Hands out up to `max_lines` available lines (see [`Follower::poll`]).
    pub fn poll(&mut self, max_lines: usize, sink: &mut dyn FnMut(&str)) -> Result<PollStats, LogError> {
        self.poll_lines(max_lines, &mut |line: &Line<'_>| sink(line.text))
    }

    /// [`LogSource::poll`], with where each line was read.
    pub fn poll_lines(&mut self, max_lines: usize, sink: &mut dyn FnMut(&Line<'_>)) -> Result<PollStats, LogError> {
        match self {
            LogSource::File(f) => f.poll_lines(max_lines, sink),
            LogSource::Series(s) => s.poll_lines(max_lines, sink),
            LogSource::Journal(j) => j.poll_lines(max_lines, sink),
        }
    }

    /// Persists the position of the last line handed out.
    pub fn commit(&mut self) -> Result<(), LogError> {
        match self {
            LogSource::File(f) => f.commit(),
            LogSource::Series(s) => s.commit(),
            LogSource::Journal(j) => j.commit(),
        }
    }

    /// The checkpoint writes a commit would do; see [`Follower::pending_commit`]
    /// (a series may have several: each file it finished, and the current one).
    pub fn pending_commit(&self) -> Vec<CheckpointWrite> {
        match self {
            LogSource::File(f) => f.pending_commit().into_iter().collect(),
            LogSource::Series(s) => s.pending_commit(),
            LogSource::Journal(j) => j.pending_commit().into_iter().collect(),
        }
    }

    /// Records that the pending write is durable.
    pub fn mark_committed(&mut self) {
        match self {
            LogSource::File(f) => f.mark_committed(),
            LogSource::Series(s) => s.mark_committed(),
            LogSource::Journal(j) => j.mark_committed(),
        }
    }

    /// For status and logs, e.g. "/var/log/maillog" or "journalctl".
    pub fn describe(&self) -> String {
        match self {
            LogSource::File(f) => f.path().display().to_string(),
            LogSource::Series(s) => s.pattern().display().to_string(),
            LogSource::Journal(j) => j.command().to_string(),
        }
    }
}

/// Every source of the plan, polled and committed together.
#[derive(Debug)]
pub struct LogSources {
    sources: Vec<LogSource>,
    max_lines: usize,
}

impl LogSources {
    /// Opens the sources [`plan`] chooses, resuming from `checkpoints`.
    pub fn open(config: &LogsConfig, checkpoints: &Checkpoints) -> Result<LogSources, LogError> {
        let sources = match plan(config)? {
            SourcePlan::Files(paths) => {
                let options = FollowOptions { read_existing: config.read_existing };
                paths
                    .iter()
                    .map(|p| {
                        if is_pattern(p) {
                            Series::open_with(p, checkpoints, options).map(LogSource::Series)
                        } else {
                            Follower::open_with(p, checkpoints, options).map(LogSource::File)
                        }
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
            SourcePlan::Journal => {
                vec![LogSource::Journal(Journal::open(&journald::JournalSettings::from_config(config), checkpoints)?)]
            }
        };
        for source in &sources {
            tracing::info!(source = %source.describe(), "following the mail log");
        }
        Ok(LogSources { sources, max_lines: config.max_lines_per_poll.max(1) })
    }

    /// The open sources.
    pub fn sources(&self) -> &[LogSource] {
        &self.sources
    }

    /// Polls every source once. A failing source does not stop the others:
    /// its error is returned next to its description.
    pub fn poll(&mut self, sink: &mut dyn FnMut(&str)) -> (PollStats, Vec<(String, LogError)>) {
        self.poll_lines(&mut |line: &Line<'_>| sink(line.text))
    }

    /// [`LogSources::poll`], with where each line was read.
    pub fn poll_lines(&mut self, sink: &mut dyn FnMut(&Line<'_>)) -> (PollStats, Vec<(String, LogError)>) {
        let mut total = PollStats::default();
        let mut errors = Vec::new();
        for source in &mut self.sources {
            match source.poll_lines(self.max_lines, sink) {
                Ok(stats) => total.add(stats),
                Err(e) => errors.push((source.describe(), e)),
            }
        }
        (total, errors)
    }

    /// The checkpoint writes of every source that read lines since its last
    /// commit, to store in one transaction with the report built from them
    /// ([`crate::store::Outbox::push_with_checkpoints`]).
    pub fn pending_commit(&self) -> Vec<CheckpointWrite> {
        self.sources.iter().flat_map(LogSource::pending_commit).collect()
    }

    /// Records that the writes of [`LogSources::pending_commit`] are durable;
    /// nothing may be polled in between.
    pub fn mark_committed(&mut self) {
        self.sources.iter_mut().for_each(LogSource::mark_committed);
    }

    /// Commits every source; stops at the first failure.
    pub fn commit(&mut self) -> Result<(), LogError> {
        self.sources.iter_mut().try_for_each(LogSource::commit)
    }
}

fn io_error(path: &Path, op: &'static str, cause: std::io::Error) -> LogError {
    LogError::Io { path: path.to_path_buf(), op, cause }
}

#[cfg(test)]
mod tests;
