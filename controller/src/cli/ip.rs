//! `rblfleet ip IP`: one IP across hosts and lists, with its listing history.

use std::io::Write;

use rblfleet_proto::v1::{Case, CheckStatus, ListingEpisode, NamedReason, ZoneCheck};
use serde_json::{Value, json};

use super::render::{self, rfc3339};
use super::{Connect, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The IP address.
    pub ip: std::net::IpAddr,
    #[command(flatten)]
    pub connect: Connect,
    /// Output format.
    #[arg(long, value_enum, env = "RBLFLEET_FORMAT", default_value_t = Format::Table)]
    pub format: Format,
}

pub fn status_name(status: i32) -> &'static str {
    match CheckStatus::try_from(status) {
        Ok(CheckStatus::Listed) => "listed",
        Ok(CheckStatus::Clean) => "clean",
        Ok(CheckStatus::Error) => "error",
        Ok(CheckStatus::Skipped) => "skipped",
        Ok(CheckStatus::Unspecified) | Err(_) => "unknown",
    }
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let r = args.connect.client().await?.get_ip(&args.ip.to_string()).await?;
    if args.format == Format::Json {
        let value = json!({
            "ip": r.ip,
            "hosts": r.hosts,
            "checks": r.checks.iter().map(check_json).collect::<Vec<_>>(),
            "not_covered": r.not_covered.iter().map(|n| json!({"zone": n.name, "reason": n.reason})).collect::<Vec<_>>(),
            "cases": r.cases.iter().map(super::case::case_json).collect::<Vec<_>>(),
            "receiver_episodes": r.receiver_episodes.iter().map(|e| json!({
                "receiver": e.zone_id, "name": e.zone, "first_seen": rfc3339(e.first_seen_ms),
                "last_seen": rfc3339(e.last_seen_ms), "cleared_at": rfc3339(e.cleared_ms),
                "codes": e.codes, "sample": render::non_empty(&e.txt),
            })).collect::<Vec<_>>(),
            "episodes": r.episodes.iter().map(episode_json).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut *out, &value)?;
        writeln!(out)?;
        return Ok(());
    }
    let hosts = if r.hosts.is_empty() { "no host reports it".to_string() } else { r.hosts.join(", ") };
    writeln!(out, "ip     {}\nhosts  {hosts}\n", r.ip)?;
    let table = checks_table(&r.checks, &r.not_covered);
    writeln!(out, "{table}")?;
    for e in r.receiver_episodes.iter().filter(|e| e.cleared_ms == 0) {
        writeln!(
            out,
            "receiver-side: {} refuses mail from this IP since {} ({})",
            e.zone,
            render::short_time(e.first_seen_ms),
            e.codes.join(" ")
        )?;
    }
    write_cases(out, &r.cases)?;
    write_episodes(out, &r.episodes)?;
    Ok(())
}

/// One check as JSON (`rblfleet ip`, `rblfleet domain`).
pub fn check_json(c: &ZoneCheck) -> Value {
    json!({
        "zone_id": c.zone_id, "zone": c.zone, "status": status_name(c.status),
        "codes": c.codes, "meanings": c.meanings, "txt": render::non_empty(&c.txt),
        "error": render::non_empty(&c.error), "checked_at": rfc3339(c.checked_ms),
        "next_check": rfc3339(c.next_due_ms), "listed_since": rfc3339(c.listed_since_ms),
    })
}

/// One listing episode as JSON.
pub fn episode_json(e: &ListingEpisode) -> Value {
    json!({
        "zone_id": e.zone_id, "zone": e.zone, "first_seen": rfc3339(e.first_seen_ms),
        "last_seen": rfc3339(e.last_seen_ms), "cleared_at": rfc3339(e.cleared_ms),
        "codes": e.codes, "meanings": e.meanings, "txt": render::non_empty(&e.txt),
    })
}

/// The per-zone table: each check, then the zones not covering the target.
pub fn checks_table(checks: &[ZoneCheck], not_covered: &[NamedReason]) -> render::Grid {
    let mut table = render::table(&["ZONE", "STATUS", "SINCE", "CODES", "MEANING / DETAIL"]);
    for c in checks {
        let detail = match CheckStatus::try_from(c.status) {
            Ok(CheckStatus::Listed) => {
                let mut d = c.meanings.join("; ");
                if !c.txt.is_empty() {
                    d.push_str(&format!(" — {}", c.txt));
                }
                d
            }
            _ => c.error.clone(),
        };
        let status = if c.status == CheckStatus::Listed as i32 { "LISTED" } else { status_name(c.status) };
        table.add_row(vec![
            c.zone.clone(),
            status.to_string(),
            rfc3339(c.listed_since_ms).unwrap_or_else(|| "-".into()),
            c.codes.join(" "),
            detail,
        ]);
    }
    for n in not_covered {
        table.add_row(vec![n.name.clone(), "NOT COVERED".into(), "-".into(), "-".into(), n.reason.clone()]);
    }
    table
}

/// The cases, newest first, one line each.
pub fn write_cases(out: &mut dyn Write, cases: &[Case]) -> std::io::Result<()> {
    if !cases.is_empty() {
        writeln!(out, "\ncases:")?;
        for c in cases {
            let relisting = if c.relisting { " (relisting)" } else { "" };
            writeln!(out, "  #{}  {}  {}{relisting}", c.id, c.list, render::case_state(c.state))?;
        }
    }
    Ok(())
}

/// The listing history, one episode a line.
pub fn write_episodes(out: &mut dyn Write, episodes: &[ListingEpisode]) -> std::io::Result<()> {
    if !episodes.is_empty() {
        writeln!(out, "\nlisting history:")?;
        for e in episodes {
            let until = rfc3339(e.cleared_ms).map_or("still listed".to_string(), |t| format!("cleared {t}"));
            writeln!(
                out,
                "  {}  {} → {}  {}",
                e.zone,
                rfc3339(e.first_seen_ms).unwrap_or_default(),
                until,
                e.codes.join(" ")
            )?;
        }
    }
    Ok(())
}
