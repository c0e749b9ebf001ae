//! `scan` output: JSON for tools, tables for the admin reading it first.
//!
//! JSON (one object):
//!
//! - `totals`: `sent`, `deferred`, `bounced`, `blocklisted` — outgoing
//!   delivery attempts; `blocklisted` counts attempts whose reply has bounce
//!   family `ip` (they are also counted as deferred or bounced);
//! - `blocklist`: evidence groups, most frequent first: `provider`, `zone`,
//!   `code`, `ip` (null when the reply names none), `family`, `temporary`,
//!   `count`, `first_seen`, `last_seen` (RFC 3339 UTC, null when unknown),
//!   `sample` (one reply, cut at 300 characters);
//! - `sources`: most suspicious first: `kind` (`sasl_user`, `local_user`,
//!   `script`, `sender`), `id`, `uid` and `subscription` where known,
//!   `messages`, `recipients`, `recipient_domains`, `sent`, `deferred`,
//!   `bounced`, `blocklisted`, `client_ips`, `scripts`, `first_seen`,
//!   `last_seen`, `suspicion` (number), `reasons` (strings);
//! - `stats`: what was read and what the bounded bookkeeping left out,
//!   including `failed_lines` (skipped: parsing them failed),
//!   `failed_by_program` (the same lines per program, `{"postfix/cleanup":
//!   2}`) and `truncated_lines` (cut at 64 KiB).

use std::io::Write;
use std::time::{Duration, UNIX_EPOCH};

use comfy_table::{ContentArrangement, Table, presets};
use serde::Serialize;

use super::{ScanStats, Summary};
use crate::attribution::{RankedSource, kind_name, suspicion::span};

/// Blocklist groups and suspects shown by the table format.
const TABLE_ROWS: usize = 15;

#[derive(Serialize)]
struct Totals {
    sent: u64,
    deferred: u64,
    bounced: u64,
    blocklisted: u64,
}

#[derive(Serialize)]
struct Evidence<'a> {
    provider: &'a str,
    zone: Option<&'a str>,
    code: Option<&'a str>,
    ip: Option<&'a str>,
    family: &'a str,
    temporary: bool,
    count: u64,
    first_seen: Option<String>,
    last_seen: Option<String>,
    sample: &'a str,
}

#[derive(Serialize)]
struct Source<'a> {
    kind: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    uid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subscription: Option<&'a str>,
    messages: u64,
    recipients: u64,
    recipient_domains: u64,
    sent: u64,
    deferred: u64,
    bounced: u64,
    blocklisted: u64,
    client_ips: u64,
    scripts: &'a [String],
    first_seen: Option<String>,
    last_seen: Option<String>,
    suspicion: f64,
    reasons: &'a [String],
}

#[derive(Serialize)]
struct Document<'a> {
    totals: Totals,
    blocklist: Vec<Evidence<'a>>,
    sources: Vec<Source<'a>>,
    stats: Stats<'a>,
}

/// `stats` with the failed lines per program beside their total, so the
/// document keeps its four top-level keys.
#[derive(Serialize)]
struct Stats<'a> {
    #[serde(flatten)]
    counts: &'a ScanStats,
    failed_by_program: &'a std::collections::BTreeMap<String, u64>,
}

/// Unix ms as RFC 3339 (UTC, seconds); None when unknown.
pub fn rfc3339(ms: i64) -> Option<String> {
    let ms = u64::try_from(ms).ok().filter(|&ms| ms > 0)?;
    Some(humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string())
}

fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Writes `summary` as one pretty-printed JSON object.
pub fn json(summary: &Summary, out: &mut impl Write) -> std::io::Result<()> {
    let t = &summary.totals;
    let document = Document {
        totals: Totals { sent: t.sent, deferred: t.deferred, bounced: t.bounced, blocklisted: t.blocklisted },
        blocklist: summary
            .blocklist
            .iter()
            .map(|e| Evidence {
                provider: &e.provider,
                zone: non_empty(&e.zone),
                code: non_empty(&e.code),
                ip: non_empty(&e.ip),
                family: &e.family,
                temporary: e.temporary,
                count: e.count,
                first_seen: rfc3339(e.first_seen_ms),
                last_seen: rfc3339(e.last_seen_ms),
                sample: &e.sample,
            })
            .collect(),
        sources: summary.sources.iter().map(source).collect(),
        stats: Stats { counts: &summary.stats, failed_by_program: &summary.failed_lines },
    };
    serde_json::to_writer_pretty(&mut *out, &document)?;
    out.write_all(b"\n")
}

fn source(s: &RankedSource) -> Source<'_> {
    let f = &s.figures;
    Source {
        kind: kind_name(s.key.kind),
        id: &s.key.id,
        uid: s.key.uid,
        subscription: s.subscription.as_deref(),
        messages: f.messages,
        recipients: f.recipients,
        recipient_domains: f.recipient_domains,
        sent: f.sent,
        deferred: f.deferred,
        bounced: f.bounced,
        blocklisted: f.blocklisted,
        client_ips: f.client_ips,
        scripts: &s.scripts,
        first_seen: rfc3339(f.first_seen_ms),
        last_seen: rfc3339(f.last_seen_ms),
        suspicion: s.suspicion.score,
        reasons: &s.suspicion.reasons,
    }
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Dynamic).set_header(header);
    if let Some(width) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        table.set_width(width);
    }
    table
}

/// Writes `summary` as the three sections an admin reads first: totals,
/// blocklist hits, top suspects.
pub fn text(summary: &Summary, out: &mut impl Write) -> std::io::Result<()> {
    let (t, st) = (&summary.totals, &summary.stats);
    writeln!(
        out,
        "Read {} file(s), {:.1} MB, {} lines ({} not understood).",
        st.files,
        st.bytes as f64 / 1e6,
        st.lines,
        st.unparsed_lines
    )?;
    if st.failed_lines > 0 {
        let programs: Vec<String> = summary.failed_lines.iter().map(|(p, n)| format!("{p} {n}")).collect();
        writeln!(out, "{} line(s) skipped: parsing them failed ({}).", st.failed_lines, programs.join(", "))?;
    }
    if st.truncated_lines > 0 {
        writeln!(out, "{} line(s) longer than 64 KiB, cut there.", st.truncated_lines)?;
    }
    let attempts = t.sent + t.deferred + t.bounced;
    writeln!(
        out,
        "\nOutgoing delivery attempts: {attempts}  sent {}  deferred {}  bounced {}  refused by blocklists {}{}",
        t.sent,
        t.deferred,
        t.bounced,
        t.blocklisted,
        share(t.blocklisted, attempts)
    )?;
    if st.unattributed_deliveries > 0 {
        writeln!(
            out,
            "({} attempts belong to messages that began before the first line read: counted, not attributed.)",
            st.unattributed_deliveries
        )?;
    }

    writeln!(out, "\nBlocklist hits")?;
    if summary.blocklist.is_empty() {
        writeln!(out, "  none")?;
    } else {
        let mut hits = table(&["COUNT", "PROVIDER", "ZONE", "CODE", "LISTED IP", "FAMILY", "LAST SEEN"]);
        for e in summary.blocklist.iter().take(TABLE_ROWS) {
            hits.add_row(vec![
                e.count.to_string(),
                e.provider.clone(),
                dash(&e.zone),
                dash(&e.code),
                dash(&e.ip),
                format!("{}{}", e.family, if e.temporary { " (temp)" } else { "" }),
                rfc3339(e.last_seen_ms).unwrap_or_else(|| "-".into()),
            ]);
        }
        writeln!(out, "{hits}")?;
        if let Some(top) = summary.blocklist.first() {
            writeln!(out, "  e.g. {}", top.sample)?;
        }
    }

    writeln!(out, "\nTop suspects")?;
    let suspects: Vec<&RankedSource> =
        summary.sources.iter().filter(|s| s.suspicion.score > 0.0).take(TABLE_ROWS).collect();
    if suspects.is_empty() {
        writeln!(out, "  none")?;
        return Ok(());
    }
    let mut rows = table(&["SCORE", "KIND", "SOURCE", "MSGS", "SENT", "DEFER", "BOUNCE", "LISTED", "WHY"]);
    for s in suspects {
        let f = &s.figures;
        let mut who = s.key.id.clone();
        if let Some(uid) = s.key.uid.filter(|_| s.key.kind != rblfleet_proto::v1::SourceKind::LocalUser) {
            who.push_str(&format!(" (uid {uid})"));
        }
        if let Some(sub) = &s.subscription {
            who.push_str(&format!(" [{sub}]"));
        }
        let active = if f.first_seen_ms > 0 {
            format!("; active {}", span(f.last_seen_ms - f.first_seen_ms))
        } else {
            String::new()
        };
        rows.add_row(vec![
            format!("{:.1}", s.suspicion.score),
            kind_name(s.key.kind).to_string(),
            who,
            f.messages.to_string(),
            f.sent.to_string(),
            f.deferred.to_string(),
            f.bounced.to_string(),
            f.blocklisted.to_string(),
            format!("{}{active}", s.suspicion.reasons.join("; ")),
        ]);
    }
    writeln!(out, "{rows}")
}

fn dash(s: &str) -> String {
    if s.is_empty() { "-".into() } else { s.to_string() }
}

/// " (12%)" of a total, empty when the total is zero.
fn share(part: u64, total: u64) -> String {
    if total == 0 { String::new() } else { format!(" ({:.0}%)", part as f64 * 100.0 / total as f64) }
}
