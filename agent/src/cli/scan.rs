//! `rblfleet-agent scan FILE...`: whole mail logs to a summary, offline.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::attribution::UserMap;
use crate::scan::{ScanOptions, render};

/// Output of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Totals, blocklist hits and top suspects as text tables.
    Table,
    /// One JSON object (totals, blocklist, sources, stats).
    Json,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// The passwd file mapping uids to Plesk subscriptions (home directory
    /// /var/www/vhosts/DOMAIN). Default: /etc/passwd when readable.
    #[arg(long, value_name = "FILE")]
    pub passwd: Option<PathBuf>,
    /// Sources listed at most (default: all in JSON, 15 in the table).
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,
    /// Mail log files, read whole and in order.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: &Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let users = match &args.passwd {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            UserMap::from_passwd(&text)
        }
        None => std::fs::read_to_string("/etc/passwd").map(|t| UserMap::from_passwd(&t)).unwrap_or_default(),
    };
    let options = ScanOptions { users, ..ScanOptions::default() };
    let top = args.top.unwrap_or(usize::MAX);
    let summary = crate::scan::scan_files(&args.files, options, top)?;
    let mut out = std::io::BufWriter::new(out);
    match args.format {
        Format::Json => render::json(&summary, &mut out),
        Format::Table => render::text(&summary, &mut out),
    }
    .and_then(|()| out.flush())
    .context("writing the summary")
}
