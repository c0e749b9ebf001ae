//! Running an external tool with a deadline, streaming its output.
//!
//! The collectors run on the agent's schedule, so a tool must never hold the
//! agent: the deadline covers the whole run, a tool still running at the
//! deadline is killed, and the output is read line by line by a helper
//! thread (a hung tool that keeps its pipe open costs the agent nothing but
//! that thread). Output lines are handed over as they come, so a queue of
//! 100 000 messages is never held in memory at once.

use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Longest output line kept; the rest of a longer line is dropped.
pub const MAX_LINE: usize = 64 * 1024;
/// Lines buffered between the reading thread and the caller.
const CHANNEL_LINES: usize = 256;

/// A tool could not be run to completion.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The program does not exist.
    #[error("{command}: not found")]
    NotFound {
        /// The command line.
        command: String,
    },
    /// The program could not be started.
    #[error("cannot run {command}: {cause}")]
    Spawn {
        /// The command line.
        command: String,
        /// The I/O error.
        cause: io::Error,
    },
    /// The tool ran past its deadline and was killed.
    #[error("{command} did not finish within {timeout}; killed it")]
    Timeout {
        /// The command line.
        command: String,
        /// The deadline, e.g. "10s".
        timeout: String,
    },
    /// The tool exited unsuccessfully.
    #[error("{command} failed ({status}){}", colon_prefixed(.stderr))]
    Failed {
        /// The command line.
        command: String,
        /// The exit status.
        status: String,
        /// The first line of its stderr (may be empty).
        stderr: String,
    },
    /// Its output could not be read.
    #[error("reading the output of {command}: {cause}")]
    Read {
        /// The command line.
        command: String,
        /// The I/O error.
        cause: io::Error,
    },
}

/// ": text", or nothing for empty text (for error messages).
pub(crate) fn colon_prefixed(text: &str) -> String {
    if text.is_empty() { String::new() } else { format!(": {text}") }
}

/// Runs `program args…` and hands each stdout line (lossy UTF-8, without its
/// line end) to `on_line`, all within `timeout`.
pub fn run_lines(
    program: &Path,
    args: &[&str],
    timeout: Duration,
    on_line: &mut dyn FnMut(&str),
) -> Result<(), CommandError> {
    let command = std::iter::once(program.display().to_string())
        .chain(args.iter().map(|a| (*a).to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    let deadline = Instant::now() + timeout;
    let mut cmd = Command::new(program);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = spawn(&mut cmd).map_err(|cause| match cause.kind() {
        io::ErrorKind::NotFound => CommandError::NotFound { command: command.clone() },
        _ => CommandError::Spawn { command: command.clone(), cause },
    })?;
    let stderr = child.stderr.take().map(first_line_of_stderr);
    let Some(stdout) = child.stdout.take() else {
        kill(&mut child);
        return Err(CommandError::Read { command, cause: io::Error::other("no stdout pipe") });
    };
    let (tx, rx) = sync_channel::<io::Result<String>>(CHANNEL_LINES);
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = Vec::new();
        loop {
            let next = match read_line_bounded(&mut reader, &mut line, MAX_LINE) {
                Ok(true) => Ok(String::from_utf8_lossy(&line).into_owned()),
                Ok(false) => break,
                Err(e) => Err(e),
            };
            let failed = next.is_err();
            if tx.send(next).is_err() || failed {
                break;
            }
        }
    });
    let timed_out = |child: &mut Child| {
        kill(child);
        CommandError::Timeout { command: command.clone(), timeout: humantime::format_duration(timeout).to_string() }
    };
    loop {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Ok(line)) => on_line(line.strip_suffix('\r').unwrap_or(&line)),
            Ok(Err(cause)) => {
                kill(&mut child);
                return Err(CommandError::Read { command, cause });
            }
            Err(RecvTimeoutError::Timeout) => return Err(timed_out(&mut child)),
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => return Err(timed_out(&mut child)),
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(cause) => {
                kill(&mut child);
                return Err(CommandError::Read { command, cause });
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    Err(CommandError::Failed {
        command,
        status: describe_status(status),
        stderr: stderr.map(StderrLine::get).unwrap_or_default(),
    })
}

/// Spawns, retrying briefly when the program file is still open for writing
/// somewhere (ETXTBSY: a package upgrade writing it, or a concurrent fork).
pub(crate) fn spawn(cmd: &mut Command) -> io::Result<Child> {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy && tries < 20 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Kills and reaps a child (errors ignored: it may have exited already).
pub(crate) fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// "exit status: 1", "signal: 9 (SIGKILL)".
pub(crate) fn describe_status(status: ExitStatus) -> String {
    status.to_string()
}

/// The first line of a child's stderr, read by a helper thread that drains
/// the rest (so a chatty tool cannot block on a full pipe).
#[derive(Debug)]
pub(crate) struct StderrLine {
    line: Arc<Mutex<String>>,
    thread: JoinHandle<()>,
}

impl StderrLine {
    /// The first line, waiting briefly for the thread to have read it.
    pub(crate) fn get(self) -> String {
        let until = Instant::now() + Duration::from_millis(300);
        while !self.thread.is_finished() && Instant::now() < until {
            if self.line.lock().map(|l| !l.is_empty()).unwrap_or(true) {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.line.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// Starts the thread behind [`StderrLine`].
pub(crate) fn first_line_of_stderr(stderr: impl Read + Send + 'static) -> StderrLine {
    let line = Arc::new(Mutex::new(String::new()));
    let shared = Arc::clone(&line);
    let thread = std::thread::spawn(move || {
        let mut reader = BufReader::new(stderr);
        let mut first = Vec::new();
        if let Ok(true) = read_line_bounded(&mut reader, &mut first, 1024)
            && let Ok(mut slot) = shared.lock()
        {
            *slot = String::from_utf8_lossy(&first).trim().to_string();
        }
        let _ = io::copy(&mut reader, &mut io::sink());
    });
    StderrLine { line, thread }
}

/// Reads one line into `out` (without its `\n`), keeping at most `max`
/// bytes of it and skipping the rest. Returns false at the end of input
/// when nothing was read.
pub(crate) fn read_line_bounded(reader: &mut impl BufRead, out: &mut Vec<u8>, max: usize) -> io::Result<bool> {
    out.clear();
    let mut any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            return Ok(any);
        }
        any = true;
        let (take, done) = match available.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (available.len(), false),
        };
        let room = max.saturating_sub(out.len());
        out.extend_from_slice(&available[..take.min(room)]);
        reader.consume(if done { take + 1 } else { take });
        if done {
            return Ok(true);
        }
    }
}

#[cfg(all(test, unix))]
pub(crate) mod fake_tool;
#[cfg(test)]
mod tests;
