//! The envelope every syslog-style line shares: time, host, program, pid and
//! the program's own message.
//!
//! Accepts the prefixes real hosts write: traditional syslog (`Nov  7 …`,
//! `Nov 07 …` from Postfix's postlog and journalctl), RFC 3339 (rsyslog's high
//! precision format, journalctl short-iso with `+0200`), and journald's JSON
//! export. The program is whatever the tag says, so Postfix's `syslog_name`
//! variants (`postfix/submission/smtpd`, `postfix-203.0.113.5/smtp`) and
//! Plesk's full-path tags (`/usr/lib64/plesk-9.0/psa-pc-remote`) come through
//! untouched for the dispatcher to interpret.

use serde::Deserialize;

use super::time;

/// A syslog line split into its parts, borrowing from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// Milliseconds since the Unix epoch; `None` if the line had no usable time.
    pub ts_ms: Option<i64>,
    /// The host name the line names (may be empty, e.g. journald without `_HOSTNAME`).
    pub host: &'a str,
    /// The syslog tag without the pid, e.g. `postfix/submission/smtpd`.
    pub program: &'a str,
    /// The pid from `program[pid]`, when there is one.
    pub pid: Option<u32>,
    /// Everything after `program[pid]: `.
    pub message: &'a str,
}

/// A log line that owns its text, for sources (journald JSON) whose fields
/// must be decoded before they can be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedLogLine {
    /// Milliseconds since the Unix epoch.
    pub ts_ms: Option<i64>,
    /// `_HOSTNAME`.
    pub host: String,
    /// `SYSLOG_IDENTIFIER` (else `_COMM`).
    pub program: String,
    /// `SYSLOG_PID` (else `_PID`).
    pub pid: Option<u32>,
    /// `MESSAGE`.
    pub message: String,
}

impl OwnedLogLine {
    /// Borrows this line as a [`LogLine`] for the MTA parsers.
    pub fn as_line(&self) -> LogLine<'_> {
        LogLine { ts_ms: self.ts_ms, host: &self.host, program: &self.program, pid: self.pid, message: &self.message }
    }
}

/// Parses a syslog line, taking zone-less timestamps as UTC. See
/// [`parse_syslog_with_offset`].
pub fn parse_syslog(line: &str, reference_ms: i64) -> Option<LogLine<'_>> {
    parse_syslog_with_offset(line, reference_ms, 0)
}

/// Parses `TIMESTAMP HOST TAG: MESSAGE`.
///
/// Traditional timestamps carry no year: it comes from `reference_ms` (the
/// time the line is read), see `time::infer_year`. Timestamps without a zone
/// are local time; `utc_offset_s` is the host's offset from UTC (seconds east).
/// Returns `None` when the line has no recognisable timestamp or no tag.
pub fn parse_syslog_with_offset(line: &str, reference_ms: i64, utc_offset_s: i32) -> Option<LogLine<'_>> {
    parse_syslog_cached(line, reference_ms, utc_offset_s, &mut time::YearCache::default())
}

/// [`parse_syslog_with_offset`] remembering the year of the last date (the
/// parser's way: consecutive lines share their date).
pub(crate) fn parse_syslog_cached<'a>(
    line: &'a str,
    reference_ms: i64,
    utc_offset_s: i32,
    years: &mut time::YearCache,
) -> Option<LogLine<'a>> {
    let line = line.trim_end_matches(['\n', '\r']);
    let line = strip_priority(line);
    let (ts_ms, used) = match years.last.get(line.as_bytes(), reference_ms, utc_offset_s) {
        Some(same) => same,
        None => {
            let stamp = if line.as_bytes().first()?.is_ascii_digit() {
                time::parse_rfc3339_prefix(line, utc_offset_s)?
            } else {
                let (month, day, tod, used) = time::parse_bsd_prefix(line)?;
                (years.infer(month, day, tod, reference_ms, utc_offset_s)?, used)
            };
            years.last.set(line.as_bytes(), stamp, reference_ms, utc_offset_s);
            stamp
        }
    };
    let rest = line.get(used..)?.strip_prefix(' ')?.trim_start_matches(' ');
    let space = super::util::find_byte(rest, b' ')?;
    let (host, rest) = (&rest[..space], &rest[space + 1..]);
    let (program, pid, message) = split_tag(rest)?;
    Some(LogLine { ts_ms: Some(ts_ms), host, program, pid, message })
}

/// Drops a `<PRI>` prefix left by some forwarders.
fn strip_priority(line: &str) -> &str {
    if let Some(rest) = line.strip_prefix('<')
        && let Some(end) = rest.find('>')
        && end <= 3
        && rest.as_bytes()[..end].iter().all(u8::is_ascii_digit)
        && let Some(after) = rest.get(end + 1..)
    {
        return after;
    }
    line
}

/// Splits `program[pid]: message`. The tag ends at the first `": "` (or a
/// trailing `:`); it may contain `/` (`postfix/smtp`, full paths) and even a
/// space (`greylisting filter[29663]`).
fn split_tag(rest: &str) -> Option<(&str, Option<u32>, &str)> {
    let (tag, message) = match super::util::find_pair(rest, b':', b' ') {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest.strip_suffix(':')?, ""),
    };
    if tag.is_empty() || tag.len() > 160 {
        return None;
    }
    // `[` and `]` are ASCII, so both cuts are char boundaries; the tag is
    // short, so a loop from its end beats a reverse memchr.
    let bracket = tag.strip_suffix(']').and_then(|t| Some((t, t.as_bytes().iter().rposition(|&b| b == b'[')?)));
    let (program, pid) = match bracket {
        Some((t, open)) => (&t[..open], t[open + 1..].parse().ok()),
        None => (tag, None),
    };
    if program.is_empty() {
        return None;
    }
    // Solaris syslogd inserts "[ID 123456 mail.info] " before the message.
    let message = match message.strip_prefix("[ID ").and_then(|m| m.split_once("] ")) {
        Some((_, m)) => m,
        None => message,
    };
    Some((program, pid, message))
}

/// A journald field: a string, or an array of bytes when the value is not
/// valid UTF-8, or an array of strings when the field was set more than once.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum JournalValue {
    Text(String),
    Bytes(Vec<u8>),
    Many(Vec<String>),
}

impl JournalValue {
    fn into_string(self) -> String {
        match self {
            JournalValue::Text(s) => s,
            JournalValue::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
            JournalValue::Many(v) => v.into_iter().next().unwrap_or_default(),
        }
    }
}

/// The journald export fields the parsers need (systemd.journal-fields(7)).
#[derive(Debug, Deserialize)]
struct JournalEntry {
    #[serde(rename = "MESSAGE")]
    message: Option<JournalValue>,
    #[serde(rename = "SYSLOG_IDENTIFIER")]
    identifier: Option<JournalValue>,
    #[serde(rename = "_COMM")]
    comm: Option<JournalValue>,
    #[serde(rename = "SYSLOG_PID")]
    syslog_pid: Option<JournalValue>,
    #[serde(rename = "_PID")]
    pid: Option<JournalValue>,
    #[serde(rename = "__REALTIME_TIMESTAMP")]
    realtime_us: Option<JournalValue>,
    #[serde(rename = "_HOSTNAME")]
    hostname: Option<JournalValue>,
}

/// Parses one line of `journalctl -o json`. Returns `None` for anything that
/// is not a JSON object with a `MESSAGE`.
pub fn parse_journald_json(line: &str) -> Option<OwnedLogLine> {
    let entry: JournalEntry = serde_json::from_str(line.trim()).ok()?;
    let message = entry.message?.into_string();
    let program = entry.identifier.or(entry.comm).map(JournalValue::into_string).unwrap_or_default();
    let pid = entry.syslog_pid.or(entry.pid).and_then(|p| p.into_string().trim().parse().ok());
    let ts_ms =
        entry.realtime_us.and_then(|t| t.into_string().trim().parse::<i64>().ok()).map(|us| us.div_euclid(1000));
    let host = entry.hostname.map(JournalValue::into_string).unwrap_or_default();
    Some(OwnedLogLine { ts_ms, host, program, pid, message })
}
