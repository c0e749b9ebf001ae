//! `rblfleet-agent scan`: the whole-log forensic summary, offline.
//!
//! For an admin on one box with no controller: read mail logs from start to
//! end through the same parsers, tracker and aggregator the running agent
//! uses, and summarise them — delivery totals, blocklist hits grouped by
//! (provider, zone, code, IP), and every sending source ranked by suspicion
//! with its reasons. [`render`] prints it as JSON or as tables.
//!
//! [`read`] turns files into batches of events; the tracker and aggregator
//! take them on another thread ([`scan_files`]).

mod read;
pub mod render;

use std::io::Read;
use std::path::{Path, PathBuf};

use rblfleet_proto::v1::{BlocklistEvidence, DeliveryTotals};
use read::LineReader;
use serde::Serialize;

use crate::parse::Event;
use crate::sources::{Aggregator, DEFAULT_MAX_MESSAGES, Limits, RankedSource, Tracker, UserMap};

/// A file could not be scanned.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {cause}")]
pub struct ScanError {
    /// The file.
    pub path: PathBuf,
    /// The I/O error.
    pub cause: std::io::Error,
}

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// uid → subscription.
    pub users: UserMap,
    /// Messages in flight kept by the tracker.
    pub max_messages: usize,
    /// Sources kept while scanning (the least suspicious half is dropped when full).
    pub max_sources: usize,
    /// Reference time for year-less syslog dates (Unix ms; normally now).
    pub reference_ms: i64,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            users: UserMap::default(),
            max_messages: DEFAULT_MAX_MESSAGES * 4,
            max_sources: 200_000,
            reference_ms: i64::try_from(crate::store::outbox::unix_ms()).unwrap_or(i64::MAX),
        }
    }
}

/// What a scan read and what its bookkeeping had to leave out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ScanStats {
    /// Files read.
    pub files: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Lines read.
    pub lines: u64,
    /// Lines no parser understood.
    pub unparsed_lines: u64,
    /// Messages whose lines were joined.
    pub messages: u64,
    /// Messages forgotten before their last line (tracker bound).
    pub evicted_messages: u64,
    /// Outgoing deliveries whose message's first lines were not in the files.
    pub unattributed_deliveries: u64,
    /// Deliveries to local mailboxes (not counted anywhere else).
    pub local_deliveries: u64,
    /// Sources dropped because too many were tracked at once.
    pub dropped_sources: u64,
}

/// The result of a scan.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Outgoing delivery attempts.
    pub totals: DeliveryTotals,
    /// Blocklist evidence, most frequent first.
    pub blocklist: Vec<BlocklistEvidence>,
    /// Sources, most suspicious first.
    pub sources: Vec<RankedSource>,
    /// What was read.
    pub stats: ScanStats,
}

/// The second stage: events through tracker and aggregator.
#[derive(Debug)]
struct Attribution {
    tracker: Tracker,
    agg: Aggregator,
}

impl Attribution {
    fn new(options: ScanOptions) -> Self {
        let limits = Limits { max_sources: options.max_sources, max_evidence: 10_000, ..Limits::default() };
        Attribution { tracker: Tracker::new(options.max_messages, options.users), agg: Aggregator::new(limits) }
    }

    fn take(&mut self, events: &mut Vec<Event>) {
        for event in events.drain(..) {
            self.tracker.event(event, &mut self.agg);
        }
    }

    fn finish(self, reader: &LineReader, top: usize) -> Summary {
        let tracked = self.tracker.stats();
        let stats = ScanStats {
            files: reader.files,
            bytes: reader.bytes,
            lines: reader.lines,
            unparsed_lines: reader.parser.unparsed().values().sum(),
            messages: tracked.messages,
            evicted_messages: tracked.evicted,
            unattributed_deliveries: tracked.unattributed,
            local_deliveries: tracked.local_deliveries,
            dropped_sources: self.agg.sources_dropped,
        };
        Summary {
            totals: self.agg.totals(),
            blocklist: self.agg.evidence(usize::MAX),
            sources: self.agg.ranked(self.tracker.users(), top),
            stats,
        }
    }
}

/// A single-threaded scan, fed line by line or reader by reader.
#[derive(Debug)]
pub struct Scanner {
    reader: LineReader,
    attribution: Attribution,
}

impl Scanner {
    /// A scanner with `options`.
    pub fn new(options: ScanOptions) -> Scanner {
        Scanner { reader: LineReader::new(options.reference_ms), attribution: Attribution::new(options) }
    }

    /// Takes one line (with or without its line end).
    pub fn line(&mut self, line: &str) {
        let Scanner { reader, attribution } = self;
        reader.line(line, &mut |events| attribution.take(events));
    }

    /// Reads everything from `input`.
    pub fn read(&mut self, input: impl Read) -> std::io::Result<()> {
        let Scanner { reader, attribution } = self;
        reader.read(input, &mut |events| attribution.take(events))
    }

    /// Reads the whole file at `path`.
    pub fn read_file(&mut self, path: &Path) -> Result<(), ScanError> {
        let Scanner { reader, attribution } = self;
        reader.read_file(path, &mut |events| attribution.take(events))
    }

    /// The summary, with the `top` most suspicious sources.
    pub fn finish(mut self, top: usize) -> Summary {
        let Scanner { reader, attribution } = &mut self;
        reader.flush(&mut |events| attribution.take(events));
        self.attribution.finish(&self.reader, top)
    }
}

/// Scans `paths` in order (rotated files oldest first, as `ls -tr` gives
/// them). Reading and parsing run on a thread of their own, a few batches
/// ahead of the tracker (the two stages cost about the same); without a
/// second thread the scan runs on one.
pub fn scan_files(paths: &[PathBuf], options: ScanOptions, top: usize) -> Result<Summary, ScanError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Event>>(8);
    let owned: Vec<PathBuf> = paths.to_vec();
    let mut reader = LineReader::new(options.reference_ms);
    let mut attribution = Attribution::new(options.clone());
    let stage = std::thread::Builder::new().name("scan-read".into()).spawn(move || {
        let mut send = |events: &mut Vec<Event>| {
            // Only fails when the receiver is gone, i.e. it panicked.
            let _ = tx.send(std::mem::take(events));
        };
        for path in &owned {
            reader.read_file(path, &mut send)?;
        }
        reader.flush(&mut send);
        Ok::<LineReader, ScanError>(reader)
    });
    let Ok(stage) = stage else {
        let mut scanner = Scanner::new(options);
        for path in paths {
            scanner.read_file(path)?;
        }
        return Ok(scanner.finish(top));
    };
    for mut batch in rx {
        attribution.take(&mut batch);
    }
    let reader = match stage.join() {
        Ok(result) => result?,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    Ok(attribution.finish(&reader, top))
}

#[cfg(test)]
mod tests;
