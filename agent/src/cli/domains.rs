//! `rblfleet-agent domains`: the domain set the agent would report, read
//! now from the sources the config names, with what each source gave and
//! skipped. How an admin checks what the agent sees; sends nothing.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use comfy_table::{ContentArrangement, Table, presets};
use serde_json::{Value, json};

use std::time::{Duration, SystemTime};

use crate::collect::domains::list::Domain;
use crate::collect::domains::{Collected, Reader, SourceState, plesk};
use crate::config::{DomainSource, DomainsConfig};

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
    /// Instead of listing: run Plesk's query as the collector does (needs
    /// root) and write its rows to FILE (FILE.new, then renamed; mode 0640),
    /// for an agent with domains.plesk_snapshot = FILE. Run by
    /// rblfleet-plesk-domains.timer. Fails, replacing nothing, when Plesk is
    /// absent or the query fails.
    #[arg(long, value_name = "FILE")]
    pub write_plesk_snapshot: Option<PathBuf>,
}

pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = super::load(&args.config)?;
    if let Some(path) = &args.write_plesk_snapshot {
        let rows = plesk::write_snapshot(&config.domains, path, SystemTime::now()).map_err(anyhow::Error::msg)?;
        writeln!(out, "wrote {rows} rows of Plesk's domains to {}", path.display())?;
        return Ok(());
    }
    let collected = Reader::new(&config).collect();
    let mut out = std::io::BufWriter::new(out);
    match args.format {
        Format::Json => {
            let mut value = json_of(&collected, config.domains.enabled);
            value["plesk_mode"] = plesk_mode(&config.domains).json;
            serde_json::to_writer_pretty(&mut out, &value)?;
            writeln!(out)?;
        }
        Format::Table => {
            let mode = plesk_mode(&config.domains).text;
            table(&collected, config.domains.enabled, config.domains.max, &mode, &mut out)?
        }
    }
    out.flush().context("writing the domains")
}

/// `plesk_mode` is printed under the plesk source's line.
fn table(c: &Collected, enabled: bool, max: usize, plesk_mode: &str, out: &mut dyn Write) -> std::io::Result<()> {
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
        if s.source == DomainSource::Plesk {
            writeln!(out, "             via {plesk_mode}")?;
        }
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

/// How the Plesk source reads: a line for the table, an object for JSON.
struct PleskMode {
    text: String,
    json: Value,
}

/// The snapshot's age is read again here (the collection does not keep
/// it): a second look at the same file, for the admin.
fn plesk_mode(config: &DomainsConfig) -> PleskMode {
    let Some(path) = &config.plesk_snapshot else {
        return PleskMode {
            text: format!("command `{} db` (needs root)", config.plesk.display()),
            json: json!({"mode": "command", "program": config.plesk}),
        };
    };
    let (age, header) = match plesk::read_snapshot_file(path, SystemTime::now()) {
        Ok((text, age)) => (Some(age), text.lines().next().filter(|l| l.starts_with('#')).map(str::to_string)),
        Err(_) => (None, None),
    };
    let shown = match age {
        Some(age) => format!("{} old", humantime::format_duration(Duration::from_secs(age.as_secs()))),
        None => "unreadable".to_string(),
    };
    let stale = age.is_some_and(|a| a > config.plesk_snapshot_max_age);
    PleskMode {
        text: format!(
            "snapshot {} ({shown}{}, max {})",
            path.display(),
            if stale { ", STALE" } else { "" },
            humantime::format_duration(config.plesk_snapshot_max_age)
        ),
        json: json!({
            "mode": "snapshot",
            "file": path,
            "age_secs": age.map(|a| a.as_secs()),
            "max_age_secs": config.plesk_snapshot_max_age.as_secs(),
            "stale": stale,
            "header": header,
        }),
    }
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

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::command::fake_tool::script;

    fn args(config: PathBuf, format: Format, write: Option<PathBuf>) -> Args {
        Args { config, format, write_plesk_snapshot: write }
    }

    /// The snapshot written through the command, then listed: the table and
    /// the JSON say the plesk source read it and how old it is.
    #[test]
    fn the_snapshot_is_written_and_the_listing_names_its_mode() {
        let dir = tempfile::tempdir().unwrap();
        script(dir.path(), "plesk", "[ \"$1\" = db ] || exit 2; printf 'shop.example\\tshopuser\\t1\\n'");
        let snap = dir.path().join("domains.tsv");
        let base = format!(
            "[controller]\nurl = \"http://127.0.0.1:1\"\n[domains]\nsources = [\"plesk\"]\nplesk = \"{}/plesk\"\n",
            dir.path().display()
        );
        std::fs::write(dir.path().join("writer.toml"), &base).unwrap();
        let mut out = Vec::new();
        run(&args(dir.path().join("writer.toml"), Format::Table, Some(snap.clone())), &mut out).unwrap();
        assert!(String::from_utf8(out).unwrap().starts_with("wrote 1 rows of Plesk's domains to "));

        let config = dir.path().join("agent.toml");
        std::fs::write(&config, format!("{base}plesk_snapshot = \"domains.tsv\"\n")).unwrap();
        let mut out = Vec::new();
        run(&args(config.clone(), Format::Table, None), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.lines().any(|l| l.contains("shop.example") && l.contains("shopuser") && l.contains("on")),
            "{text}"
        );
        let via = format!("  plesk      1 found, 0 skipped\n             via snapshot {} (", snap.display());
        assert!(text.contains(&via) && text.contains("s old, max 1h)"), "{text}");

        let mut out = Vec::new();
        run(&args(config, Format::Json, None), &mut out).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            (v["plesk_mode"]["mode"].as_str(), v["plesk_mode"]["stale"].as_bool()),
            (Some("snapshot"), Some(false))
        );
        assert!(v["plesk_mode"]["header"].as_str().unwrap().contains("rblfleet-agent"), "{v}");

        let mut out = Vec::new();
        run(&args(dir.path().join("writer.toml"), Format::Table, None), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains(&format!("via command `{}/plesk db` (needs root)", dir.path().display())), "{text}");
    }

    #[test]
    fn writing_fails_without_plesk_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("agent.toml");
        std::fs::write(
            &config,
            format!(
                "[controller]\nurl = \"http://127.0.0.1:1\"\n[domains]\nplesk = \"{}/none\"\n",
                dir.path().display()
            ),
        )
        .unwrap();
        let snap = dir.path().join("domains.tsv");
        let e = run(&args(config, Format::Table, Some(snap.clone())), &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("not found; is Plesk installed?"), "{e}");
        assert!(!snap.exists());
    }
}
