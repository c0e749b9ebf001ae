//! Each log source read back and recognised: the last N lines through the
//! agent's own parsers, with the share they understood and the format that
//! dominates. A log the parsers half understand is worse than a missing
//! one: the agent runs, reports, and sees half the bounces.
//!
//! Sources are chosen as the agent chooses them ([`plan`]); nothing is
//! checkpointed (the agent's position is not moved).

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Check;
use crate::logs::journald::JournalSettings;
use crate::logs::{LogsConfig, SourcePlan, plan};
use crate::parse::{Parser, mailenable, parse_syslog};

/// Bytes read from the end of a file at most: N lines of a mail log are
/// rarely more than 300 bytes each.
const MAX_TAIL_BYTES: u64 = 8 << 20;

/// Below this share of understood lines a source is a failure; below
/// [`WARN_SHARE`] a warning.
const FAIL_SHARE: f64 = 0.5;
const WARN_SHARE: f64 = 0.9;

/// One row per log source.
pub fn checks(config: &LogsConfig, lines: usize) -> Vec<Check> {
    match plan(config) {
        Err(e) => vec![Check::failure(
            "logs",
            e.to_string(),
            "set logs.paths to the mail log, or allow the journal (logs.journald = \"auto\")",
        )],
        Ok(SourcePlan::Files(paths)) => paths.iter().map(|p| file(p, lines)).collect(),
        Ok(SourcePlan::Journal) => vec![journal(config, lines)],
    }
}

fn file(path: &Path, lines: usize) -> Check {
    let name = format!("log {}", path.display());
    match tail(path, lines) {
        Ok(text) => judge(&name, &text),
        Err(e) => Check::failure(
            name,
            format!("cannot read it: {e}"),
            "give the agent's user read access (e.g. add it to the adm group), or correct logs.paths",
        ),
    }
}

fn journal(config: &LogsConfig, lines: usize) -> Check {
    const NAME: &str = "log journal";
    let settings = JournalSettings::from_config(config);
    let count = lines.to_string();
    let mut args = vec!["-o", "json", "--no-pager", "-n", count.as_str()];
    args.extend(settings.matches.iter().map(String::as_str));
    let mut text = Vec::new();
    match crate::command::run_lines(&config.journalctl, &args, Duration::from_secs(10), &mut |line| {
        text.push(line.to_string())
    }) {
        Ok(()) => judge(NAME, &text),
        Err(e) => Check::failure(
            NAME,
            e.to_string(),
            "give the agent's user the systemd-journal group, or set logs.paths to the mail log file",
        ),
    }
}

/// The last `lines` lines of a file (fewer when it is shorter).
fn tail(path: &Path, lines: usize) -> std::io::Result<Vec<String>> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(MAX_TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(MAX_TAIL_BYTES).read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut all: Vec<&str> = text.lines().collect();
    if start > 0 && !all.is_empty() {
        all.remove(0); // cut in the middle
    }
    let from = all.len().saturating_sub(lines);
    Ok(all.get(from..).unwrap_or_default().iter().map(|l| (*l).to_string()).collect())
}

/// What wrote a line, as far as its shape tells.
fn format_of(line: &str, now_ms: i64) -> &'static str {
    if line.starts_with('{') {
        return "journald JSON";
    }
    if line.starts_with("#Fields") || mailenable::looks_like_activity_row(line) {
        return "MailEnable";
    }
    match parse_syslog(line, now_ms) {
        Some(l) if l.program.starts_with("postfix") || l.program.contains("/smtp") => "Postfix (syslog)",
        Some(l) if l.program.starts_with("qmail") || l.program == "splogger" || l.program.contains("smtp_auth") => {
            "qmail (syslog)"
        }
        Some(l) if l.program.contains("dovecot") || l.program.contains("imap") || l.program.contains("pop3") => {
            "mail stack (IMAP/POP, filters)"
        }
        Some(_) => "syslog, other programs",
        None if line.starts_with('@') => "qmail (multilog)",
        None => "unknown",
    }
}

/// The verdict on `lines` of one source.
pub fn judge(name: &str, lines: &[String]) -> Check {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let mut parser = Parser::new(now_ms);
    let mut events = Vec::new();
    let mut formats: BTreeMap<&'static str, usize> = BTreeMap::new();
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        events.clear();
        parser.parse_line(line, &mut events);
        *formats.entry(format_of(line, now_ms)).or_default() += 1;
    }
    let stats = parser.stats();
    if stats.lines == 0 {
        return Check::warning(
            name,
            "empty: nothing to recognise yet",
            "check the MTA logs here (a fresh rotation is fine; a log that stays empty is not)",
        );
    }
    let understood = stats.parsed + stats.ignored;
    let share = understood as f64 / stats.lines as f64;
    let format = formats.iter().max_by_key(|(_, n)| **n).map_or("unknown", |(f, _)| *f);
    let detail = format!(
        "{:.0}% of the last {} lines understood ({} with mail events); format: {format}",
        share * 100.0,
        stats.lines,
        stats.parsed
    );
    let unknown_top = parser.unparsed().iter().max_by_key(|(_, n)| **n).map(|(p, n)| format!("{p} ({n} lines)"));
    let fix = format!(
        "check this is the MTA's log (Postfix, qmail, MailEnable); most unknown: {}; `rblfleet-agent scan FILE` shows the rest",
        unknown_top.as_deref().unwrap_or("-")
    );
    if share < FAIL_SHARE {
        Check::failure(name, format!("{detail}: a format the parsers do not know"), fix)
    } else if share < WARN_SHARE || stats.parsed == 0 {
        Check::warning(name, detail, fix)
    } else {
        Check::ok(name, detail)
    }
}
