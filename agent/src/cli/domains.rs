//! `rblfleet-agent domains`: the domain set the agent would report, read
//! now from the sources the config names, with what each source gave and
//! skipped. How an admin checks what the agent sees; sends nothing.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use comfy_table::{ContentArrangement, Table, presets};
use serde_json::{Value, json};

use crate::collect::domains::list::Domain;
use crate::collect::domains::{Collected, Reader, SourceState};

/// Output of `domains`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// The domains as a table, then one line per source.
    Table,
    /// One JSON object: domains, truncated, sources.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent's TOML config file (its [domains] section says where to look).
    #[arg(long, short = 'c', value_name = "FILE", env = "RBLFLEET_AGENT_CONFIG", default_value = super::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = super::load(&args.config)?;
    let collected = Reader::new(&config).collect();
    let mut out = std::io::BufWriter::new(out);
    match args.format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut out, &json_of(&collected, config.domains.enabled))?;
            writeln!(out)?;
        }
        Format::Table => table(&collected, config.domains.enabled, config.domains.max, &mut out)?,
    }
    out.flush().context("writing the domains")
}

fn table(c: &Collected, enabled: bool, max: usize, out: &mut dyn Write) -> std::io::Result<()> {
    if !enabled {
        writeln!(out, "domains.enabled = false: the agent reports no domains. It would see:\n")?;
    }
    if !c.list.is_empty() {
        let mut table = Table::new();
        table.load_preset(presets::NOTHING).set_content_arrangement(ContentArrangement::Dynamic).set_header([
            "DOMAIN",
            "UNICODE",
            "SUBSCRIPTION",
            "MAIL",
            "SOURCES",
        ]);
        for d in sorted(c) {
            let sources = d.sources.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
            let unicode = if d.name.unicode == d.name.ascii { "" } else { d.name.unicode.as_str() };
            let mail = if d.mail { "on" } else { "-" };
            table.add_row([d.name.ascii.as_str(), unicode, d.subscription.as_str(), mail, sources.as_str()]);
        }
        writeln!(out, "{table}\n")?;
    }
    let mail = c.list.domains().iter().filter(|d| d.mail).count();
    let cut =
        if c.list.truncated { format!(" (cut at domains.max = {max}: the host has more)") } else { String::new() };
    writeln!(out, "{} domains, {mail} with mail{cut}", c.list.len())?;
    for s in &c.sources {
        let state = match &s.state {
            SourceState::Absent => "absent".to_string(),
            SourceState::Read => format!("{} found, {} skipped", s.found, s.skipped),
            SourceState::Failed { error, stale: true } => {
                format!("FAILED, its last {} found used: {error}", s.found)
            }
            SourceState::Failed { error, stale: false } => format!("FAILED: {error}"),
        };
        writeln!(out, "  {:<10} {state}{}", s.source.as_str(), if s.truncated { " (cut)" } else { "" })?;
        for w in &s.warnings {
            writeln!(out, "             partial: {w}")?;
        }
        for skip in &s.samples {
            writeln!(out, "             skipped {:?}: {}", skip.text, skip.why)?;
        }
        if s.skipped > s.samples.len() as u64 {
            writeln!(out, "             ... and {} more skipped", s.skipped - s.samples.len() as u64)?;
        }
    }
    Ok(())
}

/// The domains by name, as the report sends them.
fn sorted(c: &Collected) -> Vec<&Domain> {
    let mut all: Vec<&Domain> = c.list.domains().iter().collect();
    all.sort_by(|a, b| a.name.ascii.cmp(&b.name.ascii));
    all
}

fn json_of(c: &Collected, enabled: bool) -> Value {
    let domains: Vec<Value> = sorted(c)
        .into_iter()
        .map(|d| {
            json!({
                "name": d.name.ascii,
                "unicode": d.name.unicode,
                "subscription": d.subscription,
                "mail": d.mail,
                "sources": d.sources.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let sources: Vec<Value> = c
        .sources
        .iter()
        .map(|s| {
            let (state, error) = match &s.state {
                SourceState::Absent => ("absent", None),
                SourceState::Read => ("read", None),
                SourceState::Failed { error, stale: true } => ("failed, last names used", Some(error)),
                SourceState::Failed { error, stale: false } => ("failed", Some(error)),
            };
            json!({
                "source": s.source.as_str(),
                "state": state,
                "error": error,
                "found": s.found,
                "truncated": s.truncated,
                "skipped": s.skipped,
                "skipped_samples": s.samples.iter().map(|k| json!({"text": k.text, "why": k.why})).collect::<Vec<_>>(),
                "warnings": s.warnings,
            })
        })
        .collect();
    json!({
        "enabled": enabled,
        "domains": domains,
        "truncated": c.list.truncated,
        "sources": sources,
    })
}
