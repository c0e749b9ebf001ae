//! The first stage of a scan: files to lines to events, in batches.
//!
//! Files are read in large blocks and split into lines in place: valid UTF-8
//! (the normal case) is checked once per chunk and split with `str::find`,
//! which searches with memchr; a chunk with invalid bytes falls back to
//! line-by-line lossy decoding. A line longer than a block is cut there,
//! like the follower does.
//!
//! Parsing is the costliest stage, so the [`Output`] may take a chunk of
//! whole lines to parse itself when it has nothing else to do
//! ([`Output::wants_chunk`]): the tracker's thread then parses too, and the
//! two threads stay busy. A chunk holding a MailEnable `#Fields:` header is
//! always parsed here, so this reader's parser knows the layout in effect
//! for every chunk it hands over.

use std::io::Read;
use std::path::Path;

use super::ScanError;
use crate::parse::{Event, Layout, Parser};

/// Block size of file reads.
pub(super) const BLOCK: usize = 1 << 20;
/// Lines are parsed (or handed over) in chunks of about this size.
const CHUNK: usize = 128 << 10;
/// Events per batch handed to the output.
const BATCH: usize = 4096;

/// Where the reader's work goes.
pub(super) trait Output {
    /// A batch of parsed events; leave the vector empty (drain or swap it).
    fn events(&mut self, events: &mut Vec<Event>);

    /// Whether the output would parse the next chunk itself.
    fn wants_chunk(&mut self) -> bool {
        false
    }

    /// A chunk of whole lines (UTF-8, each ending in `\n`) to parse, with
    /// the MailEnable layout in effect at its start.
    fn chunk(&mut self, _chunk: &str, _layout: Option<&Layout>) {}
}

/// Reads, splits and parses.
#[derive(Debug)]
pub(super) struct LineReader {
    pub(super) parser: Parser,
    events: Vec<Event>,
    pub(super) files: u64,
    pub(super) bytes: u64,
    pub(super) lines: u64,
}

impl LineReader {
    pub(super) fn new(reference_ms: i64) -> Self {
        LineReader { parser: Parser::new(reference_ms), events: Vec::new(), files: 0, bytes: 0, lines: 0 }
    }

    /// Parses one line; hands a full batch to `out`.
    pub(super) fn line(&mut self, line: &str, out: &mut dyn Output) {
        self.lines += 1;
        self.parser.parse_line(line, &mut self.events);
        if self.events.len() >= BATCH {
            out.events(&mut self.events);
        }
    }

    /// Hands what is left to `out`.
    pub(super) fn flush(&mut self, out: &mut dyn Output) {
        if !self.events.is_empty() {
            out.events(&mut self.events);
        }
    }

    /// Reads the whole file at `path`.
    pub(super) fn read_file(&mut self, path: &Path, out: &mut dyn Output) -> Result<(), ScanError> {
        let error = |cause| ScanError { path: path.to_path_buf(), cause };
        let file = std::fs::File::open(path).map_err(error)?;
        self.read(file, out).map_err(error)?;
        self.files += 1;
        Ok(())
    }

    /// Reads everything from `input`.
    pub(super) fn read(&mut self, mut input: impl Read, out: &mut dyn Output) -> std::io::Result<()> {
        let mut buf = vec![0u8; BLOCK];
        let mut filled = 0;
        loop {
            let n = match input.read(&mut buf[filled..]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.bytes += n as u64;
            let end = filled + n;
            if n == 0 {
                if end > 0 {
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
                // A line longer than the block: take it in pieces.
                self.bytes_line(&buf[..end], out);
                filled = 0;
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
            out.chunk(text, self.parser.layout());
            return;
        }
        self.lines_in(text, out);
    }

    /// Parses every `\n`-terminated line of `text`.
    pub(super) fn lines_in(&mut self, text: &str, out: &mut dyn Output) {
        let mut start = 0;
        while let Some(i) = text[start..].find('\n') {
            self.line(&text[start..start + i], out);
            start += i + 1;
        }
    }

    fn bytes_line(&mut self, line: &[u8], out: &mut dyn Output) {
        match std::str::from_utf8(line) {
            Ok(text) => self.line(text, out),
            Err(_) => self.line(&String::from_utf8_lossy(line), out),
        }
    }
}
