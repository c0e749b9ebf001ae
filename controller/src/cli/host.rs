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
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Mark the host silent when its last report is older than this.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub silent_after: Duration,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let response = args.connect.client().await?.get_host(&args.name).await?;
    let summary = response.summary.unwrap_or_default();
    let report = response.last_report.unwrap_or_default();
    let status = report.status.clone().unwrap_or_default();
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
    for collector in status.collectors.iter().filter(|c| !c.ok) {
        writeln!(out, "collector    {} FAILED: {}", collector.name, collector.error)?;
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
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}
