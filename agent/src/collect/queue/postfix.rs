//! The Postfix queue: `postqueue -j`, or the spool directories.
//!
//! `postqueue -j` (Postfix ≥ 3.1) prints one JSON object per queued message
//! (showq_json.c):
//!
//! ```text
//! {"queue_name": "deferred", "queue_id": "4D8C21560C0", "arrival_time": 1222779312,
//!  "message_size": 5955, "force_expired": false, "sender": "",
//!  "recipients": [{"address": "a@example.net", "delay_reason": "connect to …: No route to host"}]}
//! ```
//!
//! `queue_name` is one of maildrop, incoming, active, deferred, hold;
//! `arrival_time` is Unix seconds; `force_expired` (newer Postfix) and
//! `delay_reason` (only when there is one) are optional; unknown keys are
//! ignored. Senders are counted per message, deferral reasons per recipient.
//!
//! When postqueue is missing or fails (Postfix stopped: "Queue report
//! unavailable - mail system is down"), the regular files under the queue
//! directories are counted instead (`deferred/` and `active/` are hashed into
//! subdirectories, so recursively). That gives counts only: a deferred queue
//! file's mtime is its next retry time, not its arrival, so no age is
//! reported. The collector then fills the queue and still returns an error
//! naming the fallback.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rblfleet_proto::v1::{HostReport, QueueCount, QueueStats};
use serde::Deserialize;

use super::{TOP_N, TopCounter, sender_name, unix_now};
use crate::collect::{CollectError, Collector};
use crate::command;

/// Postfix's queues, in report order; always reported, zero or not.
pub const QUEUES: [&str; 5] = ["active", "deferred", "hold", "incoming", "maildrop"];
/// Longest deferral reason kept (the rest is cut, on a character boundary).
const MAX_REASON: usize = 200;
/// Deepest directory level counted under a queue directory (hashed queues use 1–2).
const MAX_DEPTH: usize = 4;

/// One message of `postqueue -j`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QueuedMessage {
    /// maildrop, incoming, active, deferred or hold.
    pub queue_name: String,
    /// The queue id.
    pub queue_id: String,
    /// Unix seconds.
    pub arrival_time: i64,
    /// Bytes.
    pub message_size: u64,
    /// Envelope sender; empty for bounces.
    pub sender: String,
    /// Recipients still queued.
    #[serde(default)]
    pub recipients: Vec<QueuedRecipient>,
}

/// One recipient of a [`QueuedMessage`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct QueuedRecipient {
    /// The address.
    pub address: String,
    /// Why delivery was deferred, when it was.
    #[serde(default)]
    pub delay_reason: Option<String>,
}

/// Parses one line of `postqueue -j`.
pub fn parse_showq_line(line: &str) -> Result<QueuedMessage, serde_json::Error> {
    serde_json::from_str(line)
}

/// Aggregates messages into [`QueueStats`].
#[derive(Debug, Default)]
pub struct PostfixTally {
    per_queue: BTreeMap<String, u64>,
    total: u64,
    oldest_arrival: Option<i64>,
    senders: TopCounter,
    reasons: TopCounter,
}

impl PostfixTally {
    /// Counts one message.
    pub fn add(&mut self, message: &QueuedMessage) {
        *self.per_queue.entry(message.queue_name.clone()).or_default() += 1;
        self.total += 1;
        self.oldest_arrival = Some(self.oldest_arrival.map_or(message.arrival_time, |t| t.min(message.arrival_time)));
        self.senders.add(sender_name(&message.sender));
        for reason in message.recipients.iter().filter_map(|r| r.delay_reason.as_deref()) {
            let reason = normalize_reason(reason);
            if !reason.is_empty() {
                self.reasons.add(&reason);
            }
        }
    }

    /// The statistics as of `now` (Unix seconds).
    pub fn finish(self, now: u64) -> QueueStats {
        let oldest = self.oldest_arrival.map_or(0, |t| now.saturating_sub(u64::try_from(t).unwrap_or(0)));
        QueueStats {
            counts: queue_counts(self.per_queue),
            total: self.total,
            oldest_age_secs: oldest,
            top_senders: self.senders.top(TOP_N),
            top_deferral_reasons: self.reasons.top(TOP_N),
        }
    }
}

/// Postfix's queues in [`QUEUES`] order, then any other queue name.
fn queue_counts(mut per_queue: BTreeMap<String, u64>) -> Vec<QueueCount> {
    let mut counts: Vec<QueueCount> = QUEUES
        .iter()
        .map(|q| QueueCount { queue: (*q).to_string(), messages: per_queue.remove(*q).unwrap_or(0) })
        .collect();
    counts.extend(per_queue.into_iter().map(|(queue, messages)| QueueCount { queue, messages }));
    counts
}

/// A deferral reason as a grouping key: whitespace collapsed, cut at
/// [`MAX_REASON`] bytes. The remote host stays in it on purpose: "which
/// receiver defers us, and why" is what the top list is for.
pub fn normalize_reason(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len().min(MAX_REASON));
    for word in reason.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
        if out.len() >= MAX_REASON {
            break;
        }
    }
    if out.len() > MAX_REASON {
        let mut cut = MAX_REASON;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// Counts the regular files under each queue directory of `spool`.
pub fn count_spool(spool: &Path) -> Result<QueueStats, String> {
    if !spool.is_dir() {
        return Err(format!("no Postfix queue directory at {}", spool.display()));
    }
    let mut per_queue = BTreeMap::new();
    let mut total = 0;
    for queue in QUEUES {
        let dir = spool.join(queue);
        let n = if dir.is_dir() { count_files(&dir, 0)? } else { 0 };
        per_queue.insert(queue.to_string(), n);
        total += n;
    }
    Ok(QueueStats { counts: queue_counts(per_queue), total, ..QueueStats::default() })
}

fn count_files(dir: &Path, depth: usize) -> Result<u64, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))?;
    let mut n = 0;
    for entry in entries {
        let entry = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?;
        let kind = entry.file_type().map_err(|e| format!("inspecting {}: {e}", entry.path().display()))?;
        if kind.is_file() {
            n += 1;
        } else if kind.is_dir() && depth < MAX_DEPTH {
            n += count_files(&entry.path(), depth + 1)?;
        }
    }
    Ok(n)
}

/// Reports the Postfix queue.
#[derive(Debug, Clone)]
pub struct PostfixCollector {
    postqueue: PathBuf,
    spool: PathBuf,
    timeout: Duration,
}

impl PostfixCollector {
    /// A collector running `postqueue` (within `timeout`) and counting
    /// `spool` when that fails.
    pub fn new(postqueue: PathBuf, spool: PathBuf, timeout: Duration) -> Self {
        Self { postqueue, spool, timeout }
    }

    /// Runs `postqueue -j` and aggregates its output.
    pub fn read_postqueue(&self) -> Result<QueueStats, command::CommandError> {
        let mut tally = PostfixTally::default();
        let mut unreadable = 0u64;
        command::run_lines(&self.postqueue, &["-j"], self.timeout, &mut |line| {
            if line.trim().is_empty() {
                return;
            }
            match parse_showq_line(line) {
                Ok(message) => tally.add(&message),
                Err(e) => {
                    unreadable += 1;
                    if unreadable == 1 {
                        tracing::warn!(error = %e, line, "postqueue -j printed a line that is not a queue entry");
                    }
                }
            }
        })?;
        if unreadable > 1 {
            tracing::warn!(unreadable, "postqueue -j lines skipped");
        }
        Ok(tally.finish(unix_now()))
    }
}

impl Collector for PostfixCollector {
    fn name(&self) -> &'static str {
        "queue"
    }

    fn collect(&mut self, report: &mut HostReport) -> Result<(), CollectError> {
        let error = match self.read_postqueue() {
            Ok(stats) => {
                report.queue = Some(stats);
                return Ok(());
            }
            Err(e) => e,
        };
        match count_spool(&self.spool) {
            Ok(stats) => {
                report.queue = Some(stats);
                Err(CollectError::Other(format!(
                    "{error}; counted the files under {} instead (counts only)",
                    self.spool.display()
                )))
            }
            Err(spool_error) => Err(CollectError::Other(format!("{error}; fallback failed too: {spool_error}"))),
        }
    }
}

#[cfg(test)]
mod tests;
