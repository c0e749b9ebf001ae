//! The mail-log collector ([`MailLog`]): follow the log, parse, join,
//! attribute, and fill each report with the period's totals, blocklist evidence, top
//! sources, envelope sender domains and unparsed-line counts.
//!
//! State lives at two time scales. The tracker (messages in flight) lives as
//! long as the process: a message's lines span report periods. The
//! aggregator and the unparsed counts cover one period and are reset only
//! once the report holding them is stored — together with the log positions
//! of the lines they came from, in one sled transaction — so that a failed
//! store carries the period over into the next report instead of losing it.
//! A restart loses only the tracker's joins: deliveries of messages that
//! began before it are counted, without a source ([`TrackerStats`]).
//!
//! One bad line never stops the stage. Each line is parsed, and its events
//! handed to the tracker, under a [`LineGuard`]: a panic skips the line and
//! counts it in `failed_lines`. What a caught panic may leave half-updated:
//! the line's events (cleared), the parser (harmless: its counters, layout
//! and year cache are each updated by one assignment or one map insert, after
//! the line's parse) and the tracker (started again, as a restart would; a
//! half-made join could point one message's deliveries at another's
//! source). A panic in the aggregator while building a report drops the
//! period's figures (reported in the status) rather than the agent. What
//! cannot be caught (abort, OOM kill) is handled by [`PoisonGuard`].

use std::path::PathBuf;
use std::time::SystemTime;

use rblfleet_proto::v1::{AgentStatus, HostReport, NamedCount};

use super::{CollectError, Collector};
use crate::attribution::{Aggregator, Limits, Tracker, TrackerStats, UserMap, printable};
use crate::config::Config;
use crate::logs::guard::{LineGuard, LineOrigin, bound};
use crate::logs::{CheckpointWrite, Checkpoints, Line, LogSources, LogsConfig, PollStats};
use crate::parse::{Event, Parser};
use crate::store::outbox::unix_ms;

pub(crate) mod poison;

use poison::{PoisonGuard, Verdict};

/// Parses one line into events: [`Parser::parse_line`], or a stand-in in tests.
pub(crate) type ParseFn = fn(&mut Parser, &str, &mut Vec<Event>);

/// Blocklist evidence groups per report (the controller accepts 1000).
const MAX_EVIDENCE: usize = 500;
/// Envelope sender domains per report, most messages first.
const MAX_SENDER_DOMAINS: usize = 1000;
/// Polls per tick at most when the log has more to read: with the default
/// 10,000 lines per poll, a tick catches up on 640,000 lines and leaves the
/// rest to the polls in between.
const DRAIN_ROUNDS: usize = 64;
/// Read errors kept per period for the status.
const MAX_ERRORS: usize = 4;
/// The collector name in `status.collectors`.
const NAME: &str = "logs";

/// See the module documentation.
#[derive(Debug)]
pub(crate) struct MailLog {
    config: LogsConfig,
    checkpoints: Checkpoints,
    logs: Option<LogSources>,
    /// Why the log could not be opened or read during this period.
    errors: Vec<String>,
    parser: Parser,
    parse: ParseFn,
    events: Vec<Event>,
    tracker: Tracker,
    max_messages: usize,
    agg: Aggregator,
    guard: LineGuard,
    poison: PoisonGuard,
    passwd: PathBuf,
    passwd_seen: Option<SystemTime>,
    top: usize,
    logged: TrackerStats,
}

impl MailLog {
    /// Prepares the stage; a log that cannot be opened yet is retried
    /// at every poll and reported in the status meanwhile.
    pub(crate) fn open(config: &Config, checkpoints: Checkpoints) -> MailLog {
        let now = i64::try_from(unix_ms()).unwrap_or(i64::MAX);
        let mut maillog = MailLog {
            config: config.logs.clone(),
            poison: PoisonGuard::open(checkpoints.clone()),
            checkpoints,
            logs: None,
            errors: Vec::new(),
            parser: Parser::new(now),
            parse: Parser::parse_line,
            events: Vec::new(),
            tracker: Tracker::new(config.sources.max_tracked_messages, UserMap::default()),
            max_messages: config.sources.max_tracked_messages,
            agg: Aggregator::new(Limits { max_evidence: MAX_EVIDENCE, ..Limits::default() }),
            guard: LineGuard::new(),
            passwd: config.sources.passwd.clone(),
            passwd_seen: None,
            top: config.sources.top_sources,
            logged: TrackerStats::default(),
        };
        maillog.reload_users();
        maillog.open_logs();
        maillog
    }

    /// The checkpoint tree the report's transaction writes to.
    pub(crate) fn checkpoints(&self) -> &Checkpoints {
        &self.checkpoints
    }

    fn open_logs(&mut self) {
        if self.logs.is_some() {
            return;
        }
        match LogSources::open(&self.config, &self.checkpoints) {
            Ok(logs) => self.logs = Some(logs),
            Err(e) => self.error(format!("opening the mail log: {e}")),
        }
    }

    fn error(&mut self, message: String) {
        if self.errors.len() < MAX_ERRORS && !self.errors.contains(&message) {
            tracing::warn!(error = %message, "mail log");
            self.errors.push(message);
        }
    }

    /// Re-reads the passwd file when it changed; a missing one only costs
    /// the subscription names.
    fn reload_users(&mut self) {
        let modified = std::fs::metadata(&self.passwd).and_then(|m| m.modified()).ok();
        if modified.is_none() || modified == self.passwd_seen {
            return;
        }
        match std::fs::read_to_string(&self.passwd) {
            Ok(text) => {
                self.tracker.set_users(UserMap::from_passwd(&text));
                self.passwd_seen = modified;
            }
            Err(e) => tracing::warn!(path = %self.passwd.display(), error = %e, "cannot read the passwd file"),
        }
    }

    /// Replaces the per-line parse function (tests: a parser bug on demand).
    #[cfg(test)]
    pub(crate) fn set_parse(&mut self, parse: ParseFn) {
        self.parse = parse;
    }

    /// Reads what the log sources have now (one bounded round) into the
    /// tracker and the period's aggregator.
    pub(crate) fn poll(&mut self) -> PollStats {
        self.open_logs();
        let MailLog { logs, parser, parse, events, tracker, max_messages, agg, guard, poison, .. } = self;
        let Some(logs) = logs.as_mut() else { return PollStats::default() };
        parser.set_reference_ms(i64::try_from(unix_ms()).unwrap_or(i64::MAX));
        let (stats, errors) = logs.poll_lines(&mut |line: &Line<'_>| {
            let origin = LineOrigin { file: line.file, offset: line.at.map(|at| at.offset) };
            if poison.before(line) == Verdict::Skip {
                guard.fail(line.text, origin, "the agent stopped (crash, abort or out of memory) on this line");
                return;
            }
            events.clear();
            if guard.run(line.text, origin, || parse(parser, line.text, events)).is_none() {
                events.clear();
                return;
            }
            let attributed = guard.run(line.text, origin, || {
                for event in events.iter_mut() {
                    bound(event);
                    tracker.event(event, agg);
                }
            });
            events.clear();
            if attributed.is_none() {
                *tracker = Tracker::new(*max_messages, tracker.users().clone());
            }
        });
        // Cut lines, and journal entries too long to keep.
        self.guard.add_truncated(stats.truncated);
        for (source, e) in errors {
            self.error(format!("{source}: {e}"));
        }
        stats
    }

    /// Polls until the sources are read to their end (or for
    /// [`DRAIN_ROUNDS`] rounds), before a report.
    pub(crate) fn drain(&mut self) {
        for _ in 0..DRAIN_ROUNDS {
            if !self.poll().more {
                break;
            }
        }
    }

    /// The log positions of every line read since the last stored report.
    pub(crate) fn pending_commit(&self) -> Vec<CheckpointWrite> {
        self.logs.as_ref().map(LogSources::pending_commit).unwrap_or_default()
    }

    /// The report and the positions are stored: start a new period.
    pub(crate) fn committed(&mut self) {
        if let Some(logs) = self.logs.as_mut() {
            logs.mark_committed();
        }
        self.agg.take();
        self.parser.take_unparsed();
        self.guard.take();
        self.poison.committed();
        self.errors.clear();
        let stats = self.tracker.stats();
        if stats.evicted > self.logged.evicted {
            tracing::info!(
                evicted = stats.evicted - self.logged.evicted,
                in_flight = self.tracker.in_flight(),
                "messages forgotten before their last log line (sources.max_tracked_messages); \
                 their later deliveries are reported without a source"
            );
        }
        if stats.unattributed > self.logged.unattributed {
            tracing::debug!(
                deliveries = stats.unattributed - self.logged.unattributed,
                "deliveries of messages whose first lines were not read (before the agent started, or \
                 forgotten): counted in the totals without a source"
            );
        }
        self.logged = stats;
    }

    /// The agent stops cleanly (see [`PoisonGuard::stopped`]).
    pub(crate) fn stopped(&self) {
        self.poison.stopped();
    }
}

impl Collector for MailLog {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Fills the report's mail-log fields (totals, receivers, blocklist
    /// groups, sources) and the status's line counts; the period's read
    /// errors make it fail, with the fields filled all the same.
    fn collect(&mut self, report: &mut HostReport) -> Result<(), CollectError> {
        self.reload_users();
        let (agg, tracker, top) = (&self.agg, &self.tracker, self.top);
        let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let sources = agg.ranked(tracker.users(), top).iter().map(|s| s.to_proto()).collect();
            let senders = agg.sender_domains(MAX_SENDER_DOMAINS);
            (agg.totals(), agg.receivers(), agg.evidence(MAX_EVIDENCE), sources, senders)
        }));
        match built {
            Ok((totals, receivers, blocklist, sources, sender_domains)) => {
                report.sender_domains = sender_domains;
                report.deliveries = Some(totals);
                report.receivers = receivers;
                report.blocklist = blocklist;
                report.sources = sources;
            }
            Err(_) => {
                self.agg.take();
                self.error("building the period's evidence failed (a bug); the period's evidence is lost".into());
            }
        }
        let status = report.status.get_or_insert_with(AgentStatus::default);
        status.unparsed_lines = named_counts(self.parser.unparsed().iter());
        status.failed_lines = named_counts(self.guard.failed().iter());
        status.truncated_lines = self.guard.truncated_count();
        let error = printable(&self.errors.join("; "), 2048);
        if error.is_empty() { Ok(()) } else { Err(CollectError::Other(error)) }
    }
}

/// Counts per name, printable, largest first.
fn named_counts<'a>(counts: impl Iterator<Item = (&'a String, &'a u64)>) -> Vec<NamedCount> {
    let mut named: Vec<NamedCount> = counts
        .map(|(name, &count)| NamedCount { name: printable(name, 128), count })
        .filter(|c| !c.name.is_empty())
        .collect();
    named.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    named
}
