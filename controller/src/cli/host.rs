//! `rblfleet host NAME`: one host in detail.

use std::io::Write;
use std::time::{Duration, SystemTime};

use serde_json::json;

use super::render::{self, rfc3339, short_age};
use super::{Connect, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The host id (as in `rblfleet hosts`).
    pub name: String,
    #[command(flatten)]
    pub connect: Connect,
    /// Output format.
    #[arg(long, value_enum, env = "RBLFLEET_FORMAT", default_value_t = Format::Table)]
    pub format: Format,
    /// Mark the host silent when its last report is older than this.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub silent_after: Duration,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let response = args.connect.client().await?.get_host(&args.name).await?;
    let summary = response.summary.unwrap_or_default();
    let report = response.last_report.unwrap_or_default();
    let (domains_served, domains_truncated) = (response.domains_served, response.domains_truncated);
    let (warnings, baselines) = (response.warnings, response.baselines);
    let (trend, blocklist_24h, suspects, listings, open_cases) =
        (response.trend, response.blocklist_24h, response.suspects, response.listings, response.open_cases);
    let status = report.status.clone().unwrap_or_default();
    let cert_not_after = response.certificate_not_after_ms;
    let now = SystemTime::now();
    if args.format == Format::Json {
        let mut value = render::host_json(&summary, now, args.silent_after);
        value["last_period"] = json!({
            "start": rfc3339(report.period_start_ms),
            "end": rfc3339(report.period_end_ms),
        });
        value["hostname"] = render::non_empty(report.agent.as_ref().map_or("", |a| a.hostname.as_str()));
        value["outbox_backlog"] = json!(status.outbox_backlog);
        value["outbox_dropped"] = json!(status.outbox_dropped);
        value["collectors"] = status
            .collectors
            .iter()
            .map(|c| json!({"name": c.name, "ok": c.ok, "error": render::non_empty(&c.error)}))
            .collect();
        let counts = |list: &[rblfleet_proto::v1::NamedCount]| {
            list.iter().map(|c| (c.name.clone(), json!(c.count))).collect::<serde_json::Map<_, _>>()
        };
        value["log_lines"] = json!({
            "unparsed": counts(&status.unparsed_lines),
            "failed": counts(&status.failed_lines),
            "truncated": status.truncated_lines,
        });
        value["queue"] = json!(report.queue.as_ref().map(|q| json!({
            "total": q.total, "oldest_age_secs": q.oldest_age_secs,
            "counts": q.counts.iter().map(|c| json!({"queue": c.queue, "messages": c.messages})).collect::<Vec<_>>(),
            "top_senders": q.top_senders.iter().map(|c| json!({"sender": c.name, "messages": c.count})).collect::<Vec<_>>(),
        })));
        value["trend_24h"] = trend
            .iter()
            .map(|p| json!({"hour": rfc3339(p.hour_ms), "queue": p.queue_total, "sent": p.sent, "deferred": p.deferred, "bounced": p.bounced, "blocklisted": p.blocklisted, "domain_refused": p.domain_refused}))
            .collect();
        value["blocklist_24h"] = blocklist_24h
            .iter()
            .map(|e| json!({"provider": e.provider, "family": e.family, "zone": render::non_empty(&e.zone), "code": render::non_empty(&e.code), "ip": render::non_empty(&e.ip), "count": e.count, "last_seen": rfc3339(e.last_seen_ms), "sample": e.sample}))
            .collect();
        // Refusals over 24 h: of the IP (listed) and of a listed domain, never added up.
        value["refused_24h"] = json!({
            "blocklisted": trend.iter().map(|p| p.blocklisted).sum::<u64>(),
            "domain": trend.iter().map(|p| p.domain_refused).sum::<u64>(),
        });
        value["suspects"] = suspects.iter().map(render::suspect_json).collect();
        value["listings"] = listings
            .iter()
            .map(|r| {
                let kind = super::report::target_kind(r);
                json!({kind: r.ip, "list": r.list, "since": rfc3339(r.since_ms), "meanings": r.meanings, "case_id": r.case_id, "case_state": render::case_state(r.case_state), "subscriptions": r.subscriptions})
            })
            .collect();
        value["warnings"] = warnings.iter().map(super::warnings::warning_json).collect();
        value["baselines"] = baselines.iter().map(super::warnings::baseline_json).collect();
        value["domains_served"] = json!(domains_served);
        value["domains_truncated"] = json!(domains_truncated);
        value["open_cases"] = open_cases.iter().map(super::case::case_json).collect();
        value["certificate_expires"] = json!(rfc3339(cert_not_after));
        serde_json::to_writer_pretty(&mut *out, &value)?;
        writeln!(out)?;
        return Ok(());
    }

    let age = render::age_secs(summary.last_report_ms, now);
    let silent = age.is_none_or(|a| a > args.silent_after.as_secs());
    writeln!(out, "host         {}{}", summary.host_id, if silent { "  (SILENT)" } else { "" })?;
    writeln!(
        out,
        "last report  {} ({} ago), epoch {} seq {}",
        rfc3339(summary.last_report_ms).unwrap_or_else(|| "-".into()),
        age.map_or("-".into(), short_age),
        summary.epoch,
        summary.last_seq
    )?;
    writeln!(out, "first seen   {}", rfc3339(summary.first_seen_ms).unwrap_or_else(|| "-".into()))?;
    if domains_served > 0 {
        let cut = if domains_truncated { " (the agent's list was cut at its bound)" } else { "" };
        let listed = listings.iter().filter(|r| r.kind == "domain").count();
        writeln!(out, "domains      {domains_served} served, {listed} listed{cut}")?;
    }
    let plesk =
        if summary.plesk_version.is_empty() { String::new() } else { format!(", Plesk {}", summary.plesk_version) };
    writeln!(
        out,
        "agent        {} on {}, MTA {}{plesk}",
        summary.agent_version,
        summary.os,
        render::mta_name(summary.mta)
    )?;
    writeln!(
        out,
        "reports      {} stored, {} missing (dropped by the agent)",
        summary.reports_stored, summary.seq_gaps
    )?;
    writeln!(out, "outbox       {} waiting, {} dropped", status.outbox_backlog, status.outbox_dropped)?;
    writeln!(out, "certificate  {}", certificate_line(cert_not_after, now))?;
    for collector in status.collectors.iter().filter(|c| !c.ok) {
        writeln!(out, "collector    {} FAILED: {}", collector.name, collector.error)?;
    }
    let unparsed: u64 = status.unparsed_lines.iter().map(|c| c.count).sum();
    let failed: u64 = status.failed_lines.iter().map(|c| c.count).sum();
    if unparsed + failed + status.truncated_lines > 0 {
        let mut line = format!(
            "log lines    {unparsed} not understood, {failed} skipped (parsing failed), {} cut at 64 KiB (last period)",
            status.truncated_lines
        );
        if failed > 0 {
            let programs: Vec<String> = status.failed_lines.iter().map(|c| format!("{} {}", c.name, c.count)).collect();
            line.push_str(&format!("; skipped: {}", programs.join(", ")));
        }
        writeln!(out, "{line}")?;
    }
    writeln!(out)?;
    let mut table = render::table(&["ADDRESS", "INTERFACE", "PUBLIC", "SENDS MAIL", "NAT PUBLIC"]);
    for ip in &summary.ips {
        table.add_row(vec![
            ip.address.clone(),
            if ip.interface.is_empty() { "-".into() } else { ip.interface.clone() },
            yes_no(ip.public).into(),
            yes_no(ip.sends_mail).into(),
            if ip.nat_public_address.is_empty() { "-".into() } else { ip.nat_public_address.clone() },
        ]);
    }
    writeln!(out, "{table}")?;

    if let Some(q) = &report.queue {
        let peak = trend.iter().map(|p| p.queue_total).max().unwrap_or(q.total);
        writeln!(
            out,
            "\nqueue        {} now (peak {} over 24 h), oldest {}",
            q.total,
            peak,
            short_age(q.oldest_age_secs)
        )?;
    }
    let sum = |f: fn(&rblfleet_proto::v1::HourPoint) -> u64| trend.iter().map(f).sum::<u64>();
    writeln!(
        out,
        "24 h         {} sent, {} deferred, {} bounced, {} refused by blocklists (IP listed), {} refused for a \
         listed domain",
        sum(|p| p.sent),
        sum(|p| p.deferred),
        sum(|p| p.bounced),
        sum(|p| p.blocklisted),
        sum(|p| p.domain_refused)
    )?;
    if !blocklist_24h.is_empty() {
        let mut t = render::table(&["PROVIDER", "FAMILY", "ZONE", "CODE", "IP", "BOUNCES", "LAST"]);
        for e in blocklist_24h.iter().take(10) {
            t.add_row(vec![
                e.provider.clone(),
                dash(&e.family),
                dash(&e.zone),
                dash(&e.code),
                dash(&e.ip),
                e.count.to_string(),
                render::short_time(e.last_seen_ms),
            ]);
        }
        writeln!(out, "\nblocklist bounces (24 h):\n{t}")?;
    }
    if !listings.is_empty() {
        writeln!(out, "\nlistings:")?;
        for r in &listings {
            let case = if r.case_id == 0 {
                String::new()
            } else {
                format!("  case #{} {}", r.case_id, render::case_state(r.case_state))
            };
            writeln!(
                out,
                "  {}  {}  since {}  {}{case}",
                r.ip,
                r.list,
                render::short_time(r.since_ms),
                r.meanings.join("; ")
            )?;
        }
    }
    if !suspects.is_empty() {
        writeln!(out, "\ntop suspects (24 h):")?;
        for s in suspects.iter().take(5) {
            writeln!(out, "  {}  (score {:.1})", render::suspect_short(s), s.score)?;
            for reason in &s.reasons {
                writeln!(out, "      - {reason}")?;
            }
            for hint in s.hints.iter().take(3) {
                writeln!(out, "      > {hint}")?;
            }
        }
    }
    if !open_cases.is_empty() {
        writeln!(out, "\nopen cases:")?;
        for c in &open_cases {
            writeln!(out, "  #{}  {} on {}  {}", c.id, c.ip, c.list, render::case_state(c.state))?;
        }
    }
    if !warnings.is_empty() {
        writeln!(out, "\nearly warnings (7 days):")?;
        for w in &warnings {
            super::warnings::write_warning(out, w, false)?;
        }
    }
    if !baselines.is_empty() {
        writeln!(
            out,
            "\nbaseline (per hour) and the last 30 minutes:\n{}",
            super::warnings::baselines_table(&baselines)
        )?;
    }
    Ok(())
}

fn dash(s: &str) -> String {
    if s.is_empty() { "-".into() } else { s.to_string() }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// "expires 2027-03-09T11:02:00Z (in 94 days)"; the agent's certificate as
/// it last connected, unknown until it connects after a controller start.
fn certificate_line(not_after_ms: i64, now: SystemTime) -> String {
    let Some(at) = rfc3339(not_after_ms) else {
        return "unknown (the agent has not connected since the controller started)".into();
    };
    let now_ms = now.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    match crate::ca::expiry::days_left(not_after_ms, now_ms) {
        ..=0 => format!("EXPIRED {at}: renew it (rblfleet ca renew)"),
        1 => format!("expires {at} (within a day): renew it (rblfleet ca renew)"),
        days @ 2..=30 => format!("expires {at} (in {days} days): renew it (rblfleet ca renew)"),
        days => format!("expires {at} (in {days} days)"),
    }
}
