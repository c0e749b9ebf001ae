//! `rblfleet backup`: a consistent copy of a running controller's store.
//!
//! The controller takes the snapshot (sled lets one process open a store)
//! and streams it over the admin API. The file arrives as FILE.partial, is
//! synced and checked (structure and SHA-256), and only then renamed to
//! FILE, so FILE is always a complete backup or absent.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};

use super::Connect;
use crate::store::inspect_backup;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub connect: Connect,
    /// Where to write the backup. An existing file is replaced only once
    /// the new backup is complete and checked.
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let started = Instant::now();
    let partial = partial_path(&args.output)?;
    let result = download(&args, &partial).await;
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    let info = result?;
    std::fs::rename(&partial, &args.output)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), args.output.display()))?;
    if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("cannot sync {}", dir.display()))?;
    }
    writeln!(
        out,
        "Backup written to {}: {} records in {} trees, {} bytes, SHA-256 {}, in {:.1} s.",
        args.output.display(),
        info.records,
        info.trees.len(),
        info.bytes,
        info.sha256,
        started.elapsed().as_secs_f64()
    )?;
    writeln!(out, "Restore it with `rblfleet restore --input {} --data-dir DIR`.", args.output.display())?;
    Ok(())
}

/// Receives the backup into `partial`, syncs it and checks it.
async fn download(args: &Args, partial: &Path) -> anyhow::Result<crate::store::BackupInfo> {
    let mut client = args.connect.client().await?;
    let mut download = client.backup().await?;
    let mut file = File::create(partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let mut received = 0u64;
    while let Some(chunk) = download.next_chunk().await? {
        file.write_all(&chunk).with_context(|| format!("cannot write {}", partial.display()))?;
        received += chunk.len() as u64;
    }
    file.sync_all().with_context(|| format!("cannot sync {}", partial.display()))?;
    drop(file);
    if received == 0 {
        bail!("the controller sent an empty backup");
    }
    let path = partial.to_path_buf();
    let info = tokio::task::spawn_blocking(move || inspect_backup(&path))
        .await
        .context("the check task failed")?
        .with_context(|| format!("the backup received from the controller is not intact ({received} bytes)"))?;
    Ok(info)
}

/// FILE.partial beside FILE.
fn partial_path(output: &Path) -> anyhow::Result<PathBuf> {
    let Some(name) = output.file_name() else {
        bail!("--output {} does not name a file", output.display());
    };
    let mut name = name.to_os_string();
    name.push(".partial");
    Ok(output.with_file_name(name))
}
