//! The first stage of a scan: files to lines to events, in batches.
//!
//! Files are read in large blocks and split into lines in place: valid UTF-8
//! (the normal case) is checked once per chunk and split with `str::find`,
//! which searches with memchr; a chunk with invalid bytes falls back to
//! line-by-line lossy decoding. A line longer than [`MAX_LINE`] is cut
//! there and the rest of it skipped, like the follower does.
//!
//! Memory is bounded whatever the input: one block, and batches of at most
//! [`BATCH`] events *or* about [`BATCH_BYTES`] of text (events hold text cut
//! from their line: 4096 events of 1 MB lines held 200 MB in one batch, and
//! eight batches queue). Event texts are cut ([`guard::bound`]) so that
//! what the tracker keeps per message is bounded too.
//!
//! Each line is parsed under the [`LineGuard`]: a parser panic skips the
//! line (its partial events dropped) and counts it in `failed_lines`.
//!
//! Parsing is the costliest stage, so the [`Output`] may take a chunk of
//! whole lines to parse itself when it has nothing else to do
//! ([`Output::wants_chunk`]): the tracker's thread then parses too, and the
//! two threads stay busy. A chunk holding a MailEnable `#Fields:` header is
//! always parsed here, so this reader's parser knows the layout in effect
//! for every chunk it hands over.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::ScanError;
use crate::logs::guard::{self, LineGuard, LineOrigin, MAX_LINE, MAX_NAME, MAX_TEXT};
use crate::parse::{Event, Layout, Parser};

/// Block size of file reads.
pub(super) const BLOCK: usize = 1 << 20;
/// Lines are parsed (or handed over) in chunks of about this size.
const CHUNK: usize = 128 << 10;
/// Events per batch handed to the output.
const BATCH: usize = 4096;
/// Bytes of text in a batch's events, at most (about): a line's events hold
/// at most [`MAX_TEXT`] plus a few [`MAX_NAME`]s of it, whatever its length.
const BATCH_BYTES: usize = 1 << 20;
/// What one line's events hold at most, for [`BATCH_BYTES`].
const LINE_EVENT_BYTES: usize = MAX_TEXT + 4 * MAX_NAME;

/// Where the reader's work goes.
pub(super) trait Output {
    /// A batch of parsed events; leave the vector empty (drain or swap it).
    fn events(&mut self, events: &mut Vec<Event>);

    /// Whether the output would parse the next chunk itself.
    fn wants_chunk(&mut self) -> bool {
        false
    }

    /// A chunk of whole lines (UTF-8, each ending in `\n`) to parse, with
    /// the MailEnable layout in effect at its start, and the file and offset
    /// it was read at.
    fn chunk(&mut self, _chunk: &str, _layout: Option<&Layout>, _file: &Path, _offset: u64) {}
}

/// Reads, splits and parses.
#[derive(Debug)]
pub(super) struct LineReader {
    pub(super) parser: Parser,
    pub(super) guard: LineGuard,
    events: Vec<Event>,
    /// Bytes of the lines whose events are in `events`.
    event_bytes: usize,
    pub(super) files: u64,
    pub(super) bytes: u64,
    pub(super) lines: u64,
    /// The file being read, and the offset of the next line in it.
    file: PathBuf,
    at: u64,
}

impl LineReader {
    pub(super) fn new(reference_ms: i64) -> Self {
        LineReader {
            parser: Parser::new(reference_ms),
            guard: LineGuard::new(),
            events: Vec::new(),
            event_bytes: 0,
            files: 0,
            bytes: 0,
            lines: 0,
            file: PathBuf::from("-"),
            at: 0,
        }
    }

    /// Parses one line (of `raw_len` bytes in the file, its `\n` not
    /// counted) under the guard; hands a full batch to `out`.
    pub(super) fn line(&mut self, line: &str, raw_len: usize, out: &mut dyn Output) {
        self.lines += 1;
        let (line, truncated) = guard::cut(line);
        if truncated {
            self.guard.truncated();
        }
        let LineReader { parser, guard, events, file, at, .. } = self;
        let origin = LineOrigin { file, offset: Some(*at) };
        *at += raw_len as u64 + 1;
        let before = events.len();
        if guard.run(line, origin, || parser.parse_line(line, events)).is_none() {
            events.truncate(before);
        } else if let Some(new) = events.get_mut(before..)
            && !new.is_empty()
        {
            new.iter_mut().for_each(guard::bound);
            self.event_bytes += line.len().min(LINE_EVENT_BYTES);
        }
        if self.events.len() >= BATCH || self.event_bytes >= BATCH_BYTES {
            self.flush(out);
        }
    }

    /// Hands what is left to `out`.
    pub(super) fn flush(&mut self, out: &mut dyn Output) {
        if !self.events.is_empty() {
            out.events(&mut self.events);
        }
        self.event_bytes = 0;
    }

    /// Continues another reader's file at `offset` (a scan's second parsing thread).
    pub(super) fn seek(&mut self, file: &Path, offset: u64) {
        if self.file != file {
            self.file = file.to_path_buf();
        }
        self.at = offset;
    }

    /// Reads the whole file at `path`.
    pub(super) fn read_file(&mut self, path: &Path, out: &mut dyn Output) -> Result<(), ScanError> {
        let error = |cause| ScanError { path: path.to_path_buf(), cause };
        let file = std::fs::File::open(path).map_err(error)?;
        self.seek(path, 0);
        self.read(file, out).map_err(error)?;
        self.files += 1;
        Ok(())
    }

    /// Reads everything from `input`.
    pub(super) fn read(&mut self, mut input: impl Read, out: &mut dyn Output) -> std::io::Result<()> {
        let mut buf = vec![0u8; BLOCK];
        let mut filled = 0;
        // In the rest of an overlong line, which is skipped.
        let mut skipping = false;
        loop {
            let n = match input.read(&mut buf[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.bytes += n as u64;
            let mut end = filled + n;
            if skipping && n > 0 {
                // `filled` is 0 while skipping.
                let Some(i) = buf[..end].iter().position(|&b| b == b'\n') else {
                    self.at += end as u64;
                    continue;
                };
                self.at += i as u64 + 1;
                buf.copy_within(i + 1..end, 0);
                end -= i + 1;
                skipping = false;
            }
            if n == 0 {
                if end > 0 && !skipping {
                    self.bytes_line(&buf[..end], out);
                }
                return Ok(());
            }
            let whole = buf[..end].iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
            let mut start = 0;
            while start < whole {
                let cut = (start + CHUNK).min(whole);
                let cut = buf[cut..whole].iter().position(|&b| b == b'\n').map_or(whole, |i| cut + i + 1);
                self.chunk(&buf[start..cut], out);
                start = cut;
            }
            if whole == 0 && end == buf.len() {
                // A line longer than the block: its start, cut; the rest skipped.
                let at = self.at;
                // One byte more than kept, so that the line counts as cut.
                self.bytes_line(&buf[..=MAX_LINE], out);
                self.at = at + end as u64;
                filled = 0;
                skipping = true;
            } else {
                buf.copy_within(whole..end, 0);
                filled = end - whole;
            }
        }
    }

    /// Parses (or hands over) a chunk of whole lines.
    fn chunk(&mut self, chunk: &[u8], out: &mut dyn Output) {
        let Ok(text) = std::str::from_utf8(chunk) else {
            // An invalid byte somewhere: line by line, lossily.
            for line in chunk.strip_suffix(b"\n").unwrap_or(chunk).split(|&b| b == b'\n') {
                self.bytes_line(line, out);
            }
            return;
        };
        if out.wants_chunk() && !text.contains("#Fields:") {
            self.flush(out);
            out.chunk(text, self.parser.layout(), &self.file, self.at);
            self.at += text.len() as u64;
            return;
        }
        self.lines_in(text, out);
    }

    /// Parses every `\n`-terminated line of `text`.
    pub(super) fn lines_in(&mut self, text: &str, out: &mut dyn Output) {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', text.as_bytes()) {
            // `\n` is ASCII: both cuts are char boundaries.
            self.line(&text[start..end], end - start, out);
            start = end + 1;
        }
    }

    /// One line of bytes, decoded lossily when it is not UTF-8; at most
    /// [`MAX_LINE`] of them are decoded.
    fn bytes_line(&mut self, line: &[u8], out: &mut dyn Output) {
        let kept = line.get(..MAX_LINE + 1).unwrap_or(line);
        match std::str::from_utf8(kept) {
            Ok(text) => self.line(text, line.len(), out),
            Err(_) => self.line(&String::from_utf8_lossy(kept), line.len(), out),
        }
    }
}
