//! Validation of one `HostReport`.
//!
//! Every field an agent sends ends up in the store and in front of a NOC
//! engineer, so every field is bounded (count and length), typed (addresses
//! parse, enums are known, times are sane) and printable (no control
//! characters that would garble a terminal or a CSV).

use std::net::IpAddr;
use std::time::Duration;

use rblfleet_proto::v1::{HostReport, MtaKind, SourceKind};

use crate::clock::millis;
use crate::identity::check_host_id;

/// Bounds a report must respect. Defaults suit a busy Plesk host.
#[derive(Debug, Clone)]
pub struct Limits {
    /// How far in the future a report's period may end (agent clock skew).
    pub max_clock_skew: Duration,
    /// How old a report may be (a backlog older than this is refused).
    pub max_report_age: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_clock_skew: Duration::from_secs(300), max_report_age: Duration::from_secs(30 * 86_400) }
    }
}

/// A report field that is wrong, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct Invalid {
    pub field: String,
    pub reason: String,
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> Invalid {
    Invalid { field: field.into(), reason: reason.into() }
}

const MAX_IPS: usize = 4096;
const MAX_LIST: usize = 1000;
const MAX_SMALL_LIST: usize = 100;
const MAX_NAME: usize = 253;
const MAX_TEXT: usize = 2048;
const MAX_PERIOD_MS: i64 = 7 * 86_400_000;
/// Domains one host may report (the agent's own bound defaults to 10,000).
pub const MAX_DOMAINS: usize = 50_000;
/// Sender domains per report (the agent sends its top 1,000).
pub const MAX_SENDER_DOMAINS: usize = 5_000;

/// A domain in wire form (lowercase ASCII, punycode, no trailing dot).
fn domain(field: &str, value: &str, optional: bool) -> Result<(), Invalid> {
    if value.is_empty() && optional {
        return Ok(());
    }
    rblfleet_proto::domain::valid_domain(value).map_err(|e| {
        let shown: String = value.chars().take(80).map(|c| if c.is_control() { '?' } else { c }).collect();
        invalid(field, format!("{shown:?} {e}"))
    })
}

/// Validates a report received at `now_ms` (Unix ms).
pub fn validate(report: &HostReport, now_ms: i64, limits: &Limits) -> Result<(), Invalid> {
    check_host_id(&report.host_id).map_err(|r| invalid("host_id", r))?;
    if report.epoch == 0 {
        return Err(invalid("epoch", "must be positive"));
    }
    if report.seq == 0 {
        return Err(invalid("seq", "must be positive (sequences start at 1)"));
    }
    check_period(report, now_ms, limits)?;

    let agent = report.agent.as_ref().ok_or_else(|| invalid("agent", "is missing"))?;
    text("agent.version", &agent.version, 64, false)?;
    text("agent.os", &agent.os, 256, true)?;
    text("agent.plesk_version", &agent.plesk_version, 64, true)?;
    text("agent.hostname", &agent.hostname, MAX_NAME, true)?;
    MtaKind::try_from(agent.mta).map_err(|_| invalid("agent.mta", format!("unknown MTA kind {}", agent.mta)))?;

    count("ips", report.ips.len(), MAX_IPS)?;
    for (i, ip) in report.ips.iter().enumerate() {
        address(&format!("ips[{i}].address"), &ip.address, false)?;
        text(&format!("ips[{i}].interface"), &ip.interface, 64, true)?;
        address(&format!("ips[{i}].nat_public_address"), &ip.nat_public_address, true)?;
    }

    if let Some(queue) = &report.queue {
        count("queue.counts", queue.counts.len(), MAX_SMALL_LIST)?;
        for (i, c) in queue.counts.iter().enumerate() {
            text(&format!("queue.counts[{i}].queue"), &c.queue, 64, false)?;
        }
        for (name, list) in
            [("queue.top_senders", &queue.top_senders), ("queue.top_deferral_reasons", &queue.top_deferral_reasons)]
        {
            count(name, list.len(), MAX_SMALL_LIST)?;
            for (i, c) in list.iter().enumerate() {
                text(&format!("{name}[{i}].name"), &c.name, 512, false)?;
            }
        }
    }

    count("blocklist", report.blocklist.len(), MAX_LIST)?;
    for (i, e) in report.blocklist.iter().enumerate() {
        let f = |name: &str| format!("blocklist[{i}].{name}");
        identifier(&f("provider"), &e.provider, 64, false)?;
        text(&f("zone"), &e.zone, MAX_NAME, true)?;
        text(&f("code"), &e.code, 64, true)?;
        address(&f("ip"), &e.ip, true)?;
        identifier(&f("family"), &e.family, 32, true)?;
        domain(&f("domain"), &e.domain, true)?;
        text(&f("sample"), &e.sample, MAX_TEXT, true)?;
        if e.first_seen_ms > e.last_seen_ms {
            return Err(invalid(f("first_seen_ms"), "is after last_seen_ms"));
        }
    }

    if let Some(list) = &report.domains {
        count("domains.domains", list.domains.len(), MAX_DOMAINS)?;
        for (i, d) in list.domains.iter().enumerate() {
            let f = |name: &str| format!("domains.domains[{i}].{name}");
            domain(&f("name"), &d.name, false)?;
            text(&f("unicode"), &d.unicode, 4 * MAX_NAME, true)?;
            text(&f("subscription"), &d.subscription, MAX_NAME, true)?;
        }
        count("domains.sources", list.sources.len(), 16)?;
        for (i, s) in list.sources.iter().enumerate() {
            identifier(&format!("domains.sources[{i}]"), s, 32, false)?;
        }
    }
    count("sender_domains", report.sender_domains.len(), MAX_SENDER_DOMAINS)?;
    for (i, d) in report.sender_domains.iter().enumerate() {
        domain(&format!("sender_domains[{i}].name"), &d.name, false)?;
    }

    count("sources", report.sources.len(), MAX_LIST)?;
    for (i, s) in report.sources.iter().enumerate() {
        let f = |name: &str| format!("sources[{i}].{name}");
        match SourceKind::try_from(s.kind) {
            Ok(SourceKind::Unspecified) => return Err(invalid(f("kind"), "is unspecified")),
            Ok(_) => {}
            Err(_) => {
                return Err(invalid(f("kind"), format!("unknown source kind {}", s.kind)));
            }
        }
        text(&f("id"), &s.id, 512, false)?;
        text(&f("subscription"), &s.subscription, MAX_NAME, true)?;
        count(&f("scripts"), s.scripts.len(), 64)?;
        for (j, script) in s.scripts.iter().enumerate() {
            text(&format!("sources[{i}].scripts[{j}]"), script, 1024, false)?;
        }
        count(&f("reasons"), s.reasons.len(), 32)?;
        for (j, reason) in s.reasons.iter().enumerate() {
            text(&format!("sources[{i}].reasons[{j}]"), reason, 512, false)?;
        }
        if !s.suspicion.is_finite() {
            return Err(invalid(f("suspicion"), "is not a finite number"));
        }
        if s.first_seen_ms > s.last_seen_ms {
            return Err(invalid(f("first_seen_ms"), "is after last_seen_ms"));
        }
    }

    if let Some(status) = &report.status {
        count("status.collectors", status.collectors.len(), 64)?;
        for (i, c) in status.collectors.iter().enumerate() {
            identifier(&format!("status.collectors[{i}].name"), &c.name, 64, false)?;
            text(&format!("status.collectors[{i}].error"), &c.error, MAX_TEXT, true)?;
        }
        count("status.unparsed_lines", status.unparsed_lines.len(), MAX_SMALL_LIST * 2)?;
        for (i, c) in status.unparsed_lines.iter().enumerate() {
            text(&format!("status.unparsed_lines[{i}].name"), &c.name, 128, false)?;
        }
        // The agent counts 64 programs by name, and the rest as "other".
        count("status.failed_lines", status.failed_lines.len(), MAX_SMALL_LIST * 2)?;
        for (i, c) in status.failed_lines.iter().enumerate() {
            text(&format!("status.failed_lines[{i}].name"), &c.name, 128, false)?;
        }
    }
    Ok(())
}

fn check_period(report: &HostReport, now_ms: i64, limits: &Limits) -> Result<(), Invalid> {
    let (start, end) = (report.period_start_ms, report.period_end_ms);
    if start <= 0 {
        return Err(invalid("period_start_ms", "must be a positive Unix time in milliseconds"));
    }
    if end < start {
        return Err(invalid("period_end_ms", "is before period_start_ms"));
    }
    if end - start > MAX_PERIOD_MS {
        return Err(invalid("period_end_ms", "the period is longer than 7 days"));
    }
    let skew = millis(limits.max_clock_skew);
    if end > now_ms.saturating_add(skew) {
        return Err(invalid(
            "period_end_ms",
            format!(
                "is {} in the future (allowed clock skew {}); check the agent's clock",
                human_ms(end - now_ms),
                humantime::format_duration(limits.max_clock_skew)
            ),
        ));
    }
    let age = millis(limits.max_report_age);
    if end < now_ms.saturating_sub(age) {
        return Err(invalid(
            "period_end_ms",
            format!(
                "is {} old; reports older than {} are refused",
                human_ms(now_ms - end),
                humantime::format_duration(limits.max_report_age)
            ),
        ));
    }
    Ok(())
}

fn human_ms(ms: i64) -> String {
    humantime::format_duration(Duration::from_secs(u64::try_from(ms / 1000).unwrap_or(0))).to_string()
}

fn count(field: &str, len: usize, max: usize) -> Result<(), Invalid> {
    if len > max {
        return Err(invalid(field, format!("has {len} entries; the limit is {max}")));
    }
    Ok(())
}

/// Printable text of bounded length; tabs are the only control allowed
/// (reply samples quote log lines, which may contain them).
fn text(field: &str, value: &str, max: usize, may_be_empty: bool) -> Result<(), Invalid> {
    if value.is_empty() && !may_be_empty {
        return Err(invalid(field, "must not be empty"));
    }
    if value.len() > max {
        return Err(invalid(field, format!("is {} bytes long; the limit is {max}", value.len())));
    }
    if let Some(c) = value.chars().find(|&c| c.is_control() && c != '\t') {
        return Err(invalid(field, format!("contains the control character {c:?}")));
    }
    Ok(())
}

/// A lowercase machine identifier such as a provider id or a family.
fn identifier(field: &str, value: &str, max: usize, may_be_empty: bool) -> Result<(), Invalid> {
    text(field, value, max, may_be_empty)?;
    if let Some(c) =
        value.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')))
    {
        return Err(invalid(
            field,
            format!("contains {c:?}; identifiers are lowercase letters, digits, '-', '_' and '.'"),
        ));
    }
    Ok(())
}

fn address(field: &str, value: &str, may_be_empty: bool) -> Result<(), Invalid> {
    if value.is_empty() && may_be_empty {
        return Ok(());
    }
    if value.len() > 64 || value.parse::<IpAddr>().is_err() {
        return Err(invalid(field, format!("{:?} is not an IP address", truncate(value, 64))));
    }
    Ok(())
}

/// The first `max` characters, for quoting hostile input in an error.
pub(crate) fn truncate(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_string(),
    }
}
