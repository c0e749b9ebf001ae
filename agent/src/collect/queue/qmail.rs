//! The qmail queue: `qmail-qstat` for the counts, `qmail-qread` for the
//! per-message details.
//!
//! `qmail-qstat` (a shell script counting `queue/mess` and `queue/todo`):
//!
//! ```text
//! messages in queue: 27645
//! messages in queue but not yet preprocessed: 82
//! ```
//!
//! `qmail-qread` (qmail-qread.c): per message a line with the queue time
//! (date822fmt without the zone, then "GMT"), the inode, the size, the
//! sender, and " bouncing" while a bounce is pending; then one line per
//! recipient, "\tremote\t<rcpt>" or "\tlocal\t<rcpt>", prefixed with
//! "  done" once delivered. Problems come out on stdout too ("warning:
//! trouble with #…"); they are skipped.
//!
//! ```text
//! 18 Jul 2005 15:03:07 GMT  #2996948  9073  <> bouncing
//!   done<TAB>remote<TAB>user1@example.com
//! <TAB>remote<TAB>user2@example.com
//! ```
//!
//! Reported queues: `remote` and `local` (messages with at least one
//! recipient not yet done on that channel), `todo` (not yet preprocessed).
//! The total is qmail-qstat's "messages in queue" (every message has a file
//! in `mess`, including those in `todo`). When only one tool works, its part
//! is reported and the collector returns an error naming the other.

use std::path::PathBuf;
use std::time::Duration;

use rblfleet_proto::v1::{HostReport, QueueCount, QueueStats};

use super::{TOP_N, TopCounter, sender_name, unix_now};
use crate::collect::{CollectError, Collector};
use crate::command;

/// What `qmail-qstat` says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Qstat {
    /// "messages in queue".
    pub in_queue: Option<u64>,
    /// "messages in queue but not yet preprocessed".
    pub todo: Option<u64>,
}

impl Qstat {
    /// Takes in one line of `qmail-qstat` output.
    pub fn add_line(&mut self, line: &str) {
        let Some((label, value)) = line.rsplit_once(':') else {
            return;
        };
        let Ok(value) = value.trim().parse::<u64>() else {
            return;
        };
        match label.trim() {
            "messages in queue" => self.in_queue = Some(value),
            "messages in queue but not yet preprocessed" => self.todo = Some(value),
            _ => {}
        }
    }
}

/// Aggregates `qmail-qread` output.
#[derive(Debug, Default)]
pub struct QreadTally {
    messages: u64,
    remote: u64,
    local: u64,
    oldest: Option<i64>,
    senders: TopCounter,
    /// Pending (remote, local) recipients of the message being read.
    current: Option<(bool, bool)>,
}

impl QreadTally {
    /// Takes in one line of `qmail-qread` output.
    pub fn add_line(&mut self, line: &str) {
        if let Some(rest) = line.strip_prefix("  done\t").or_else(|| line.strip_prefix('\t')) {
            let done = line.starts_with("  done");
            if let (Some(current), false) = (self.current.as_mut(), done) {
                match rest.split('\t').next() {
                    Some("remote") => current.0 = true,
                    Some("local") => current.1 = true,
                    _ => {}
                }
            }
            return;
        }
        if let Some((queued_at, sender)) = parse_message_line(line) {
            self.end_message();
            self.messages += 1;
            if let Some(t) = queued_at {
                self.oldest = Some(self.oldest.map_or(t, |o| o.min(t)));
            }
            self.senders.add(sender_name(sender));
            self.current = Some((false, false));
        }
    }

    fn end_message(&mut self) {
        if let Some((remote, local)) = self.current.take() {
            self.remote += u64::from(remote);
            self.local += u64::from(local);
        }
    }

    /// Messages listed.
    pub fn messages(&self) -> u64 {
        self.messages
    }
}

/// The statistics from whichever tools worked, as of `now` (Unix seconds).
pub fn queue_stats(qstat: Option<Qstat>, qread: Option<QreadTally>, now: u64) -> QueueStats {
    let mut stats = QueueStats::default();
    let mut counts = Vec::new();
    if let Some(mut qread) = qread {
        qread.end_message();
        counts.push(QueueCount { queue: "local".into(), messages: qread.local });
        counts.push(QueueCount { queue: "remote".into(), messages: qread.remote });
        stats.total = qread.messages;
        stats.oldest_age_secs = qread.oldest.map_or(0, |t| now.saturating_sub(u64::try_from(t).unwrap_or(0)));
        stats.top_senders = qread.senders.top(TOP_N);
    }
    if let Some(qstat) = qstat {
        if let Some(todo) = qstat.todo {
            counts.push(QueueCount { queue: "todo".into(), messages: todo });
        }
        if let Some(in_queue) = qstat.in_queue {
            stats.total = in_queue;
        }
    }
    stats.counts = counts;
    stats
}

/// The queue time (Unix seconds, if it parses) and sender of a message line.
fn parse_message_line(line: &str) -> Option<(Option<i64>, &str)> {
    let (date, rest) = line.split_once(" GMT  #")?;
    let open = rest.find('<')?;
    let close = rest.rfind('>')?;
    let sender = rest.get(open + 1..close)?;
    Some((parse_date(date), sender))
}

/// "18 Jul 2005 15:03:07" (UTC) → Unix seconds.
fn parse_date(date: &str) -> Option<i64> {
    let mut parts = date.split_whitespace();
    let day: i64 = parts.next()?.parse().ok()?;
    let month = parts.next()?;
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = i64::try_from(MONTHS.iter().position(|m| m.eq_ignore_ascii_case(month))? + 1).ok()?;
    if !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// algorithm), so the agent needs no date crate for one timestamp format.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Reports the qmail queue.
#[derive(Debug, Clone)]
pub struct QmailCollector {
    qstat: PathBuf,
    qread: PathBuf,
    timeout: Duration,
}

impl QmailCollector {
    /// A collector running both tools, each within `timeout`.
    pub fn new(qstat: PathBuf, qread: PathBuf, timeout: Duration) -> Self {
        Self { qstat, qread, timeout }
    }
}

impl Collector for QmailCollector {
    fn name(&self) -> &'static str {
        "queue"
    }

    fn collect(&mut self, report: &mut HostReport) -> Result<(), CollectError> {
        let mut qstat = Qstat::default();
        let qstat_result = command::run_lines(&self.qstat, &[], self.timeout, &mut |l| qstat.add_line(l));
        let qstat = match qstat_result {
            Ok(()) if qstat.in_queue.is_some() => Ok(qstat),
            Ok(()) => Err(format!("{}: no \"messages in queue\" line in its output", self.qstat.display())),
            Err(e) => Err(e.to_string()),
        };
        let mut qread = QreadTally::default();
        let qread_result = command::run_lines(&self.qread, &[], self.timeout, &mut |l| qread.add_line(l));
        let qread = qread_result.map(|()| qread).map_err(|e| e.to_string());
        let error = match (&qstat, &qread) {
            (Ok(_), Ok(_)) => None,
            (Err(e), Ok(_)) => Some(format!("{e}; counted from qmail-qread only")),
            (Ok(_), Err(e)) => Some(format!("{e}; totals from qmail-qstat only")),
            (Err(a), Err(b)) => return Err(CollectError::Other(format!("{a}; {b}"))),
        };
        report.queue = Some(queue_stats(qstat.ok(), qread.ok(), unix_now()));
        match error {
            Some(e) => Err(CollectError::Other(e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
