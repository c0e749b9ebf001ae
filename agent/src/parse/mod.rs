//! Mail-log parsers: pure functions from one line to [`Event`]s.
//!
//! [`Parser::parse_line`] detects the line's format (syslog with any timestamp
//! form, journald JSON, qmail's splogger/multilog stamps, MailEnable activity
//! and W3C rows), hands the line to the parser of the program that wrote it,
//! and counts what it could not use per program: an unknown line is a number
//! in a report, never an error, because mail logs carry whatever every daemon
//! on the host decided to say.
//!
//! Nothing here does I/O; the `logs` module reads files and feeds lines in.
//!
//! Lines are text from outside, with whatever characters senders chose: a
//! parser slices a `&str` only at an index it found with an ASCII needle
//! (`find`, `split_once`, `strip_prefix`); fixed lengths and counted runs go
//! through `get`, `split_at_checked` or byte comparisons
//! (`util::strip_prefix_ci`), so no character can land a cut inside itself
//! (issue 11; `tests/fuzz.rs` holds them to it).

pub mod event;
pub mod line;
pub mod mailenable;
pub mod plesk;
pub mod pool;
pub mod postfix;
pub mod qmail;
mod time;

pub use time::civil_from_days;
pub(crate) mod util;

#[cfg(test)]
mod proptests;

use std::collections::BTreeMap;

pub use event::{DeliveryStatus, EnvelopeField, Event, NoticeKind, RejectSource, Verdict};
pub use line::{LogLine, OwnedLogLine, parse_journald_json, parse_syslog, parse_syslog_with_offset};
pub use mailenable::Layout;

/// What a parser made of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Events were produced.
    Parsed,
    /// A known line that carries nothing the agent uses (`connect from …`).
    Ignored,
    /// The parser did not understand the line; it is counted per program.
    Unknown,
}

/// The key under which lines without a recognisable prefix are counted.
pub const UNRECOGNISED: &str = "unrecognised";

/// Beyond this many distinct programs, unknown lines are counted under
/// [`OTHER_PROGRAMS`], so a log full of odd tags cannot grow the map without
/// bound.
const MAX_PROGRAMS: usize = 64;

/// The key for unknown lines of programs beyond the 64 distinct ones counted by name.
pub const OTHER_PROGRAMS: &str = "other";

/// Line totals since the parser was created (or last [`Parser::take_unparsed`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ParseStats {
    /// Every line passed to [`Parser::parse_line`].
    pub lines: u64,
    /// Lines that produced events.
    pub parsed: u64,
    /// Known lines without anything to report.
    pub ignored: u64,
    /// Lines counted in [`Parser::unparsed`].
    pub unknown: u64,
}

/// Which parser a syslog program belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Postfix,
    PcRemote,
    SaslAuthd,
    Qmail,
    /// Mail-stack programs Plesk runs next to the MTA whose lines never carry
    /// evidence (IMAP/POP logins, filters announcing themselves).
    Quiet,
    Other,
}

/// Postfix daemon names, for `syslog_name`s that do not start with "postfix"
/// (e.g. `mail_batch-yahoo/smtp`).
const POSTFIX_DAEMONS: &[&str] = &[
    "smtpd",
    "smtp",
    "lmtp",
    "qmgr",
    "pickup",
    "cleanup",
    "bounce",
    "local",
    "virtual",
    "error",
    "pipe",
    "discard",
    "retry",
    "postscreen",
    "anvil",
    "tlsmgr",
    "scache",
    "master",
    "verify",
    "trivial-rewrite",
    "dnsblog",
];

const QUIET_PROGRAMS: &[&str] = &[
    "dovecot",
    "imapd",
    "pop3d",
    "courier-imapd",
    "courier-pop3d",
    "spamd",
    "spamc",
    "greylisting filter",
    "check-quota",
    "spf",
    "drweb",
    "drweb-filter",
    "dk_sign",
    "dk_check",
    "dmarc",
    "kav",
    "clamd",
    "amavis",
    "opendkim",
    "opendmarc",
    "fail2ban",
];

fn family_of(program: &str) -> Family {
    let base = util::last_component(program);
    if base == "psa-pc-remote" {
        return Family::PcRemote;
    }
    if program == "plesk_saslauthd" {
        return Family::SaslAuthd;
    }
    if program.starts_with("postfix")
        || (program.contains('/') && !program.starts_with('/') && POSTFIX_DAEMONS.contains(&base))
    {
        return Family::Postfix;
    }
    if base.starts_with("qmail") || base == "smtp_auth" || base == "relaylock" || base == "splogger" {
        return Family::Qmail;
    }
    if QUIET_PROGRAMS.contains(&base) || base.starts_with("dovecot") {
        return Family::Quiet;
    }
    Family::Other
}

/// Parses one syslog-style line with the parser its program calls for.
pub fn dispatch(line: &LogLine, out: &mut Vec<Event>) -> Outcome {
    match family_of(line.program) {
        Family::Postfix => postfix::parse(line, out),
        Family::PcRemote => plesk::parse_pc_remote(line, out),
        Family::SaslAuthd => plesk::parse_saslauthd(line, out),
        Family::Qmail => qmail::parse(line, out),
        Family::Quiet => Outcome::Ignored,
        Family::Other => Outcome::Unknown,
    }
}

/// A stateful line parser: remembers the reference time for year-less
/// timestamps, the host's UTC offset, the last MailEnable `#Fields:` header,
/// and the counts of lines it could not use.
#[derive(Debug, Clone)]
pub struct Parser {
    reference_ms: i64,
    utc_offset_s: i32,
    unparsed: BTreeMap<String, u64>,
    stats: ParseStats,
    layout: Option<Layout>,
    years: time::YearCache,
}

impl Parser {
    /// A parser that places year-less syslog dates relative to `reference_ms`
    /// (normally "now") and reads zone-less times as UTC.
    pub fn new(reference_ms: i64) -> Self {
        Parser {
            reference_ms,
            utc_offset_s: 0,
            unparsed: BTreeMap::new(),
            stats: ParseStats::default(),
            layout: None,
            years: time::YearCache::default(),
        }
    }

    /// Reads zone-less timestamps as local time `utc_offset_s` seconds east of UTC.
    pub fn with_utc_offset(mut self, utc_offset_s: i32) -> Self {
        self.utc_offset_s = utc_offset_s;
        self
    }

    /// Moves the reference time (a long-running reader calls this as time passes).
    pub fn set_reference_ms(&mut self, reference_ms: i64) {
        self.reference_ms = reference_ms;
    }

    /// Unknown lines per program since creation or the last [`Self::take_unparsed`].
    pub fn unparsed(&self) -> &BTreeMap<String, u64> {
        &self.unparsed
    }

    /// Line totals.
    pub fn stats(&self) -> ParseStats {
        self.stats
    }

    /// The MailEnable `#Fields:` layout in effect (from the last header seen).
    pub fn layout(&self) -> Option<&Layout> {
        self.layout.as_ref()
    }

    /// Sets the layout in effect, for a parser that continues another's
    /// stream in the middle (a scan's second parsing thread).
    pub fn set_layout(&mut self, layout: Option<Layout>) {
        self.layout = layout;
    }

    /// Returns and resets the unknown-line counts and totals, for per-interval
    /// reporting. The remembered `#Fields:` layout is kept.
    pub fn take_unparsed(&mut self) -> (BTreeMap<String, u64>, ParseStats) {
        (std::mem::take(&mut self.unparsed), std::mem::take(&mut self.stats))
    }

    /// Parses one raw line (with or without its newline) into `out`.
    pub fn parse_line(&mut self, raw: &str, out: &mut Vec<Event>) {
        self.stats.lines += 1;
        let line = raw.trim_end_matches(['\n', '\r']);
        match self.route(line, out) {
            Outcome::Parsed => self.stats.parsed += 1,
            Outcome::Ignored => self.stats.ignored += 1,
            Outcome::Unknown => self.stats.unknown += 1,
        }
    }

    /// Picks the format and the parser; counts unknown lines under their
    /// program (or [`UNRECOGNISED`]).
    fn route(&mut self, line: &str, out: &mut Vec<Event>) -> Outcome {
        let Some(&first) = line.as_bytes().first() else { return Outcome::Ignored };
        match first {
            b'{' => {
                let Some(owned) = parse_journald_json(line) else { return self.unknown(UNRECOGNISED) };
                let outcome = dispatch(&owned.as_line(), out);
                return self.counted(outcome, &owned.program);
            }
            b'#' => {
                if let Some(layout) = Layout::from_fields_header(line) {
                    self.layout = Some(layout);
                }
                return Outcome::Ignored;
            }
            b'[' if line.contains("LOG FILE STARTED") || line.contains("LOG FILE ENDED") => return Outcome::Ignored,
            b'@' => return self.bare_qmail(line, out),
            _ => {}
        }
        // A line that starts with a printable ASCII byte is not blank: the
        // trim (which reads the whole line when it is not) is left for the rest.
        if !first.is_ascii_graphic() && line.trim().is_empty() {
            return Outcome::Ignored;
        }
        if mailenable::looks_like_activity_row(line) {
            let outcome = mailenable::parse_row(line, &Layout::activity(), self.utc_offset_s, out);
            return self.counted(outcome, "mailenable");
        }
        if let Some(parsed) = line::parse_syslog_cached(line, self.reference_ms, self.utc_offset_s, &mut self.years) {
            let outcome = dispatch(&parsed, out);
            return self.counted(outcome, parsed.program);
        }
        if first.is_ascii_digit() {
            if let Some(layout) = &self.layout {
                let outcome = mailenable::parse_row(line, layout, self.utc_offset_s, out);
                if outcome != Outcome::Unknown {
                    return outcome;
                }
            }
            if time::parse_qmail_stamp(line).is_some() {
                return self.bare_qmail(line, out);
            }
        }
        self.unknown(UNRECOGNISED)
    }

    /// qmail-send output without syslog (splogger/multilog files).
    fn bare_qmail(&mut self, line: &str, out: &mut Vec<Event>) -> Outcome {
        if time::parse_qmail_stamp(line).is_none() {
            return self.unknown(UNRECOGNISED);
        }
        let view = LogLine { ts_ms: None, host: "", program: "qmail", pid: None, message: line };
        let outcome = qmail::parse(&view, out);
        self.counted(outcome, "qmail")
    }

    fn counted(&mut self, outcome: Outcome, program: &str) -> Outcome {
        if outcome == Outcome::Unknown {
            self.count_unknown(program);
        }
        outcome
    }

    fn unknown(&mut self, key: &str) -> Outcome {
        self.count_unknown(key);
        Outcome::Unknown
    }

    fn count_unknown(&mut self, program: &str) {
        let key = if program.is_empty() { UNRECOGNISED } else { program };
        if let Some(n) = self.unparsed.get_mut(key) {
            *n += 1;
        } else if self.unparsed.len() < MAX_PROGRAMS {
            self.unparsed.insert(key.to_string(), 1);
        } else {
            *self.unparsed.entry(OTHER_PROGRAMS.to_string()).or_insert(0) += 1;
        }
    }
}
