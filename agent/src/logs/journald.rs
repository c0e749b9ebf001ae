//! The journal as a log source, for hosts where no mail log file exists.
//!
//! Runs `journalctl -o json --follow --no-pager [--after-cursor=C] MATCHES…`
//! as a long-lived child; a helper thread reads its stdout into a bounded
//! channel (128 lines: the child blocks on a full pipe instead of the agent
//! growing), and [`Journal::poll`] drains what is there. Lines are handed
//! out raw (one JSON object per line, as `journalctl -o json` prints them);
//! the parsers read the fields. Each entry carries its `__CURSOR`; the
//! cursor of the last line handed out is what [`Journal::commit`] stores, and
//! a restart (of the agent, or of a journalctl that exited) continues with
//! `--after-cursor`, so no entry is handed out twice or skipped.
//!
//! Without a stored cursor, `--lines=0` starts at the end of the journal
//! (`--no-tail` with `logs.read_existing`). The matches default to
//! `SYSLOG_FACILITY=2` (mail). A missing or failing journalctl is an error
//! of [`Journal::poll`], retried after [`RESTART_DELAY`], never a panic.

use std::borrow::Cow;
use std::io::BufReader;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError, sync_channel};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{Line, LogError, LogsConfig, PollStats};
use crate::command::{self, StderrLine};
use crate::store::checkpoint::{CheckpointWrite, Checkpoints};

/// Wait before starting journalctl again after it failed or exited.
pub const RESTART_DELAY: Duration = Duration::from_secs(10);
/// Longest journal line kept; longer entries are skipped (they would be
/// truncated JSON anyway) and counted as truncated. journald itself cuts
/// messages at 48 KiB (LineMax).
use super::guard::MAX_LINE;
/// Entries buffered between the reading thread and [`Journal::poll`]; with
/// the line limit this bounds the buffer (typically ~1.5 KiB per entry).
const CHANNEL_LINES: usize = 128;
/// The checkpoint key of the journal cursor.
const CURSOR_KEY: &str = "journalctl";

/// How to run journalctl.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalSettings {
    /// The journalctl program.
    pub program: PathBuf,
    /// Match arguments, e.g. `SYSLOG_FACILITY=2`.
    pub matches: Vec<String>,
    /// Without a stored cursor: read the whole journal instead of starting at its end.
    pub read_existing: bool,
}

impl JournalSettings {
    /// The settings from `[logs]`.
    pub fn from_config(config: &LogsConfig) -> Self {
        Self {
            program: config.journalctl.clone(),
            matches: config.journal_matches.clone(),
            read_existing: config.read_existing,
        }
    }
}

/// A running journalctl.
#[derive(Debug)]
struct Running {
    child: Child,
    lines: Receiver<String>,
    stderr: Option<StderrLine>,
    /// Entries longer than [`MAX_LINE`] skipped by the reading thread.
    skipped: Arc<AtomicU64>,
}

/// The journal source; see the module documentation.
#[derive(Debug)]
pub struct Journal {
    settings: JournalSettings,
    store: Checkpoints,
    running: Option<Running>,
    /// Cursor of the last entry handed out.
    emitted: Option<String>,
    committed: Option<String>,
    /// An exit seen while handing out lines, reported by the next poll.
    deferred: Option<LogError>,
    restart_at: Option<Instant>,
}

impl Journal {
    /// Prepares the source from the cursor in `store`; journalctl is started
    /// by the first poll.
    pub fn open(settings: &JournalSettings, store: &Checkpoints) -> Result<Journal, LogError> {
        let committed = store.load_cursor(CURSOR_KEY)?;
        Ok(Journal {
            settings: settings.clone(),
            store: store.clone(),
            running: None,
            emitted: committed.clone(),
            committed,
            deferred: None,
            restart_at: None,
        })
    }

    /// The program, for status and errors.
    pub fn command(&self) -> Cow<'_, str> {
        self.settings.program.to_string_lossy()
    }

    /// Hands out up to `max_lines` journal entries that have arrived.
    pub fn poll(&mut self, max_lines: usize, sink: &mut dyn FnMut(&str)) -> Result<PollStats, LogError> {
        self.poll_lines(max_lines, &mut |line: &Line<'_>| sink(line.text))
    }

    /// [`Journal::poll`], each line naming the journal program as its file.
    pub fn poll_lines(&mut self, max_lines: usize, sink: &mut dyn FnMut(&Line<'_>)) -> Result<PollStats, LogError> {
        let mut stats = PollStats::default();
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        if self.running.is_none() {
            if self.restart_at.is_some_and(|at| Instant::now() < at) {
                return Ok(stats);
            }
            match self.start() {
                Ok(running) => self.running = Some(running),
                Err(e) => {
                    self.restart_at = Some(Instant::now() + RESTART_DELAY);
                    return Err(e);
                }
            }
        }
        if let Some(running) = self.running.as_ref() {
            stats.truncated = running.skipped.swap(0, Ordering::Relaxed);
        }
        while stats.lines < max_lines {
            let Some(running) = self.running.as_mut() else { break };
            match running.lines.try_recv() {
                Ok(line) => {
                    if let Some(cursor) = cursor_of(&line) {
                        self.emitted = Some(cursor.into_owned());
                    }
                    let program = self.settings.program.as_path();
                    sink(&Line { text: &line, source: program, file: program, at: None, truncated: false });
                    stats.lines += 1;
                    stats.bytes += line.len() as u64 + 1;
                }
                Err(TryRecvError::Empty) => return Ok(stats),
                Err(TryRecvError::Disconnected) => {
                    let error = self.stop();
                    self.restart_at = Some(Instant::now() + RESTART_DELAY);
                    if stats.lines == 0 {
                        return Err(error);
                    }
                    self.deferred = Some(error);
                    return Ok(stats);
                }
            }
        }
        stats.more = true;
        Ok(stats)
    }

    /// The cursor write [`Journal::commit`] would do (see
    /// [`super::Follower::pending_commit`]).
    pub fn pending_commit(&self) -> Option<CheckpointWrite> {
        let cursor = self.emitted.as_ref()?;
        (self.committed.as_ref() != Some(cursor)).then(|| CheckpointWrite::cursor(CURSOR_KEY, cursor))
    }

    /// Records that the write from [`Journal::pending_commit`] is durable.
    pub fn mark_committed(&mut self) {
        self.committed.clone_from(&self.emitted);
    }

    /// Stores the cursor of the last entry handed out (see
    /// [`super::Follower::commit`] for when to call it).
    pub fn commit(&mut self) -> Result<(), LogError> {
        if let Some(cursor) = &self.emitted
            && self.committed.as_ref() != Some(cursor)
        {
            self.store.save_cursor(CURSOR_KEY, cursor)?;
            self.committed = Some(cursor.clone());
        }
        Ok(())
    }

    fn start(&self) -> Result<Running, LogError> {
        let mut cmd = Command::new(&self.settings.program);
        cmd.args(["-o", "json", "--follow", "--no-pager"]);
        match (&self.emitted, self.settings.read_existing) {
            (Some(cursor), _) => cmd.arg(format!("--after-cursor={cursor}")),
            (None, true) => cmd.arg("--no-tail"),
            (None, false) => cmd.arg("--lines=0"),
        };
        cmd.args(&self.settings.matches).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command::spawn(&mut cmd)
            .map_err(|cause| LogError::Spawn { command: self.command().into_owned(), cause })?;
        let stderr = child.stderr.take().map(command::first_line_of_stderr);
        let stdout = child.stdout.take();
        let (tx, rx) = sync_channel::<String>(CHANNEL_LINES);
        let skipped = Arc::new(AtomicU64::new(0));
        let skipped_by_reader = skipped.clone();
        if let Some(stdout) = stdout {
            std::thread::spawn(move || {
                let mut reader = BufReader::with_capacity(64 * 1024, stdout);
                let mut line = Vec::new();
                while let Ok(true) = command::read_line_bounded(&mut reader, &mut line, MAX_LINE + 1) {
                    // Entries only: skip blank lines, journalctl's "-- …" notes
                    // and entries too long to be kept whole.
                    if line.first() != Some(&b'{') {
                        continue;
                    }
                    if line.len() > MAX_LINE {
                        skipped_by_reader.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    if tx.send(String::from_utf8_lossy(&line).into_owned()).is_err() {
                        break;
                    }
                }
            });
        }
        tracing::info!(command = %self.command(), cursor = ?self.emitted, "reading the journal");
        Ok(Running { child, lines: rx, stderr, skipped })
    }

    /// Stops journalctl (it has exited, or is made to) and says why it ended.
    fn stop(&mut self) -> LogError {
        let command = self.command().into_owned();
        let Some(mut running) = self.running.take() else {
            return LogError::Exited { command, status: "not running".into(), stderr: String::new() };
        };
        // Its stdout has closed; it normally exits at the same moment.
        let until = Instant::now() + Duration::from_millis(500);
        let status = loop {
            match running.child.try_wait() {
                Ok(Some(status)) => break command::describe_status(status),
                Ok(None) if Instant::now() < until => std::thread::sleep(Duration::from_millis(5)),
                _ => {
                    command::kill(&mut running.child);
                    break "closed its output".to_string();
                }
            }
        };
        let stderr = running.stderr.take().map(StderrLine::get).unwrap_or_default();
        LogError::Exited { command, status, stderr }
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        if let Some(running) = self.running.as_mut() {
            command::kill(&mut running.child);
        }
    }
}

/// The `__CURSOR` field of one `journalctl -o json` line.
fn cursor_of(line: &str) -> Option<Cow<'_, str>> {
    #[derive(Deserialize)]
    struct Entry<'a> {
        #[serde(rename = "__CURSOR", borrow)]
        cursor: Option<Cow<'a, str>>,
    }
    serde_json::from_str::<Entry<'_>>(line).ok()?.cursor
}

#[cfg(test)]
mod tests;
