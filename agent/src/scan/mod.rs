//! `rblfleet-agent scan`: the whole-log forensic summary, offline.
//!
//! For an admin on one box with no controller: read mail logs from start to
//! end through the same parsers, tracker and aggregator the running agent
//! uses, and summarise them — delivery totals, blocklist hits grouped by
//! (provider, zone, code, IP), and every sending source ranked by suspicion
//! with its reasons. [`render`] prints it as JSON or as tables.
//!
//! The `read` stage turns files into batches of events; the tracker and aggregator
//! take them on another thread ([`scan_files`]).
//!
//! A line that makes a parser panic is counted per program in
//! [`Summary::failed_lines`] and skipped (see [`crate::logs::guard`]); an
//! event that makes the tracker panic is counted under [`ATTRIBUTION`] and
//! the tracker starts again (its half-made joins could misattribute).

mod read;
pub mod render;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use rblfleet_proto::v1::{BlocklistEvidence, DeliveryTotals};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};

use read::{LineReader, Output};
use serde::Serialize;

use crate::attribution::{Aggregator, DEFAULT_MAX_MESSAGES, Limits, RankedSource, Tracker, UserMap};
use crate::logs::guard::{LineGuard, LineOrigin};
use crate::parse::{Event, Layout, pool};

/// The key under which events the tracker failed on are counted.
pub const ATTRIBUTION: &str = "attribution";

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
    /// Lines skipped because parsing them failed (see [`Summary::failed_lines`]).
    pub failed_lines: u64,
    /// Lines longer than 64 KiB, cut there.
    pub truncated_lines: u64,
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
    /// Lines skipped because parsing them failed, per program.
    pub failed_lines: BTreeMap<String, u64>,
}

/// The second stage: events through tracker and aggregator.
#[derive(Debug)]
struct Attribution {
    tracker: Tracker,
    max_messages: usize,
    agg: Aggregator,
    guard: LineGuard,
}

impl Attribution {
    fn new(options: ScanOptions) -> Self {
        let limits = Limits { max_sources: options.max_sources, max_evidence: 10_000, ..Limits::default() };
        Attribution {
            tracker: Tracker::new(options.max_messages, options.users),
            max_messages: options.max_messages,
            agg: Aggregator::new(limits),
            guard: LineGuard::new(),
        }
    }

    fn take(&mut self, events: &[Event]) {
        let Attribution { tracker, agg, guard, max_messages } = self;
        for event in events {
            let origin = LineOrigin { file: Path::new(ATTRIBUTION), offset: None };
            if guard.run(ATTRIBUTION, origin, || tracker.event(event, agg)).is_none() {
                *tracker = Tracker::new(*max_messages, tracker.users().clone());
            }
        }
    }

    fn finish(self, readers: &[&LineReader], top: usize) -> Summary {
        let tracked = self.tracker.stats();
        let sum = |f: &dyn Fn(&LineReader) -> u64| readers.iter().map(|r| f(r)).sum::<u64>();
        let mut guard = LineGuard::new();
        guard.merge(&self.guard);
        readers.iter().for_each(|r| guard.merge(&r.guard));
        let stats = ScanStats {
            files: sum(&|r| r.files),
            bytes: sum(&|r| r.bytes),
            lines: sum(&|r| r.lines),
            unparsed_lines: sum(&|r| r.parser.unparsed().values().sum()),
            failed_lines: guard.failed().values().sum(),
            truncated_lines: guard.truncated_count(),
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
            failed_lines: guard.take().0,
        }
    }
}

impl Output for Attribution {
    fn events(&mut self, events: &mut Vec<Event>) {
        self.take(events);
        pool::recycle(events);
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
        let line = line.strip_suffix('\n').unwrap_or(line);
        self.reader.line(line, line.len(), &mut self.attribution);
    }

    /// Reads everything from `input`.
    pub fn read(&mut self, input: impl Read) -> std::io::Result<()> {
        self.reader.read(input, &mut self.attribution)
    }

    /// Reads the whole file at `path`.
    pub fn read_file(&mut self, path: &Path) -> Result<(), ScanError> {
        self.reader.read_file(path, &mut self.attribution)
    }

    /// The summary, with the `top` most suspicious sources.
    pub fn finish(mut self, top: usize) -> Summary {
        self.reader.flush(&mut self.attribution);
        self.attribution.finish(&[&self.reader], top)
    }
}

/// What the reading thread sends the tracking thread.
enum Work {
    /// Parsed events, in log order.
    Events(Vec<Event>),
    /// Whole lines to parse there, with the MailEnable layout in effect,
    /// the file and the offset they were read at.
    Lines(String, Option<Layout>, PathBuf, u64),
}

/// The reading thread's [`Output`]: batches and chunks go over a channel;
/// a chunk is handed over whenever the tracking thread has almost nothing
/// queued, so both threads keep busy whatever the share of the two stages.
struct Handoff {
    tx: SyncSender<Work>,
    /// Processed batches coming back, to be dropped (and reused) here.
    back: Receiver<Vec<Event>>,
    /// Emptied batch vectors, for the next batches.
    spare: Vec<Vec<Event>>,
    /// Parsed chunks' buffers coming back for the next chunk: a fresh
    /// 128 KiB string per chunk was an mmap and its page faults each time.
    back_text: Receiver<String>,
    queued: Arc<AtomicUsize>,
    /// Hand over every chunk it may (tests: makes the hand-off deterministic).
    always: bool,
}

impl Handoff {
    fn send(&mut self, work: Work) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        // Only fails when the receiver is gone, i.e. it panicked.
        let _ = self.tx.send(work);
    }
}

impl Output for Handoff {
    fn events(&mut self, events: &mut Vec<Event>) {
        // Every batch that came back gives its strings to the pool now (one
        // per call left the rest waiting while the parser allocated anew);
        // one vector is reused, the others kept for the next calls.
        while let Ok(mut done) = self.back.try_recv() {
            pool::recycle(&mut done);
            self.spare.push(done);
        }
        let mut next = self.spare.pop().unwrap_or_default();
        std::mem::swap(events, &mut next);
        self.send(Work::Events(next));
    }

    fn wants_chunk(&mut self) -> bool {
        self.always || self.queued.load(Ordering::Relaxed) < 2
    }

    fn chunk(&mut self, chunk: &str, layout: Option<&Layout>, file: &Path, offset: u64) {
        let mut text = self.back_text.try_recv().unwrap_or_default();
        text.clear();
        text.push_str(chunk);
        self.send(Work::Lines(text, layout.cloned(), file.to_path_buf(), offset));
    }
}

/// Scans `paths` in order (rotated files oldest first, as `ls -tr` gives
/// them). Reading and parsing run on a thread of their own, a few batches
/// ahead of the tracker, which parses whole chunks too when it would
/// otherwise wait. Processed batches go back to the reading thread, which
/// drops the events it allocated and reuses the vectors (freeing another
/// thread's allocations costs both threads the allocator's lock), keeping
/// their strings for the next lines ([`pool`]). Without a
/// second thread the scan runs on one.
pub fn scan_files(paths: &[PathBuf], options: ScanOptions, top: usize) -> Result<Summary, ScanError> {
    scan_files_with(paths, options, top, false)
}

fn scan_files_with(paths: &[PathBuf], options: ScanOptions, top: usize, always: bool) -> Result<Summary, ScanError> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Work>(8);
    let (back_tx, back) = std::sync::mpsc::channel::<Vec<Event>>();
    let (text_tx, back_text) = std::sync::mpsc::channel::<String>();
    let queued = Arc::new(AtomicUsize::new(0));
    let mut handoff = Handoff { tx, back, spare: Vec::new(), back_text, queued: queued.clone(), always };
    let owned: Vec<PathBuf> = paths.to_vec();
    let mut reader = LineReader::new(options.reference_ms);
    let stage = std::thread::Builder::new().name("scan-read".into()).spawn(move || {
        for path in &owned {
            reader.read_file(path, &mut handoff)?;
        }
        reader.flush(&mut handoff);
        Ok::<LineReader, ScanError>(reader)
    });
    let Ok(stage) = stage else {
        let mut scanner = Scanner::new(options);
        for path in paths {
            scanner.read_file(path)?;
        }
        return Ok(scanner.finish(top));
    };
    let mut helper = LineReader::new(options.reference_ms);
    let mut attribution = Attribution::new(options);
    for work in rx {
        match work {
            Work::Events(batch) => {
                attribution.take(&batch);
                // Fails once the reading thread is done; the batch is dropped here then.
                let _ = back_tx.send(batch);
            }
            Work::Lines(text, layout, file, offset) => {
                helper.parser.set_layout(layout);
                helper.seek(&file, offset);
                helper.lines_in(&text, &mut attribution);
                helper.flush(&mut attribution);
                // Fails once the reading thread is done, like the batches.
                let _ = text_tx.send(text);
            }
        }
        queued.fetch_sub(1, Ordering::Relaxed);
    }
    let reader = match stage.join() {
        Ok(result) => result?,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    Ok(attribution.finish(&[&reader, &helper], top))
}

#[cfg(test)]
mod tests;
