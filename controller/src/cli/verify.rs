//! `rblfleet verify`: the store's own consistency check, offline.
//!
//! Exit status: 0 consistent, 2 problems found (each named), 1 the store
//! could not be read (missing, or a running controller holds it).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::{Exit, Format, render};
use crate::store::{VerifyReport, verify_dir};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The controller's data directory (`data_dir` in its config). Stop the
    /// controller first: one process at a time may open a store.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    require_store(&args.data_dir)?;
    let dir = args.data_dir.clone();
    let report = tokio::task::spawn_blocking(move || verify_dir(&dir))
        .await
        .context("the verify task failed")?
        .with_context(|| format!("cannot verify {}", args.data_dir.display()))?;
    match args.format {
        Format::Json => {
            let value = serde_json::json!({
                "data_dir": args.data_dir,
                "clean": report.is_clean(),
                "trees": report.trees,
                "problems_total": report.problems_total,
                "problems": report.problems,
                "notes": report.notes,
            });
            serde_json::to_writer_pretty(&mut *out, &value)?;
            writeln!(out)?;
        }
        Format::Table => print_report(&report, &args.data_dir, out)?,
    }
    if report.is_clean() { Ok(()) } else { Err(Exit(2).into()) }
}

/// Refuses a directory that holds no sled store, before sled would create one.
pub(super) fn require_store(dir: &Path) -> anyhow::Result<()> {
    if !dir.join("db").is_file() {
        bail!(
            "{} holds no rblfleet store (no sled `db` file); give the controller's data_dir. A controller with [store] backend = \"postgres\" keeps its data in the database instead: {}",
            dir.display(),
            crate::store::PG_VERIFY
        );
    }
    Ok(())
}

/// The per-tree table, each problem, and the verdict.
pub(super) fn print_report(report: &VerifyReport, dir: &Path, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut table = render::table(&["TREE", "RECORDS", "PROBLEMS"]);
    for tree in &report.trees {
        table.add_row(vec![tree.name.clone(), tree.records.to_string(), tree.problems.to_string()]);
    }
    writeln!(out, "{table}")?;
    for note in &report.notes {
        writeln!(out, "note: {note}")?;
    }
    if report.is_clean() {
        writeln!(out, "\n{}: consistent", dir.display())?;
        return Ok(());
    }
    writeln!(out)?;
    for p in &report.problems {
        writeln!(out, "PROBLEM {} {}: {}", p.tree, p.key, p.reason)?;
    }
    let unlisted = report.problems_total - report.problems.len() as u64;
    if unlisted > 0 {
        writeln!(out, "... and {unlisted} more")?;
    }
    writeln!(
        out,
        "\n{}: {} problem{} found; restore the latest backup (`rblfleet restore`) or keep the controller stopped and investigate",
        dir.display(),
        report.problems_total,
        if report.problems_total == 1 { "" } else { "s" }
    )?;
    Ok(())
}
