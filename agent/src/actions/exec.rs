//! Running one command line of the table: no shell, stdin fed from memory,
//! stdout and stderr kept up to [`MAX_OUTPUT`] bytes, killed at the deadline.
//!
//! `command::run_lines` streams lines to a collector and closes stdin; an
//! action needs the opposite (ids on stdin, a short bounded summary back), so
//! this is its small sibling, sharing its spawn and kill helpers.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::command::{kill, spawn};

/// Output kept per command (stdout then stderr), for the audit.
pub const MAX_OUTPUT: usize = 4096;

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Exit code; -1 when killed by a signal or at the deadline.
    pub exit_code: i32,
    /// Whether it exited 0.
    pub success: bool,
    /// Bounded stdout and stderr, lossy UTF-8.
    pub output: String,
    /// Set when it could not start or was killed at the deadline.
    pub error: Option<String>,
}

/// Runs `argv` with `stdin` written to it (then closed).
pub fn run(argv: &[String], stdin: &[u8], timeout: Duration) -> Outcome {
    let failed = |error: String| Outcome { exit_code: -1, success: false, output: String::new(), error: Some(error) };
    let Some((program, args)) = argv.split_first() else {
        return failed("empty command line".into());
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
    let mut child = match spawn(&mut cmd) {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return failed(format!("{program}: not found")),
        Err(e) => return failed(format!("cannot run {program}: {e}")),
    };
    let deadline = Instant::now() + timeout;
    if let Some(mut pipe) = child.stdin.take() {
        let data = stdin.to_vec();
        // A thread, so a tool that does not read its stdin cannot block us.
        std::thread::spawn(move || {
            let _ = pipe.write_all(&data);
        });
    }
    let readers: Vec<_> = [
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|pipe| std::thread::spawn(move || bounded(pipe)))
    .collect();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(_) => break None,
        }
    };
    let Some(status) = status else {
        kill(&mut child);
        return failed(format!("{program} did not finish within {}; killed it", humantime::format_duration(timeout)));
    };
    let mut output = String::new();
    for reader in readers {
        // A grandchild may hold a pipe open: wait briefly, never forever.
        let until = Instant::now() + Duration::from_millis(300);
        while !reader.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        if reader.is_finished()
            && let Ok(text) = reader.join()
        {
            output.push_str(&text);
        }
    }
    truncate(&mut output, MAX_OUTPUT);
    Outcome { exit_code: status.code().unwrap_or(-1), success: status.success(), output, error: None }
}

/// Reads a pipe to its end, keeping the first [`MAX_OUTPUT`] bytes.
fn bounded(mut pipe: impl Read) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
}
