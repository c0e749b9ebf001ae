//! `rblfleet restore`: a backup into a data directory, with the controller stopped.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use super::render;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A file written by `rblfleet backup`.
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// The data directory to create (the controller's `data_dir`). It must
    /// be missing or empty unless --force.
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Replace a non-empty DIR: it is moved aside to DIR.replaced-<time>,
    /// not deleted. A DIR a running controller holds is never replaced.
    #[arg(long)]
    pub force: bool,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let (input, dir, force) = (args.input.clone(), args.data_dir.clone(), args.force);
    let restored = tokio::task::spawn_blocking(move || crate::store::restore(&input, &dir, force))
        .await
        .context("the restore task failed")?
        .with_context(|| format!("cannot restore {} into {}", args.input.display(), args.data_dir.display()))?;
    let info = &restored.info;
    writeln!(
        out,
        "Restored {} ({} records, {} bytes, SHA-256 {}, taken {}) into {}.",
        args.input.display(),
        info.records,
        info.bytes,
        info.sha256,
        render::rfc3339(info.created_ms).unwrap_or_else(|| "-".into()),
        restored.dir.display()
    )?;
    if let Some(aside) = &restored.replaced {
        writeln!(out, "The previous contents of {} are in {}.", restored.dir.display(), aside.display())?;
    }
    writeln!(out, "\nConsistency check of the restored store:")?;
    super::verify::print_report(&restored.verify, &restored.dir, out)?;
    writeln!(out, "\nStart the controller with data_dir = {:?}.", restored.dir.display().to_string())?;
    Ok(())
}
