//! The MailEnable queue (Plesk for Windows): its queue folders.
//!
//! MailEnable keeps one envelope ("command") file per outgoing message in
//! `<root>\Queues\SMTP\Outgoing` (the bodies live in `Outgoing\Messages`,
//! which is not counted), and messages waiting for a retry in
//! `Outgoing\Retry`. An envelope is key=value text, e.g.
//!
//! ```text
//! Recipients=[SMTP:bob@foo.com]
//! Sender=[SMTP:alice@foo.com]
//! Retries=3
//! Status=Unsent
//! ```
//!
//! Reported queues: `outgoing` and `retry` (regular files directly in each
//! folder); the oldest age comes from the files' modification times; the top
//! senders from the envelopes' `Sender=` line (the first 4 KiB of each file
//! are read). There is no MailEnable tool to run, so nothing can hang.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rblfleet_proto::v1::{HostReport, QueueCount, QueueStats};

use super::{TOP_N, TopCounter};
use crate::collect::{CollectError, Collector};

/// Bytes of an envelope read to find its sender.
const ENVELOPE_HEAD: u64 = 4096;

/// Reports the MailEnable queue.
#[derive(Debug, Clone)]
pub struct MailEnableCollector {
    root: PathBuf,
}

impl MailEnableCollector {
    /// A collector for the installation at `root` (the folder holding `Queues`).
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    /// The outgoing queue folder.
    pub fn outgoing(&self) -> PathBuf {
        self.root.join("Queues").join("SMTP").join("Outgoing")
    }

    /// Counts the queue folders as of `now`.
    pub fn read_queue(&self, now: SystemTime) -> Result<QueueStats, CollectError> {
        let outgoing = self.outgoing();
        if !outgoing.is_dir() {
            return Err(CollectError::Other(format!(
                "MailEnable outgoing queue {} not found (check queue.mailenable_root)",
                outgoing.display()
            )));
        }
        let mut senders = TopCounter::default();
        let mut oldest: Option<SystemTime> = None;
        let mut per_queue = BTreeMap::new();
        for (queue, dir) in [("outgoing", outgoing.clone()), ("retry", outgoing.join("Retry"))] {
            let n = if dir.is_dir() { scan(&dir, &mut senders, &mut oldest)? } else { 0 };
            per_queue.insert(queue, n);
        }
        let counts: Vec<QueueCount> = ["outgoing", "retry"]
            .iter()
            .map(|q| QueueCount { queue: (*q).to_string(), messages: per_queue.get(q).copied().unwrap_or(0) })
            .collect();
        Ok(QueueStats {
            total: counts.iter().map(|c| c.messages).sum(),
            counts,
            oldest_age_secs: oldest.and_then(|t| now.duration_since(t).ok()).map_or(0, |d| d.as_secs()),
            top_senders: senders.top(TOP_N),
            top_deferral_reasons: Vec::new(),
        })
    }
}

impl Collector for MailEnableCollector {
    fn name(&self) -> &'static str {
        "queue"
    }

    fn collect(&mut self, report: &mut HostReport) -> Result<(), CollectError> {
        report.queue = Some(self.read_queue(SystemTime::now())?);
        Ok(())
    }
}

/// Counts the regular files directly in `dir`, noting senders and the oldest mtime.
fn scan(dir: &Path, senders: &mut TopCounter, oldest: &mut Option<SystemTime>) -> Result<u64, CollectError> {
    let io = |what: String| move |cause| CollectError::Io { what, cause };
    let entries = std::fs::read_dir(dir).map_err(io(format!("reading the queue folder {}", dir.display())))?;
    let mut n = 0;
    for entry in entries {
        let entry = entry.map_err(io(format!("reading the queue folder {}", dir.display())))?;
        let Ok(meta) = entry.metadata() else {
            continue; // delivered and removed while we looked
        };
        if !meta.is_file() || entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        n += 1;
        if let Ok(modified) = meta.modified() {
            *oldest = Some(oldest.map_or(modified, |o| o.min(modified)));
        }
        if let Some(sender) = envelope_sender(&entry.path()) {
            senders.add(&sender);
        }
    }
    Ok(n)
}

/// The address of an envelope's `Sender=[SMTP:addr]` line.
fn envelope_sender(path: &Path) -> Option<String> {
    let mut head = Vec::new();
    std::fs::File::open(path).ok()?.take(ENVELOPE_HEAD).read_to_end(&mut head).ok()?;
    let text = String::from_utf8_lossy(&head);
    let value = text.lines().find_map(|l| l.trim().strip_prefix("Sender="))?.trim();
    let value = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')).unwrap_or(value);
    let value = value.split_once(':').map_or(value, |(_, addr)| addr).trim();
    Some(if value.is_empty() { "<>".to_string() } else { value.to_string() })
}

#[cfg(test)]
mod tests;
