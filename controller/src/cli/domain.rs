//! `rblfleet domain NAME`: one domain across the hosts that serve or send
//! it and the domain blocklists, with its listing history, cases, suspects
//! and the refusals that name it. The name may be given in either IDN form
//! or as a host name under the domain: the lists are asked about the
//! registrable domain, and so is this view.

use std::io::Write;

use rblfleet_proto::v1::CheckStatus;
use serde_json::json;

use super::ip::status_name;
use super::render::{self, rfc3339};
use super::{Connect, Format};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The domain (Unicode or punycode; a host name under it is read as the
    /// registrable domain, e.g. www.shop.example.co.uk → example.co.uk).
    pub domain: String,
    #[command(flatten)]
    pub connect: Connect,
    /// Output format.
    #[arg(long, value_enum, env = "RBLFLEET_FORMAT", default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let r = args.connect.client().await?.get_domain(&args.domain).await?;
    if args.format == Format::Json {
        let value = json!({
            "domain": r.domain,
            "unicode": render::non_empty(&r.unicode),
            "hosts": r.hosts.iter().map(|h| json!({
                "host": h.host_id, "name": h.name, "unicode": render::non_empty(&h.unicode),
                "subscription": render::non_empty(&h.subscription), "mail": h.mail,
            })).collect::<Vec<_>>(),
            "senders": r.senders.iter().map(|s| json!({
                "host": s.host_id, "messages": s.messages,
                "first_seen": rfc3339(s.first_seen_ms), "last_seen": rfc3339(s.last_seen_ms),
            })).collect::<Vec<_>>(),
            "checks": r.checks.iter().map(|c| json!({
                "zone_id": c.zone_id, "zone": c.zone, "status": status_name(c.status),
                "codes": c.codes, "meanings": c.meanings, "txt": render::non_empty(&c.txt),
                "error": render::non_empty(&c.error), "checked_at": rfc3339(c.checked_ms),
                "next_check": rfc3339(c.next_due_ms), "listed_since": rfc3339(c.listed_since_ms),
            })).collect::<Vec<_>>(),
            "not_covered": r.not_covered.iter().map(|n| json!({"zone": n.name, "reason": n.reason})).collect::<Vec<_>>(),
            "cases": r.cases.iter().map(super::case::case_json).collect::<Vec<_>>(),
            "suspects": r.suspects.iter().map(|s| json!({
                "host": s.host_id, "kind": render::source_kind(s.kind), "id": s.id,
                "subscription": render::non_empty(&s.subscription), "score": s.score,
                "reasons": s.reasons, "messages": s.messages, "hints": s.hints,
            })).collect::<Vec<_>>(),
            "refusals": r.refusals.iter().map(|e| json!({
                "provider": e.provider, "zone": render::non_empty(&e.zone), "code": render::non_empty(&e.code),
                "count": e.count, "last_seen": rfc3339(e.last_seen_ms), "sample": e.sample,
            })).collect::<Vec<_>>(),
            "episodes": r.episodes.iter().map(|e| json!({
                "zone_id": e.zone_id, "zone": e.zone, "first_seen": rfc3339(e.first_seen_ms),
                "last_seen": rfc3339(e.last_seen_ms), "cleared_at": rfc3339(e.cleared_ms),
                "codes": e.codes, "meanings": e.meanings, "txt": render::non_empty(&e.txt),
            })).collect::<Vec<_>>(),
        });
        serde_json::to_writer_pretty(&mut *out, &value)?;
        writeln!(out)?;
        return Ok(());
    }
    let shown = if r.unicode.is_empty() { r.domain.clone() } else { format!("{} ({})", r.domain, r.unicode) };
    writeln!(out, "domain  {shown}")?;
    if r.hosts.is_empty() {
        writeln!(out, "hosts   no agent reports serving it")?;
    }
    for h in &r.hosts {
        let sub = if h.subscription.is_empty() { "-" } else { h.subscription.as_str() };
        let mail = if h.mail { "mail" } else { "no mail" };
        writeln!(out, "hosts   {}  {}  subscription {sub}  {mail}", h.host_id, h.name)?;
    }
    for s in &r.senders {
        writeln!(out, "sends   {}  {} messages, last {}", s.host_id, s.messages, render::short_time(s.last_seen_ms))?;
    }
    writeln!(out)?;
    let mut table = render::table(&["ZONE", "STATUS", "SINCE", "CODES", "MEANING / DETAIL"]);
    for c in &r.checks {
        let detail = if c.status == CheckStatus::Listed as i32 {
            let mut d = c.meanings.join("; ");
            if !c.txt.is_empty() {
                d.push_str(&format!(" — {}", c.txt));
            }
            d
        } else {
            c.error.clone()
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
    for n in &r.not_covered {
        table.add_row(vec![n.name.clone(), "NOT COVERED".into(), "-".into(), "-".into(), n.reason.clone()]);
    }
    if r.checks.is_empty() && r.not_covered.is_empty() {
        writeln!(out, "not checked yet: no domain zone has answered for it")?;
    } else {
        writeln!(out, "{table}")?;
    }
    if !r.refusals.is_empty() {
        writeln!(out, "\nrefusals naming it (24 h):")?;
        for e in &r.refusals {
            writeln!(out, "  {:>6}×  {}  {}", e.count, e.provider, e.sample)?;
        }
    }
    if !r.suspects.is_empty() {
        writeln!(out, "\nsuspects (sources sending with it):")?;
        for s in r.suspects.iter().take(10) {
            writeln!(
                out,
                "  {:.1}  {}  {} {}  {}",
                s.score,
                s.host_id,
                render::source_kind(s.kind),
                s.id,
                s.reasons.join("; ")
            )?;
        }
    }
    if !r.cases.is_empty() {
        writeln!(out, "\ncases:")?;
        for c in &r.cases {
            let relisting = if c.relisting { " (relisting)" } else { "" };
            writeln!(out, "  #{}  {}  {}{relisting}", c.id, c.list, render::case_state(c.state))?;
        }
    }
    if !r.episodes.is_empty() {
        writeln!(out, "\nlisting history:")?;
        for e in &r.episodes {
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
