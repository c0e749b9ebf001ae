//! The outgoing mail queue: one collector per MTA, each filling
//! `report.queue` (counts per queue, total, oldest age, top senders, top
//! deferral reasons; the top lists hold at most [`TOP_N`] entries).
//!
//! - [`postfix`]: `postqueue -j`, or counting the spool directories when
//!   postqueue is missing or fails;
//! - [`qmail`]: `qmail-qstat` and `qmail-qread`;
//! - [`mailenable`]: the queue folders of MailEnable (Plesk for Windows).
//!
//! A missing or failing tool is a collector error, which the agent reports
//! in its status (`CollectorStatus`) and never treats as fatal. When a
//! collector could still fill the queue another way (a fallback, or one of
//! qmail's two tools), it fills it *and* returns the error, so the status
//! says the figures are partial.

pub mod mailenable;
pub mod postfix;
pub mod qmail;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rblfleet_proto::v1::{MtaKind, NamedCount};
use serde::{Deserialize, Serialize};

use crate::collect::Collector;

/// Entries kept in `top_senders` and `top_deferral_reasons`.
pub const TOP_N: usize = 10;

/// `queue.mta`: which MTA's queue to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MtaSetting {
    /// Detect it ([`detect`]).
    #[default]
    Auto,
    /// Postfix.
    Postfix,
    /// qmail.
    Qmail,
    /// MailEnable.
    Mailenable,
    /// Do not report a queue.
    None,
}

/// `[queue]`
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// The MTA.
    #[serde(default)]
    pub mta: MtaSetting,
    /// Postfix's `postqueue`; a bare name is looked for in PATH and the sbin directories.
    #[serde(default = "default_postqueue")]
    pub postqueue: PathBuf,
    /// qmail's `qmail-qstat`.
    #[serde(default = "default_qmail_qstat")]
    pub qmail_qstat: PathBuf,
    /// qmail's `qmail-qread`.
    #[serde(default = "default_qmail_qread")]
    pub qmail_qread: PathBuf,
    /// Postfix's queue directory (`postconf -h queue_directory`), for the fallback count.
    #[serde(default = "default_postfix_spool")]
    pub postfix_spool: PathBuf,
    /// MailEnable's installation directory (holding `Queues`).
    #[serde(default = "default_mailenable_root")]
    pub mailenable_root: PathBuf,
    /// Deadline of one queue tool run; a tool still running is killed.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_postqueue() -> PathBuf {
    PathBuf::from("postqueue")
}
fn default_qmail_qstat() -> PathBuf {
    PathBuf::from("/var/qmail/bin/qmail-qstat")
}
fn default_qmail_qread() -> PathBuf {
    PathBuf::from("/var/qmail/bin/qmail-qread")
}
fn default_postfix_spool() -> PathBuf {
    PathBuf::from("/var/spool/postfix")
}
fn default_mailenable_root() -> PathBuf {
    PathBuf::from(r"C:\Program Files (x86)\Mail Enable")
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            mta: MtaSetting::default(),
            postqueue: default_postqueue(),
            qmail_qstat: default_qmail_qstat(),
            qmail_qread: default_qmail_qread(),
            postfix_spool: default_postfix_spool(),
            mailenable_root: default_mailenable_root(),
            timeout: default_timeout(),
        }
    }
}

/// Directories searched for a bare `postqueue`: PATH, then the usual sbin
/// directories, which a service's PATH often lacks.
const EXTRA_BIN_DIRS: [&str; 4] = ["/usr/sbin", "/usr/bin", "/sbin", "/usr/local/sbin"];

/// The MTA and its queue collector.
///
/// `auto`: Postfix when `postqueue` is found; else qmail when `qmail-qstat`
/// exists (not merely `/var/qmail`: Plesk keeps its mailboxes in
/// `/var/qmail/mailnames` under Postfix too); else MailEnable on Windows when
/// its queue root exists; else none. A configured MTA gets its collector even
/// when its tools are missing, so the status says what is wrong.
pub fn detect(config: &QueueConfig) -> (MtaKind, Option<Box<dyn Collector>>) {
    let postfix = |program: PathBuf| -> (MtaKind, Option<Box<dyn Collector>>) {
        let collector = postfix::PostfixCollector::new(program, config.postfix_spool.clone(), config.timeout);
        (MtaKind::Postfix, Some(Box::new(collector)))
    };
    let qmail = || -> (MtaKind, Option<Box<dyn Collector>>) {
        let collector =
            qmail::QmailCollector::new(config.qmail_qstat.clone(), config.qmail_qread.clone(), config.timeout);
        (MtaKind::Qmail, Some(Box::new(collector)))
    };
    let mailenable = || -> (MtaKind, Option<Box<dyn Collector>>) {
        let collector = mailenable::MailEnableCollector::new(config.mailenable_root.clone());
        (MtaKind::Mailenable, Some(Box::new(collector)))
    };
    match config.mta {
        MtaSetting::None => (MtaKind::None, None),
        MtaSetting::Postfix => postfix(find_program(&config.postqueue).unwrap_or_else(|| config.postqueue.clone())),
        MtaSetting::Qmail => qmail(),
        MtaSetting::Mailenable => mailenable(),
        MtaSetting::Auto => {
            if let Some(program) = find_program(&config.postqueue) {
                postfix(program)
            } else if config.qmail_qstat.is_file() {
                qmail()
            } else if cfg!(windows) && config.mailenable_root.join("Queues").is_dir() {
                mailenable()
            } else {
                (MtaKind::None, None)
            }
        }
    }
}

/// `program` itself when it is a path, else the first match in PATH and
/// [`EXTRA_BIN_DIRS`].
pub fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 || program.is_absolute() {
        return program.is_file().then(|| program.to_path_buf());
    }
    let path_dirs = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    path_dirs
        .into_iter()
        .chain(EXTRA_BIN_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// Counts names with bounded memory: past [`TopCounter::MAX_DISTINCT`]
/// distinct names the rarest are forgotten, which keeps the heavy hitters
/// (the only ones reported) exact for all practical queues.
#[derive(Debug, Default)]
pub(crate) struct TopCounter {
    counts: HashMap<String, u64>,
}

impl TopCounter {
    const MAX_DISTINCT: usize = 10_000;

    pub(crate) fn add(&mut self, name: &str) {
        if let Some(count) = self.counts.get_mut(name) {
            *count += 1;
            return;
        }
        self.counts.insert(name.to_string(), 1);
        let mut floor = 0;
        while self.counts.len() > Self::MAX_DISTINCT / 2 && (floor > 0 || self.counts.len() > Self::MAX_DISTINCT) {
            floor += 1;
            self.counts.retain(|_, count| *count > floor);
        }
    }

    /// The `n` largest counts, largest first, ties by name.
    pub(crate) fn top(self, n: usize) -> Vec<NamedCount> {
        let mut all: Vec<(String, u64)> = self.counts.into_iter().collect();
        all.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        all.into_iter().take(n).map(|(name, count)| NamedCount { name, count }).collect()
    }
}

/// A sender for the top list: the empty envelope sender (bounces) is "<>".
pub(crate) fn sender_name(sender: &str) -> &str {
    if sender.is_empty() { "<>" } else { sender }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests;
