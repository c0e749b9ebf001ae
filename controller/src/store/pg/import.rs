//! Bulk import into PostgreSQL, for `rblfleet migrate --from-sled` (the
//! sled side is `store::migrate`).
//!
//! The whole copy is one transaction on one connection: batches of rows
//! arrive on a channel from the thread reading sled and go in with one
//! multi-row `INSERT … SELECT * FROM unnest(…)` each (one round trip per
//! batch, as ingest writes). Before COMMIT the import reads back what it
//! wrote and compares it with what sled held (row counts per table; cases,
//! episodes and host summaries record by record): a difference rolls
//! everything back, so the target is either a verified copy or untouched.

mod batch;
mod table;

use std::collections::BTreeSet;

use rblfleet_proto::v1::{Case, HostSummary, ListingEpisode};
use tokio::sync::mpsc;
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

pub(crate) use batch::Batch;
use batch::Column;
pub(crate) use table::Table;

use super::reports::partition_ddl;
use super::serving::exclude_controllers;
use super::{Pg, db, to_i64};
use crate::store::StoreError;
use crate::store::encoding::decode;

/// What the reading side sends: batches, then what to compare against.
#[derive(Debug)]
pub(crate) enum Feed {
    Batch(Batch),
    /// Everything was sent; rows per table as sled held them, the case id
    /// counter, and the records compared one by one before COMMIT.
    Done(Box<Expected>),
}

#[derive(Debug, Default)]
pub(crate) struct Expected {
    pub counts: Vec<(Table, u64)>,
    pub next_case_id: u64,
    /// By id.
    pub cases: Vec<Case>,
    /// By (ip, zone, first seen).
    pub episodes: Vec<ListingEpisode>,
    /// By host id.
    pub hosts: Vec<HostSummary>,
}

/// How an import ended.
#[derive(Debug)]
pub(crate) enum Imported {
    /// Committed: rows per table as found in PostgreSQL after the copy.
    Copied(Vec<(Table, u64)>),
    /// Nothing written: these tables already hold rows.
    NotEmpty(Vec<(Table, u64)>),
    /// Rolled back: what differed.
    Differs(Vec<String>),
    /// Rolled back: the reading side stopped without `Feed::Done` (its
    /// own error says why).
    Interrupted,
}

/// Advisory lock key ("rblm") held by a migration: two at once would both
/// find the target empty.
const IMPORT_LOCK: i64 = 0x7262_6c6d;

impl Pg {
    /// `DatabaseInUse` while a controller serves the database (asked
    /// before the copy starts; the import holds the lock itself).
    pub(crate) fn check_not_served(&self) -> Result<(), StoreError> {
        let database = self.database().to_string();
        self.call(move |client| async move {
            super::in_transaction(&client, async { exclude_controllers(&client, &database).await }).await
        })
    }

    /// Rows per table (for the refusal of a non-empty target).
    pub(crate) fn table_counts(&self) -> Result<Vec<(Table, u64)>, StoreError> {
        self.call(|client| async move { counts(&client).await })
    }

    /// Runs the import: one transaction fed by `feed`, verified before
    /// COMMIT (see the module doc).
    pub(crate) fn import(&self, feed: mpsc::Receiver<Feed>) -> Result<Imported, StoreError> {
        let database = self.database().to_string();
        self.call(move |client| async move {
            client.batch_execute("BEGIN").await.map_err(db("BEGIN"))?;
            let outcome = import_in(&client, &database, feed).await;
            let commit = matches!(outcome, Ok(Imported::Copied(_)));
            let end = client.batch_execute(if commit { "COMMIT" } else { "ROLLBACK" }).await;
            let outcome = outcome?;
            end.map_err(db(if commit { "COMMIT" } else { "ROLLBACK" }))?;
            if commit {
                // Planner statistics now, not at autovacuum's leisure: on
                // 10,000 copied hosts `noc_hosts` took 6.7 s before and
                // 0.13 s after.
                analyze_tables(&client).await?;
            }
            Ok(outcome)
        })
    }

    /// `ANALYZE` of every rblfleet table (see `Store::analyze`).
    pub(crate) fn analyze(&self) -> Result<(), StoreError> {
        self.call(|client| async move { analyze_tables(&client).await })
    }
}

async fn analyze_tables(client: &Client) -> Result<(), StoreError> {
    let tables: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
    client.batch_execute(&format!("ANALYZE {}", tables.join(", "))).await.map_err(db("analyzing the tables"))
}

async fn counts(client: &Client) -> Result<Vec<(Table, u64)>, StoreError> {
    let sql: Vec<String> = Table::ALL.iter().map(|t| format!("SELECT count(*) FROM {}", t.name())).collect::<Vec<_>>();
    let row = client
        .query_one(&format!("SELECT {}", sql.iter().map(|s| format!("({s})")).collect::<Vec<_>>().join(", ")), &[])
        .await
        .map_err(db("counting rows"))?;
    Ok(Table::ALL.iter().enumerate().map(|(i, t)| (*t, super::to_u64(row.get(i)))).collect())
}

async fn import_in(client: &Client, database: &str, mut feed: mpsc::Receiver<Feed>) -> Result<Imported, StoreError> {
    client.execute("SELECT pg_advisory_xact_lock($1)", &[&IMPORT_LOCK]).await.map_err(db("taking the import lock"))?;
    // No controller may serve the database while it fills, nor start
    // until the copy is committed or rolled back.
    exclude_controllers(client, database).await?;
    let present: Vec<(Table, u64)> = counts(client).await?.into_iter().filter(|(_, n)| *n > 0).collect();
    if !present.is_empty() {
        return Ok(Imported::NotEmpty(present));
    }
    let mut statements = std::collections::HashMap::new();
    let mut partitions = BTreeSet::new();
    let expected = loop {
        match feed.recv().await {
            None => return Ok(Imported::Interrupted),
            Some(Feed::Done(expected)) => break expected,
            Some(Feed::Batch(batch)) => {
                let new: Vec<i32> = batch.days.difference(&partitions).copied().collect();
                for day in new {
                    client.batch_execute(&partition_ddl(day)?).await.map_err(db("creating a report partition"))?;
                    partitions.insert(day);
                }
                let statement = match statements.get(&batch.table.name()) {
                    Some(s) => tokio_postgres::Statement::clone(s),
                    None => {
                        let s = client
                            .prepare(&batch.table.insert_sql())
                            .await
                            .map_err(db("preparing an import statement"))?;
                        statements.insert(batch.table.name(), s.clone());
                        s
                    }
                };
                let params: Vec<&(dyn ToSql + Sync)> = batch.columns.iter().map(Column::param).collect();
                client.execute(&statement, &params).await.map_err(db("copying rows"))?;
            }
        }
    };
    if expected.next_case_id > 0 {
        client
            .execute("SELECT setval('case_ids', $1)", &[&to_i64(expected.next_case_id)])
            .await
            .map_err(db("setting the case id sequence"))?;
    }
    let found = counts(client).await?;
    let mut differs = Vec::new();
    for ((table, want), (_, got)) in expected.counts.iter().zip(&found) {
        if want != got {
            differs.push(format!("{}: {want} rows in sled, {got} in PostgreSQL", table.name()));
        }
    }
    differs.extend(compare(client, &expected).await?);
    Ok(if differs.is_empty() { Imported::Copied(found) } else { Imported::Differs(differs) })
}

/// Cases, episodes and host summaries read back and compared, decoded,
/// with what sled held.
async fn compare(client: &Client, expected: &Expected) -> Result<Vec<String>, StoreError> {
    async fn read<M: prost::Message + Default>(client: &Client, sql: &str) -> Result<Vec<M>, StoreError> {
        let rows = client.query(sql, &[]).await.map_err(db("reading the copy back"))?;
        rows.iter().map(|row| decode(b"(read back)", row.get(0))).collect()
    }
    let mut differs = Vec::new();
    let cases: Vec<Case> = read(client, "SELECT record FROM cases ORDER BY id").await?;
    differs.extend(first_difference("cases", &expected.cases, &cases, |c| format!("case {}", c.id)));
    let episodes: Vec<ListingEpisode> =
        read(client, "SELECT record FROM episodes ORDER BY ip, zone_id, first_seen_ms").await?;
    differs.extend(first_difference("episodes", &expected.episodes, &episodes, |e| {
        format!("episode {} on {} from {}", e.ip, e.zone_id, e.first_seen_ms)
    }));
    let hosts: Vec<HostSummary> = read(client, "SELECT record FROM hosts ORDER BY host_id").await?;
    differs.extend(first_difference("hosts", &expected.hosts, &hosts, |h| format!("host {}", h.host_id)));
    Ok(differs)
}

fn first_difference<M: PartialEq>(what: &str, want: &[M], got: &[M], name: impl Fn(&M) -> String) -> Option<String> {
    if want.len() != got.len() {
        return Some(format!("{what}: {} in sled, {} read back", want.len(), got.len()));
    }
    want.iter().zip(got).find(|(w, g)| w != g).map(|(w, _)| format!("{what}: {} differs once copied", name(w)))
}
