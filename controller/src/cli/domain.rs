//! `rblfleet domain NAME`: one domain across the hosts that serve or send
//! it and the domain blocklists, with its listing history, cases, suspects
//! and the refusals that name it. The name may be given in either IDN form
//! or as a host name under the domain: the lists are asked about the
//! registrable domain, and so is this view.

use std::io::Write;

use serde_json::json;

use super::ip::{check_json, checks_table, episode_json, write_cases, write_episodes};
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
            "checks": r.checks.iter().map(check_json).collect::<Vec<_>>(),
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
            "episodes": r.episodes.iter().map(episode_json).collect::<Vec<_>>(),
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
    let table = checks_table(&r.checks, &r.not_covered);
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
    write_cases(out, &r.cases)?;
    write_episodes(out, &r.episodes)?;
    Ok(())
}
