//! No crash loop: a log line that kills the agent is skipped after restarts.
//!
//! A panic in the parsers is caught line by line ([`crate::logs::guard`]);
//! this is for what cannot be caught: an abort, a stack overflow, an OOM
//! kill, a panic outside the guard. Such a crash leaves the checkpoint
//! before the line, and systemd's restart would read it again, forever.
//!
//! The normal path costs one flushed write at start (the `running` record,
//! [`Checkpoints::mark_running`]) and one at a clean stop. Only when the
//! record is found at start — the last agent did not stop cleanly — is the
//! guard *armed*, until the first report after the restart is stored:
//!
//! 1. Before each unit of [`UNIT`] lines of a followed file, a
//!    [`PoisonMark`] (file, offset of the unit's first line) is written and
//!    flushed. Marks are never cleared after a unit succeeds: the mark found
//!    at the next start is the unit the crash happened in.
//! 2. At the next start, the lines before that mark are processed without
//!    marks (the crashed agent got past them). The unit at the mark failed
//!    once in an armed run, after the crash that armed it: it is processed
//!    line by line, a mark before each line.
//! 3. A line-by-line mark found at start is tried alone once more (a
//!    `kill -9` or an OOM kill caused by something else may have landed
//!    there); found a second time, it is the line that kills the agent: it
//!    is skipped and counted in `failed_lines`.
//!
//! A line that kills the agent therefore costs four restarts, then that one
//! line (with systemd's `RestartSec=10s`, under a minute).
//! Marks are deleted when the guard disarms and at a clean start. The journal
//! has no byte offsets: its lines are covered by the panic guard only.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::logs::{Line, LineAt};
use crate::store::checkpoint::{Checkpoints, PoisonMark};

/// Lines per mark while armed: a unit that crashed is re-run with this many
/// flushed writes (a few seconds on a disk).
pub(crate) const UNIT: usize = 500;

/// What to do with a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Parse it.
    Process,
    /// It stopped the agent before: skip it (and count it).
    Skip,
}

/// Per followed file while armed.
#[derive(Debug, Default)]
struct FileState {
    /// The mark the crashed agent left, until this run reaches or passes it.
    previous: Option<PoisonMark>,
    /// Lines left in the current unit.
    unit_left: usize,
    /// Lines left to process one by one.
    single_left: usize,
}

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct PoisonGuard {
    store: Checkpoints,
    armed: bool,
    files: HashMap<PathBuf, FileState>,
}

impl PoisonGuard {
    /// Records that the agent runs; arms the guard when the last one did not
    /// stop cleanly. A store error leaves the guard unarmed (logged).
    pub(crate) fn open(store: Checkpoints) -> PoisonGuard {
        let armed = match store.mark_running() {
            Ok(armed) => armed,
            Err(e) => {
                tracing::warn!(error = %e, "cannot record that the agent runs; crash-loop protection is off");
                false
            }
        };
        if armed {
            tracing::warn!(
                "the agent did not stop cleanly last time; reading the log with crash-loop protection \
                 until the next report is stored"
            );
        } else if let Err(e) = store.clear_poison() {
            tracing::warn!(error = %e, "cannot clear old poison marks");
        }
        PoisonGuard { store, armed, files: HashMap::new() }
    }

    /// Whether the guard is armed.
    #[cfg(test)]
    pub(crate) fn armed(&self) -> bool {
        self.armed
    }

    /// Decides about `line` and, while armed, writes the mark before it when
    /// it starts a unit.
    pub(crate) fn before(&mut self, line: &Line<'_>) -> Verdict {
        let (true, Some(at)) = (self.armed, line.at) else {
            return Verdict::Process;
        };
        let store = &self.store;
        let state = self.files.entry(line.source.to_path_buf()).or_insert_with(|| FileState {
            previous: store.load_poison(line.source).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "cannot read the poison mark; ignoring it");
                None
            }),
            ..FileState::default()
        });
        let mut single_attempts = 1;
        if let Some(previous) = state.previous {
            let same_file = previous.dev == at.dev && previous.ino == at.ino;
            if same_file && at.offset < previous.offset {
                // The crashed agent processed this line.
                return Verdict::Process;
            }
            state.previous = None;
            if same_file && at.offset == previous.offset {
                state.unit_left = 0;
                if previous.single && previous.attempts >= 2 {
                    tracing::error!(
                        file = %line.file.display(),
                        offset = at.offset,
                        "this log line stopped the agent each time it was processed alone; skipping it"
                    );
                    return Verdict::Skip;
                }
                if previous.single {
                    tracing::warn!(
                        file = %line.file.display(),
                        offset = at.offset,
                        "the agent stopped while processing this log line alone; trying it once more"
                    );
                    single_attempts = previous.attempts + 1;
                    state.single_left = state.single_left.max(1);
                } else {
                    tracing::warn!(
                        file = %line.file.display(),
                        offset = at.offset,
                        lines = UNIT,
                        "the agent stopped while processing these log lines; processing them one by one"
                    );
                    state.single_left = UNIT;
                }
            }
        }
        if state.single_left > 0 {
            state.single_left -= 1;
            self.write(line, at, PoisonMark { attempts: single_attempts, single: true, ..mark(at) });
        } else if state.unit_left == 0 {
            state.unit_left = UNIT;
            self.write(line, at, PoisonMark { attempts: 1, single: false, ..mark(at) });
        }
        if let Some(state) = self.files.get_mut(line.source) {
            state.unit_left = state.unit_left.saturating_sub(1);
        }
        Verdict::Process
    }

    fn write(&self, line: &Line<'_>, at: LineAt, mark: PoisonMark) {
        if let Err(e) = self.store.save_poison(line.source, &mark) {
            tracing::warn!(error = %e, offset = at.offset, "cannot write a poison mark");
        }
    }

    /// A report is stored: disarm once every mark of the crashed agent is
    /// behind (or was never reached by a line of its file).
    pub(crate) fn committed(&mut self) {
        if !self.armed || self.files.values().any(|s| s.previous.is_some() || s.single_left > 0) {
            return;
        }
        self.armed = false;
        self.files.clear();
        match self.store.clear_poison() {
            Ok(()) => tracing::info!("log read past the lines of the unclean stop; crash-loop protection off"),
            Err(e) => tracing::warn!(error = %e, "cannot clear the poison marks"),
        }
    }

    /// The agent stops cleanly.
    pub(crate) fn stopped(&self) {
        if let Err(e) = self.store.clear_poison().and_then(|()| self.store.mark_stopped()) {
            tracing::warn!(error = %e, "cannot record the clean stop; the next start will be careful");
        }
    }
}

fn mark(at: LineAt) -> PoisonMark {
    PoisonMark { dev: at.dev, ino: at.ino, offset: at.offset, attempts: 1, single: false }
}
