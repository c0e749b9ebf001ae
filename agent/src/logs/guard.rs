//! Defence in depth around the parsers: one bad line never stops a reader.
//!
//! The parsers are meant never to panic, and are fuzzed for it; this is for
//! the bug that survives. [`LineGuard::run`] runs the work of one line
//! (parsing it, handing its events on) under `catch_unwind`. A panic there is
//! counted per program (`failed_lines`), logged once per program with the
//! file, the byte offset and a short escaped prefix of the line, and the line
//! is skipped. The caller resets whatever state the work may have left
//! half-updated (see `run/evidence.rs` and `scan`).
//!
//! The default panic hook would print a message (and a backtrace with
//! `RUST_BACKTRACE`) for every caught panic; [`LineGuard`] installs, once, a
//! hook that keeps the message for the log line instead while a guarded call
//! runs on this thread, and defers to the previous hook otherwise.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Once;

use crate::parse::{Event, OTHER_PROGRAMS, UNRECOGNISED};

/// Longest line kept, in bytes, by the follower and by `scan`: a longer line
/// is cut here (at a character boundary) and counted in `truncated_lines`.
/// journald cuts messages at 48 KiB (LineMax); nothing legitimate is longer.
pub const MAX_LINE: usize = 64 * 1024;
/// Distinct programs counted by name; the rest count under [`OTHER_PROGRAMS`].
const MAX_PROGRAMS: usize = 64;
/// Characters of a failed line shown in the log.
const PREVIEW_CHARS: usize = 80;
/// Longest address, host, id or name kept in an event (RFC 5321 caps a
/// path at 256 bytes).
pub const MAX_NAME: usize = 512;
/// Longest reply or reason kept in an event: the classifier's wordings and
/// codes come first, and the controller keeps 300 characters of a sample.
pub const MAX_TEXT: usize = 4096;

thread_local! {
    /// True while a guarded call runs on this thread.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
    /// The message of the last panic caught on this thread.
    static CAUGHT: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

/// Installs the panic hook described in the module documentation.
fn install_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) {
                CAUGHT.with(|c| *c.borrow_mut() = Some(info.to_string()));
            } else {
                previous(info);
            }
        }));
    });
}

/// Where a line was read, for the log.
#[derive(Debug, Clone, Copy)]
pub struct LineOrigin<'a> {
    /// The file (a rotated name while its tail is read), or the journal program.
    pub file: &'a Path,
    /// Byte offset of the line's start in `file`; `None` for the journal.
    pub offset: Option<u64>,
}

/// Counts of failed and truncated lines; see the module documentation.
#[derive(Debug, Default)]
pub struct LineGuard {
    failed: BTreeMap<String, u64>,
    truncated: u64,
    /// Programs whose failure was logged already (never reset: once per process).
    logged: BTreeSet<String>,
}

impl LineGuard {
    /// An empty guard.
    pub fn new() -> Self {
        LineGuard::default()
    }

    /// Runs `work` for `line`; `None` when it panicked (counted, logged, and
    /// the caller must treat the line as skipped and reset what `work` touched).
    pub fn run<R>(&mut self, line: &str, origin: LineOrigin<'_>, work: impl FnOnce() -> R) -> Option<R> {
        install_hook();
        let outer = GUARDED.with(|g| g.replace(true));
        let result = catch_unwind(AssertUnwindSafe(work));
        GUARDED.with(|g| g.set(outer));
        match result {
            Ok(value) => Some(value),
            Err(payload) => {
                let why = CAUGHT.with(|c| c.borrow_mut().take()).unwrap_or_else(|| panic_text(payload.as_ref()));
                self.fail(line, origin, &why);
                None
            }
        }
    }

    /// Counts `line` as failed and skipped (logged once per program).
    pub fn fail(&mut self, line: &str, origin: LineOrigin<'_>, why: &str) {
        let program = program_of(line);
        if self.logged.len() < MAX_PROGRAMS && self.logged.insert(program.to_string()) {
            tracing::warn!(
                file = %origin.file.display(),
                offset = origin.offset,
                program,
                line = %preview(line),
                error = %preview(why),
                "a log line could not be parsed; skipped and counted in failed_lines \
                 (logged once per program)"
            );
        }
        let key = if self.failed.contains_key(program) || self.failed.len() < MAX_PROGRAMS {
            program
        } else {
            OTHER_PROGRAMS
        };
        *self.failed.entry(key.to_string()).or_insert(0) += 1;
    }

    /// Counts a line cut at [`MAX_LINE`].
    pub fn truncated(&mut self) {
        self.truncated += 1;
    }

    /// Counts `n` lines cut at [`MAX_LINE`] (or skipped for being longer).
    pub fn add_truncated(&mut self, n: u64) {
        self.truncated += n;
    }

    /// Failed lines per program since the last [`LineGuard::take`].
    pub fn failed(&self) -> &BTreeMap<String, u64> {
        &self.failed
    }

    /// Lines cut since the last [`LineGuard::take`].
    pub fn truncated_count(&self) -> u64 {
        self.truncated
    }

    /// Returns and resets the counts (failed per program, truncated).
    pub fn take(&mut self) -> (BTreeMap<String, u64>, u64) {
        (std::mem::take(&mut self.failed), std::mem::take(&mut self.truncated))
    }

    /// Adds another guard's counts (a scan's second parsing thread).
    pub fn merge(&mut self, other: &LineGuard) {
        for (program, count) in &other.failed {
            *self.failed.entry(program.clone()).or_insert(0) += count;
        }
        self.truncated += other.truncated;
    }
}

/// The text of a panic payload (`panic!` with a literal or a format).
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}

/// The program that wrote `line`, found without the parsers (which just
/// failed on it): the syslog tag (`postfix/cleanup[123]:` → `postfix/cleanup`)
/// within the first tokens, or a journald entry's `SYSLOG_IDENTIFIER`.
pub fn program_of(line: &str) -> &str {
    let name = if line.starts_with('{') { journald_identifier(line) } else { syslog_tag(line) };
    match name {
        Some(name) if !name.is_empty() && name.len() <= 64 && !name.chars().any(char::is_control) => name,
        _ => UNRECOGNISED,
    }
}

fn syslog_tag(line: &str) -> Option<&str> {
    // Timestamp (up to 3 tokens), host, tag: the tag is among the first six.
    line.split(' ').filter(|t| !t.is_empty()).take(6).find_map(|token| {
        let tag = token.strip_suffix(':')?;
        let name = tag.split_once('[').map_or(tag, |(name, _)| name);
        // "10:00:00:" is not a tag; every tag starts with a letter.
        name.starts_with(|c: char| c.is_ascii_alphabetic()).then_some(name)
    })
}

fn journald_identifier(line: &str) -> Option<&str> {
    let (_, rest) = line.split_once("\"SYSLOG_IDENTIFIER\":\"")?;
    rest.split_once('"').map(|(name, _)| name)
}

/// The first 80 characters of `text`, control characters
/// escaped, `…` when cut: enough to find the line, too little to leak a
/// message.
pub fn preview(text: &str) -> String {
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == PREVIEW_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// `text` cut to at most [`MAX_LINE`] bytes at a character boundary, and
/// whether it was cut.
pub fn cut(text: &str) -> (&str, bool) {
    if text.len() <= MAX_LINE {
        return (text, false);
    }
    let mut end = MAX_LINE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text.get(..end).unwrap_or_default(), true)
}

/// Cuts the texts of `event` to [`MAX_NAME`] and [`MAX_TEXT`] bytes, so
/// that what the tracker and the aggregator keep per message and per source
/// is bounded whatever the line held.
pub fn bound(event: &mut Event) {
    let name = |s: &mut String| truncate(s, MAX_NAME);
    let opt = |s: &mut Option<String>| {
        if let Some(s) = s {
            truncate(s, MAX_NAME);
        }
    };
    match event {
        Event::Client { queue_id, client_host, sasl_user, .. } => {
            name(queue_id);
            name(client_host);
            opt(sasl_user);
        }
        Event::Pickup { queue_id, from, .. }
        | Event::Queued { queue_id, from, .. }
        | Event::Expired { queue_id, from, .. } => {
            name(queue_id);
            name(from);
        }
        Event::PhpScript { queue_id, script, .. } => {
            name(queue_id);
            name(script);
        }
        Event::Delivery { queue_id, to, relay, dsn, reply, .. } => {
            name(queue_id);
            name(to);
            name(relay);
            opt(dsn);
            truncate(reply, MAX_TEXT);
        }
        Event::BounceNotice { queue_id, bounce_queue_id, .. } => {
            name(queue_id);
            name(bounce_queue_id);
        }
        Event::Removed { queue_id, .. } => name(queue_id),
        Event::Rejected { queue_id, reason, from, to, .. } => {
            opt(queue_id);
            truncate(reason, MAX_TEXT);
            opt(from);
            opt(to);
        }
        Event::HandlerVerdict { handler, .. } => name(handler),
        Event::OutgoingLimit { queue_id, sender, reason, .. } => {
            opt(queue_id);
            opt(sender);
            truncate(reason, MAX_TEXT);
        }
        Event::AuthFailure { user, .. } => opt(user),
        Event::SmtpAuth { user, .. } => name(user),
        Event::QmailMessage { from, .. } => name(from),
        Event::QmailStart { to, .. } => name(to),
        Event::QmailDelivery { reply, .. } => truncate(reply, MAX_TEXT),
        Event::QmailHandler { address, .. } => name(address),
        Event::QmailBounce { .. } | Event::QmailEnd { .. } => {}
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary, freeing the rest.
fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests;
