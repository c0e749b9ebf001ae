//! The first stage of a scan: files to lines to events, in batches.
//!
//! Files are read in large blocks and split into lines in place: valid UTF-8
//! (the normal case) is checked once per block and split with `str::find`,
//! which searches with memchr; a block with invalid bytes falls back to
//! line-by-line lossy decoding. A line longer than a block is cut there,
//! like the follower does. Events leave in batches so that the stage can run
//! on its own thread, ahead of the tracker.

use std::io::Read;
use std::path::Path;

use super::ScanError;
use crate::parse::{Event, Parser};

/// Block size of file reads.
pub(super) const BLOCK: usize = 1 << 20;
/// Events per batch handed to the sink.
const BATCH: usize = 4096;

/// Reads, splits and parses; hands events to a sink in batches.
#[derive(Debug)]
pub(super) struct LineReader {
    pub(super) parser: Parser,
    events: Vec<Event>,
    pub(super) files: u64,
    pub(super) bytes: u64,
    pub(super) lines: u64,
}

/// Where batches go; it must leave the vector empty (drain or take it).
pub(super) type Sink<'a> = dyn FnMut(&mut Vec<Event>) + 'a;

impl LineReader {
    pub(super) fn new(reference_ms: i64) -> Self {
        LineReader { parser: Parser::new(reference_ms), events: Vec::new(), files: 0, bytes: 0, lines: 0 }
    }

    /// Parses one line; hands a full batch to `sink`.
    pub(super) fn line(&mut self, line: &str, sink: &mut Sink<'_>) {
        self.lines += 1;
        self.parser.parse_line(line, &mut self.events);
        if self.events.len() >= BATCH {
            sink(&mut self.events);
        }
    }

    /// Hands what is left to `sink`.
    pub(super) fn flush(&mut self, sink: &mut Sink<'_>) {
        if !self.events.is_empty() {
            sink(&mut self.events);
        }
    }

    /// Reads the whole file at `path`.
    pub(super) fn read_file(&mut self, path: &Path, sink: &mut Sink<'_>) -> Result<(), ScanError> {
        let error = |cause| ScanError { path: path.to_path_buf(), cause };
        let file = std::fs::File::open(path).map_err(error)?;
        self.read(file, sink).map_err(error)?;
        self.files += 1;
        Ok(())
    }

    /// Reads everything from `input`.
    pub(super) fn read(&mut self, mut input: impl Read, sink: &mut Sink<'_>) -> std::io::Result<()> {
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
                    self.bytes_line(&buf[..end], sink);
                }
                return Ok(());
            }
            let start = self.lines_in(&buf[..end], sink);
            if start == 0 && end == buf.len() {
                // A line longer than the block: take it in pieces.
                self.bytes_line(&buf[..end], sink);
                filled = 0;
            } else {
                buf.copy_within(start..end, 0);
                filled = end - start;
            }
        }
    }

    /// Takes every complete line of `block`; returns where the incomplete
    /// last line starts.
    fn lines_in(&mut self, block: &[u8], sink: &mut Sink<'_>) -> usize {
        let (text, clean) = match std::str::from_utf8(block) {
            Ok(text) => (text, true),
            // A character cut by the block boundary, or an invalid byte:
            // the valid prefix fast, the rest line by line.
            Err(e) => (std::str::from_utf8(&block[..e.valid_up_to()]).unwrap_or_default(), false),
        };
        let mut start = 0;
        while let Some(i) = text[start..].find('\n') {
            self.line(&text[start..start + i], sink);
            start += i + 1;
        }
        if clean {
            return start;
        }
        while let Some(i) = block[start..].iter().position(|&b| b == b'\n') {
            self.bytes_line(&block[start..start + i], sink);
            start += i + 1;
        }
        start
    }

    fn bytes_line(&mut self, line: &[u8], sink: &mut Sink<'_>) {
        match std::str::from_utf8(line) {
            Ok(text) => self.line(text, sink),
            Err(_) => self.line(&String::from_utf8_lossy(line), sink),
        }
    }
}
