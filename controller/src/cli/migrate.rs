//! `rblfleet migrate --from-sled DIR --to URL`: a stopped controller's sled
//! store into an empty PostgreSQL database, checked before it is committed
//! (see `store::migrate`). Prints one row per table (sled rows, PostgreSQL
//! rows) and what to change in the configuration next.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};

use super::{Format, render};
use crate::store::{Migrated, PgOptions, PgPassword};

/// The environment variable the password is read from without
/// --password-file (the same as the controller's `[store]`).
const PASSWORD_ENV: &str = "RBLFLEET_PG_PASSWORD";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The controller's data directory (`data_dir` in its configuration).
    /// It is only read.
    #[arg(long = "from-sled", value_name = "DIR")]
    pub from_sled: PathBuf,
    /// The PostgreSQL database, `postgresql://USER@HOST:PORT/DB` or
    /// `host=… user=… dbname=…`, without a password. Create it first
    /// (`createdb -O USER DB`); it must hold no rblfleet data.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// A file whose first line is the database password (else
    /// RBLFLEET_PG_PASSWORD; neither: the server must not ask for one).
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub async fn run(args: Args, out: &mut dyn Write) -> anyhow::Result<()> {
    let target = target(&args)?;
    let dir = args.from_sled.clone();
    let migrated = tokio::task::spawn_blocking(move || crate::store::migrate_from_sled(&dir, &target))
        .await
        .context("the migration task failed")?
        .with_context(|| format!("cannot migrate {} to PostgreSQL", args.from_sled.display()))?;
    match args.format {
        Format::Json => {
            let value = serde_json::json!({
                "from_sled": args.from_sled,
                "to": args.to,
                "migrated": migrated,
            });
            serde_json::to_writer_pretty(&mut *out, &value)?;
            writeln!(out)?;
        }
        Format::Table => print(&args, &migrated, out)?,
    }
    Ok(())
}

/// The database options: the URL checked here so its errors name `--to`,
/// the password from --password-file or the environment.
fn target(args: &Args) -> anyhow::Result<PgOptions> {
    let config: tokio_postgres::Config =
        args.to.parse().map_err(|e| anyhow::anyhow!("--to {}: not a PostgreSQL connection string: {e}", args.to))?;
    if config.get_password().is_some() {
        bail!(
            "--to: the URL holds a password; give it with --password-file FILE or {PASSWORD_ENV} instead (a URL shows in `ps` and shell history)"
        );
    }
    let password = match &args.password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("--password-file: cannot read {}", path.display()))?;
            let line = text.lines().next().unwrap_or_default();
            if line.is_empty() {
                bail!("--password-file: {} is empty", path.display());
            }
            Some(PgPassword(line.to_string()))
        }
        None => std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()).map(PgPassword),
    };
    Ok(PgOptions { url: args.to.clone(), pool_size: 1, password })
}

fn print(args: &Args, migrated: &Migrated, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut table = render::table(&["SLED TREE", "POSTGRESQL TABLE", "SLED", "POSTGRESQL"]);
    for t in &migrated.tables {
        table.add_row(vec![t.tree.clone(), t.table.clone(), t.sled.to_string(), t.postgres.to_string()]);
    }
    writeln!(out, "{table}")?;
    writeln!(
        out,
        "\nCopied {} rows from {} in {:.1} s. Counts equal in every table; compared record by record: {} cases, {} listing episodes, {} host summaries.",
        migrated.rows,
        args.from_sled.display(),
        migrated.seconds,
        migrated.cases_compared,
        migrated.episodes_compared,
        migrated.hosts_compared
    )?;
    if !migrated.skipped_trees.is_empty() {
        writeln!(out, "Not copied (trees this rblfleet does not know): {}.", migrated.skipped_trees.join(", "))?;
    }
    writeln!(
        out,
        "\nNext: in the controller's configuration set\n\n  [store]\n  backend = \"postgres\"\n  url = {:?}\n  password_file = \"/etc/rblfleet/pg-password\"   # or {PASSWORD_ENV} in the unit's environment\n\nthen start the controller. {} is unchanged: keep it until the controller runs well on PostgreSQL.",
        args.to,
        args.from_sled.display()
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use crate::cli::run_args;
    use crate::store::{Store, StoreOptions, TestDb};

    /// The command end to end: a table, then JSON for a second database,
    /// and the URL's password refused before anything is opened.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migrate_prints_the_counts_and_what_to_do_next() {
        let Some(db) = TestDb::create_or_skip("cli::migrate::tests::migrate_prints_the_counts_and_what_to_do_next")
        else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path(), &StoreOptions::default()).unwrap();
            crate::store::fixture::populate(&store, 3, 2).await;
        }
        let from = dir.path().display().to_string();
        let mut out = Vec::new();
        let mut result = Err(anyhow::anyhow!("not run"));
        // sled releases the directory's lock asynchronously after the drop.
        for _ in 0..100 {
            out.clear();
            result = run_args(["rblfleet", "migrate", "--from-sled", &from, "--to", &db.url], &mut out).await;
            match &result {
                Err(e) if format!("{e:#}").contains("in use by another process") => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
                _ => break,
            }
        }
        result.unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("SLED TREE") && text.contains("case_history"), "{text}");
        assert!(text.contains("backend = \"postgres\"") && text.contains(&db.url), "{text}");
        assert!(text.contains("2 cases, 2 listing episodes, 3 host summaries"), "{text}");

        let err = run_args(["rblfleet", "migrate", "--from-sled", &from, "--to", &db.url], &mut Vec::new())
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("already holds rblfleet data"), "{err:#}");

        let Some(second) = TestDb::create_or_skip("cli::migrate::tests::migrate_prints_the_counts_and_what_to_do_next")
        else {
            return;
        };
        let mut out = Vec::new();
        run_args(["rblfleet", "migrate", "--from-sled", &from, "--to", &second.url, "--format", "json"], &mut out)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let hosts = json["migrated"]["tables"].as_array().unwrap().iter().find(|t| t["table"] == "hosts").unwrap();
        assert_eq!((hosts["sled"].as_u64(), hosts["postgres"].as_u64()), (Some(3), Some(3)));
        assert_eq!(json["migrated"]["next_case_id"], 2);

        let err = run_args(
            ["rblfleet", "migrate", "--from-sled", &from, "--to", "postgresql://u:hunter2@127.0.0.1/x"],
            &mut Vec::new(),
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("--password-file") && !err.contains("hunter2"), "{err}");
    }
}
