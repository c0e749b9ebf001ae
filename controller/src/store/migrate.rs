//! Moving a store from sled to PostgreSQL (`rblfleet migrate --from-sled`).
//!
//! The sled data directory is opened directly (not through `Store::open`,
//! which would add what it misses), with the controller stopped: sled's
//! file lock refuses a directory a running controller holds. One thread
//! reads every tree in key order and sends batches of rows to the
//! PostgreSQL store, which writes them in one transaction and compares
//! the copy with the source before committing (see `pg::import`). Either
//! the target ends up a verified copy, or it is left as it was.
//!
//! The target must hold no rblfleet data: merging two stores (two hosts'
//! sequences, two case id ranges) is not a copy, and a second run into a
//! half-used database would double nothing but also prove nothing. The
//! schema itself is created or upgraded first, as a controller would.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rblfleet_proto::v1::{Case, HostSummary, ListingEpisode};
use serde::Serialize;
use tokio::sync::mpsc;

use super::encoding::decode;
use super::pg::import::{Batch, Expected, Feed, Imported, Table};
use super::pg::{Pg, PgOptions};
use super::{SCHEMA_KEY, SCHEMA_VERSION, StoreError};

/// A batch goes once it holds this many rows or bytes of records: about a
/// second's worth of ingest, small enough that the reader and the writer
/// overlap, large enough that a round trip carries thousands of rows.
const BATCH_ROWS: usize = 2000;
const BATCH_BYTES: usize = 8 << 20;

/// Batches in flight between the reading thread and the database.
const IN_FLIGHT: usize = 4;

/// Why a migration did not happen; nothing was written to the target.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{} holds no rblfleet store (no sled `db` file): give the controller's data_dir", dir.display())]
    NoStore { dir: PathBuf },
    #[error(
        "{} is in use by another process (a running `rblfleet serve`?): stop the controller first, so that nothing changes while it is copied",
        dir.display()
    )]
    InUse { dir: PathBuf },
    #[error(
        "{} opens as a sled database but holds no rblfleet schema version: not an rblfleet store, or a damaged one (`rblfleet verify --data-dir {}` says more)",
        dir.display(),
        dir.display()
    )]
    NotRblfleet { dir: PathBuf },
    #[error("cannot read the sled store in {}: {cause}", dir.display())]
    Source { dir: PathBuf, cause: StoreError },
    #[error("the PostgreSQL target: {0}")]
    Target(StoreError),
    #[error(
        "the PostgreSQL database already holds rblfleet data ({}): migrate into an empty database (createdb a new one, or drop and recreate this one if its data is expendable)",
        tables.iter().map(|(t, n)| format!("{t}: {n} rows")).collect::<Vec<_>>().join(", ")
    )]
    TargetNotEmpty { tables: Vec<(String, u64)> },
    #[error("the copy did not match the sled store, so it was rolled back (the database is as before): {}", .0.join("; "))]
    Differs(Vec<String>),
}

/// One table of a finished migration.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct TableCopy {
    /// The sled tree the rows came from.
    pub tree: String,
    /// The PostgreSQL table they went to.
    pub table: String,
    pub sled: u64,
    pub postgres: u64,
}

/// What a migration copied and checked.
#[derive(Debug, Clone, Serialize)]
pub struct Migrated {
    pub tables: Vec<TableCopy>,
    /// Rows written, all tables.
    pub rows: u64,
    /// Compared record by record (not only counted) before COMMIT.
    pub cases_compared: u64,
    pub episodes_compared: u64,
    pub hosts_compared: u64,
    /// The case id the next new case continues after.
    pub next_case_id: u64,
    /// sled trees this rblfleet does not know, left behind.
    pub skipped_trees: Vec<String>,
    pub seconds: f64,
}

/// Copies the sled store in `dir` into the PostgreSQL database `target`
/// (schema migrations applied first) and verifies the copy.
pub fn migrate_from_sled(dir: &Path, target: &PgOptions) -> Result<Migrated, MigrateError> {
    let started = Instant::now();
    let (db, skipped_trees) = open_source(dir)?;
    let pg = Pg::connect(target).map_err(MigrateError::Target)?;
    pg.check_not_served().map_err(MigrateError::Target)?;
    let present: Vec<(String, u64)> = pg
        .table_counts()
        .map_err(MigrateError::Target)?
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(t, n)| (t.name().to_string(), n))
        .collect();
    if !present.is_empty() {
        return Err(MigrateError::TargetNotEmpty { tables: present });
    }
    let (tx, rx) = mpsc::channel(IN_FLIGHT);
    let reader = std::thread::Builder::new()
        .name("rblfleet-migrate".into())
        .spawn(move || read_source(&db, &tx))
        .map_err(|e| MigrateError::Source { dir: dir.into(), cause: StoreError::Io(sled::Error::Io(e)) })?;
    let imported = pg.import(rx);
    let read = reader.join().unwrap_or_else(|_| {
        Err(StoreError::Corrupt { key: "(reader)".into(), reason: "the sled reading thread panicked".into() })
    });
    let source = |cause| MigrateError::Source { dir: dir.into(), cause };
    let sent = match (read, imported) {
        // The reader stops when the import refuses; the refusal is the news.
        (_, Err(e @ StoreError::DatabaseInUse { .. })) => return Err(MigrateError::Target(e)),
        (Err(cause), _) => return Err(source(cause)),
        (Ok(_), Err(e)) => return Err(MigrateError::Target(e)),
        (Ok(sent), Ok(Imported::Copied(found))) => (sent, found),
        (Ok(_), Ok(Imported::NotEmpty(tables))) => {
            let tables = tables.into_iter().map(|(t, n)| (t.name().to_string(), n)).collect();
            return Err(MigrateError::TargetNotEmpty { tables });
        }
        (Ok(_), Ok(Imported::Differs(what))) => return Err(MigrateError::Differs(what)),
        (Ok(_), Ok(Imported::Interrupted)) => {
            return Err(source(StoreError::Corrupt {
                key: "(reader)".into(),
                reason: "the sled reader stopped early without saying why".into(),
            }));
        }
    };
    let (summary, found) = sent;
    let tables: Vec<TableCopy> = summary
        .counts
        .iter()
        .zip(&found)
        .map(|((table, sled), (_, postgres))| TableCopy {
            tree: table.tree().into(),
            table: table.name().into(),
            sled: *sled,
            postgres: *postgres,
        })
        .collect();
    Ok(Migrated {
        rows: tables.iter().map(|t| t.postgres).sum(),
        tables,
        cases_compared: summary.cases,
        episodes_compared: summary.episodes,
        hosts_compared: summary.hosts,
        next_case_id: summary.next_case_id,
        skipped_trees,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Opens the sled store in `dir` without creating anything: the directory
/// must hold a sled database with rblfleet's schema version. Returns it
/// and the names of trees this version does not copy.
fn open_source(dir: &Path) -> Result<(sled::Db, Vec<String>), MigrateError> {
    if !dir.join("db").is_file() {
        return Err(MigrateError::NoStore { dir: dir.into() });
    }
    let db = sled::Config::new().path(dir).cache_capacity(64 << 20).open().map_err(|cause| {
        if cause.to_string().contains("could not acquire lock") {
            MigrateError::InUse { dir: dir.into() }
        } else {
            MigrateError::Source { dir: dir.into(), cause: StoreError::Open { path: dir.into(), cause } }
        }
    })?;
    let source = |cause: sled::Error| MigrateError::Source { dir: dir.into(), cause: StoreError::from(cause) };
    let names: Vec<String> = db.tree_names().iter().map(|n| String::from_utf8_lossy(n).into_owned()).collect();
    if !names.iter().any(|n| n == "meta") {
        return Err(MigrateError::NotRblfleet { dir: dir.into() });
    }
    let meta = db.open_tree("meta").map_err(source)?;
    let version = meta.get(SCHEMA_KEY).map_err(source)?.ok_or_else(|| MigrateError::NotRblfleet { dir: dir.into() })?;
    let found = <[u8; 4]>::try_from(version.as_ref()).map(u32::from_be_bytes).unwrap_or(0);
    if found != SCHEMA_VERSION {
        return Err(MigrateError::Source {
            dir: dir.into(),
            cause: StoreError::Schema { path: dir.into(), found, expected: SCHEMA_VERSION },
        });
    }
    let known = |n: &String| n == "meta" || n == "__sled__default" || Table::ALL.iter().any(|t| t.tree() == n);
    let skipped = names.into_iter().filter(|n| !known(n)).collect();
    Ok((db, skipped))
}

/// What the reader sent, for the report.
struct Sent {
    counts: Vec<(Table, u64)>,
    cases: u64,
    episodes: u64,
    hosts: u64,
    next_case_id: u64,
}

/// Reads every table's tree in key order into batches, then sends what
/// the copy must equal. A closed channel means the importer gave up (its
/// error is the answer); the reader then stops quietly.
fn read_source(db: &sled::Db, tx: &mpsc::Sender<Feed>) -> Result<Sent, StoreError> {
    let names = db.tree_names();
    let mut expected = Expected::default();
    for table in Table::ALL {
        if !names.iter().any(|n| n.as_ref() == table.tree().as_bytes()) {
            expected.counts.push((table, 0));
            continue;
        }
        let tree = db.open_tree(table.tree())?;
        let mut batch = Batch::new(table);
        let mut rows = 0u64;
        for entry in tree.iter() {
            let (key, value) = entry?;
            rows += batch.push(&key, &value)? as u64;
            match table {
                Table::Cases => expected.cases.push(decode::<Case>(&key, &value)?),
                Table::Episodes => expected.episodes.push(decode::<ListingEpisode>(&key, &value)?),
                Table::Hosts => expected.hosts.push(decode::<HostSummary>(&key, &value)?),
                _ => {}
            }
            if batch.rows() >= BATCH_ROWS || batch.bytes() >= BATCH_BYTES {
                let full = std::mem::replace(&mut batch, Batch::new(table));
                if tx.blocking_send(Feed::Batch(full)).is_err() {
                    return Ok(sent(&expected));
                }
            }
        }
        if batch.rows() > 0 && tx.blocking_send(Feed::Batch(batch)).is_err() {
            return Ok(sent(&expected));
        }
        expected.counts.push((table, rows));
    }
    // PostgreSQL orders text by bytes ("C" collation), as Rust does.
    expected.episodes.sort_by(|a, b| (&a.ip, &a.zone_id, a.first_seen_ms).cmp(&(&b.ip, &b.zone_id, b.first_seen_ms)));
    expected.hosts.sort_by(|a, b| a.host_id.cmp(&b.host_id));
    let meta = db.open_tree("meta")?;
    expected.next_case_id = meta
        .get(b"next_case_id")?
        .and_then(|raw| <[u8; 8]>::try_from(raw.as_ref()).ok())
        .map_or(0, u64::from_be_bytes)
        .max(expected.cases.iter().map(|c| c.id).max().unwrap_or(0));
    let summary = sent(&expected);
    let _ = tx.blocking_send(Feed::Done(Box::new(expected)));
    Ok(summary)
}

fn sent(expected: &Expected) -> Sent {
    Sent {
        counts: expected.counts.clone(),
        cases: expected.cases.len() as u64,
        episodes: expected.episodes.len() as u64,
        hosts: expected.hosts.len() as u64,
        next_case_id: expected.next_case_id,
    }
}

#[cfg(test)]
mod tests;
