//! Early warnings in the CLI (issue 15): the report's "at risk" section,
//! the host's warnings and baselines, a case's warning and lead time.

use std::io::Write;

use rblfleet_proto::v1::{BaselineRow, OutbreakWarning};
use serde_json::{Value, json};

use super::render::{self, rfc3339, short_time};

/// "mailbox info@shop.example" or "the host as a whole".
pub fn subject(w: &OutbreakWarning) -> String {
    if w.source_id.is_empty() {
        "the host as a whole".into()
    } else {
        format!("{} {}", render::source_kind(w.source_kind), w.source_id)
    }
}

/// A lead time in minutes, hours or days ("47 min", "3.5 h").
pub fn lead(ms: i64) -> String {
    let min = ms / 60_000;
    match min {
        ..120 => format!("{min} min"),
        120..2880 => format!("{:.1} h", ms as f64 / 3_600_000.0),
        _ => format!("{:.1} days", ms as f64 / 86_400_000.0),
    }
}

pub fn warning_json(w: &OutbreakWarning) -> Value {
    let kind = if w.source_id.is_empty() { "host" } else { render::source_kind(w.source_kind) };
    json!({
        "host": w.host_id, "ips": w.ips, "source_kind": kind, "source": render::non_empty(&w.source_id),
        "subscription": render::non_empty(&w.subscription), "score": w.score, "reasons": w.reasons,
        "first_step": w.first_step, "since": rfc3339(w.first_seen_ms), "last_seen": rfc3339(w.last_seen_ms),
        "cleared": rfc3339(w.cleared_ms), "active": w.cleared_ms == 0,
        "listings_after": w.leads.iter().map(|l| json!({
            "ip": l.ip, "list_id": l.list_id, "list": l.list, "listed": rfc3339(l.listed_ms),
            "lead_secs": l.lead_ms / 1000,
        })).collect::<Vec<_>>(),
    })
}

pub fn baseline_json(b: &BaselineRow) -> Value {
    let kind = if b.source_id.is_empty() { "host" } else { render::source_kind(b.source_kind) };
    json!({
        "source_kind": kind, "source": render::non_empty(&b.source_id), "warned": b.warned, "signals": b.signals,
        "usual": {"messages_per_hour": b.usual_messages, "recipient_domains": b.usual_recipient_domains,
                  "client_ips": b.usual_client_ips, "bounce_ratio": b.usual_bounce_ratio},
        "last_30_min": {"messages_per_hour": b.recent_messages, "recipient_domains": b.recent_recipient_domains,
                        "client_ips": b.recent_client_ips, "bounce_ratio": b.recent_bounce_ratio},
    })
}

/// One warning as an indented block: who, since when, why, what to do.
pub fn write_warning(out: &mut dyn Write, w: &OutbreakWarning, show_host: bool) -> std::io::Result<()> {
    let host = if show_host { format!("{}: ", w.host_id) } else { String::new() };
    let state = if w.cleared_ms == 0 {
        format!("since {}", short_time(w.first_seen_ms))
    } else {
        format!("{} to {}", short_time(w.first_seen_ms), short_time(w.cleared_ms))
    };
    let subscription =
        if w.subscription.is_empty() { String::new() } else { format!(" (subscription {})", w.subscription) };
    writeln!(out, "  {host}{}{subscription}  score {:.1}, {state}", subject(w), w.score)?;
    if !w.ips.is_empty() {
        writeln!(out, "      IPs: {}", w.ips.join(", "))?;
    }
    for reason in &w.reasons {
        writeln!(out, "      - {reason}")?;
    }
    writeln!(out, "      first step: {}", w.first_step)?;
    for l in &w.leads {
        writeln!(
            out,
            "      then listed: {} on {} at {}, {} after the warning",
            l.ip,
            l.list,
            short_time(l.listed_ms),
            lead(l.lead_ms)
        )?;
    }
    Ok(())
}

/// The baselines as a table: usual next to the last 30 minutes.
pub fn baselines_table(rows: &[BaselineRow]) -> String {
    let mut table =
        render::table(&["SOURCE", "MSG/H USUAL", "MSG/H NOW", "DOMAINS", "CLIENT IPS", "BOUNCES", "WARNED"]);
    let pct = |r: f64| format!("{:.0}%", r * 100.0);
    for b in rows {
        let name = if b.source_id.is_empty() {
            "(host)".to_string()
        } else {
            format!("{} {}", render::source_kind(b.source_kind), b.source_id)
        };
        let is_host = b.source_id.is_empty();
        let pair =
            |usual: f64, now: f64| if is_host { "-".to_string() } else { format!("{now:.0} (usual {usual:.0})") };
        table.add_row(vec![
            name,
            format!("{:.0}", b.usual_messages),
            format!("{:.0}", b.recent_messages),
            pair(b.usual_recipient_domains, b.recent_recipient_domains),
            pair(b.usual_client_ips, b.recent_client_ips),
            format!("{} (usual {})", pct(b.recent_bounce_ratio), pct(b.usual_bounce_ratio)),
            if b.warned { "WARNED".into() } else { "-".into() },
        ]);
    }
    table.to_string()
}
