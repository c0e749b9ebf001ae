//! Rendering helpers shared by commands: times, ages, tables, JSON shapes.
//! Rendering knows nothing of storage or transport.

mod grid;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use comfy_table::ColumnConstraint;
pub use grid::Grid;
use rblfleet_proto::v1::{HostIp, HostSummary, MtaKind};
use serde_json::{Value, json};

/// Unix ms as RFC 3339 (UTC, seconds), or null/"-" when unknown.
pub fn rfc3339(ms: i64) -> Option<String> {
    let ms = u64::try_from(ms).ok().filter(|&ms| ms > 0)?;
    Some(humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string())
}

/// Seconds since `ms`, or None when unknown.
pub fn age_secs(ms: i64, now: SystemTime) -> Option<u64> {
    let at = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).ok().filter(|&ms| ms > 0)?);
    Some(now.duration_since(at).map(|d| d.as_secs()).unwrap_or(0))
}

/// "42s", "7m", "3h", "2d": coarse, for columns.
pub fn short_age(secs: u64) -> String {
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

pub fn mta_name(mta: i32) -> &'static str {
    match MtaKind::try_from(mta) {
        Ok(MtaKind::Postfix) => "postfix",
        Ok(MtaKind::Qmail) => "qmail",
        Ok(MtaKind::Mailenable) => "mailenable",
        Ok(MtaKind::Other) => "other",
        Ok(MtaKind::None) => "none",
        Ok(MtaKind::Unspecified) | Err(_) => "unknown",
    }
}

/// A plain-text table (no colour, no box drawing) that fits the terminal
/// when there is one, wraps only between words, and does not wrap when
/// piped: see [`Grid`].
pub fn table(header: &[&str]) -> Grid {
    Grid::new(header)
}

/// Keeps these columns at their content's width (short values: IPs, times,
/// states), so the wrapping falls on the long text columns.
pub fn keep_width(table: &mut Grid, columns: &[usize]) {
    for &i in columns {
        if let Some(column) = table.column_mut(i) {
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
}

/// The addresses a host sends from, NAT-published ones shown as "private→public".
pub fn ip_list(ips: &[HostIp]) -> String {
    let shown: Vec<String> = ips
        .iter()
        .map(|ip| {
            if ip.nat_public_address.is_empty() {
                ip.address.clone()
            } else {
                format!("{}→{}", ip.address, ip.nat_public_address)
            }
        })
        .collect();
    if shown.is_empty() { "-".into() } else { shown.join(" ") }
}

pub fn ip_json(ip: &HostIp) -> Value {
    json!({
        "address": ip.address,
        "interface": non_empty(&ip.interface),
        "public": ip.public,
        "sends_mail": ip.sends_mail,
        "nat_public_address": non_empty(&ip.nat_public_address),
    })
}

/// The JSON shape of one host in `hosts` and `host` output.
pub fn host_json(host: &HostSummary, now: SystemTime, silent_after: Duration) -> Value {
    let age = age_secs(host.last_report_ms, now);
    json!({
        "host_id": host.host_id,
        "silent": age.is_none_or(|a| a > silent_after.as_secs()),
        "last_report": rfc3339(host.last_report_ms),
        "last_report_age_secs": age,
        "first_seen": rfc3339(host.first_seen_ms),
        "agent_version": host.agent_version,
        "os": non_empty(&host.os),
        "mta": mta_name(host.mta),
        "plesk_version": non_empty(&host.plesk_version),
        "epoch": host.epoch,
        "last_seq": host.last_seq,
        "reports_stored": host.reports_stored,
        "seq_gaps": host.seq_gaps,
        "ips": host.ips.iter().map(ip_json).collect::<Vec<_>>(),
    })
}

pub fn non_empty(s: &str) -> Value {
    if s.is_empty() { Value::Null } else { Value::String(s.to_string()) }
}

/// "11-27 14:03" (UTC, minutes) for table cells; "-" when unknown.
pub fn short_time(ms: i64) -> String {
    rfc3339(ms).map_or_else(|| "-".into(), |t| t.replace('T', " ").chars().skip(5).take(11).collect())
}

/// A case state's name as the CLI shows and accepts it.
pub fn case_state(state: i32) -> &'static str {
    rblfleet_proto::v1::CaseState::try_from(state).map_or("unknown", crate::cases::state_name)
}

/// How to get off a list, in one cell.
pub fn delist_route(route: Option<&rblfleet_proto::v1::DelistRoute>) -> String {
    let Some(r) = route else { return "-".into() };
    match r.kind.as_str() {
        "auto_expire" if r.expiry_secs > 0 => {
            format!("expires by itself (~{})", humantime::format_duration(Duration::from_secs(r.expiry_secs)))
        }
        "auto_expire" => "expires by itself".into(),
        _ if !r.url.is_empty() => format!("{}: {}", r.kind.replace('_', " "), r.url),
        "" => "-".into(),
        kind => kind.replace('_', " "),
    }
}

/// A suspect in one short phrase: "sasl_user info@shop.example on web07".
pub fn suspect_short(s: &rblfleet_proto::v1::Suspect) -> String {
    format!("{} {} on {}", source_kind(s.kind), s.id, s.host_id)
}

pub fn source_kind(kind: i32) -> &'static str {
    crate::fleet::source_kind_name(kind)
}

pub fn suspect_json(s: &rblfleet_proto::v1::Suspect) -> Value {
    json!({
        "host": s.host_id, "kind": source_kind(s.kind), "id": s.id, "uid": s.uid,
        "subscription": non_empty(&s.subscription), "score": s.score, "reasons": s.reasons, "hints": s.hints,
        "messages": s.messages, "bounced": s.bounced, "blocklisted": s.blocklisted,
        "recipient_domains": s.recipient_domains, "client_ips": s.client_ips, "scripts": s.scripts,
    })
}
