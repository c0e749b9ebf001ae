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

use std::collections::BTreeSet;

use rblfleet_proto::v1::{
    ActionRecord, Case, CheckStatus, HostDomains, HostReport, HostSummary, HourRollup, ListingEpisode, OutbreakWarning,
    ReceiverState, SendingDomain, ZoneCheck,
};
use tokio::sync::mpsc;
use tokio_postgres::Client;
use tokio_postgres::types::ToSql;

use super::reports::{day_of, partition_ddl};
use super::{Pg, db, enum_name, to_i64};
use crate::store::StoreError;
use crate::store::encoding::decode;

/// The tables a migration fills, in copy order, each with the sled tree
/// its rows come from (`case_history` is read out of the cases, `host_ips`
/// out of the host summaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Hosts,
    HostIps,
    Reports,
    Rollups,
    Checks,
    Episodes,
    ZoneUsage,
    Cases,
    CaseHistory,
    CaseIndex,
    Receivers,
    HostDomains,
    Sending,
    Outbreak,
    Warnings,
    Actions,
}

/// A column's SQL array type; `Day` is a day number stored as a `date`.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Text,
    Int8,
    Int4,
    Bytea,
    Day,
}

use Kind::{Bytea, Day, Int4, Int8, Text};

impl Table {
    pub(crate) const ALL: [Table; 16] = [
        Table::Hosts,
        Table::HostIps,
        Table::Reports,
        Table::Rollups,
        Table::Checks,
        Table::Episodes,
        Table::ZoneUsage,
        Table::Cases,
        Table::CaseHistory,
        Table::CaseIndex,
        Table::Receivers,
        Table::HostDomains,
        Table::Sending,
        Table::Outbreak,
        Table::Warnings,
        Table::Actions,
    ];

    /// The PostgreSQL table.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Hosts => "hosts",
            Table::HostIps => "host_ips",
            Table::Reports => "reports",
            Table::Rollups => "rollups",
            Table::Checks => "checks",
            Table::Episodes => "episodes",
            Table::ZoneUsage => "zone_usage",
            Table::Cases => "cases",
            Table::CaseHistory => "case_history",
            Table::CaseIndex => "case_index",
            Table::Receivers => "receivers",
            Table::HostDomains => "host_domains",
            Table::Sending => "sending",
            Table::Outbreak => "outbreak",
            Table::Warnings => "warnings",
            Table::Actions => "actions",
        }
    }

    /// The sled tree the rows come from.
    pub(crate) fn tree(self) -> &'static str {
        match self {
            Table::CaseHistory => "cases",
            Table::HostIps => "hosts",
            other => other.name(),
        }
    }

    fn columns(self) -> &'static [(&'static str, Kind)] {
        match self {
            Table::Hosts => &[
                ("host_id", Text),
                ("epoch", Int8),
                ("last_seq", Int8),
                ("reports_stored", Int8),
                ("seq_gaps", Int8),
                ("first_seen_ms", Int8),
                ("last_report_ms", Int8),
                ("record", Bytea),
            ],
            Table::Reports => &[
                ("host_id", Text),
                ("epoch", Int8),
                ("seq", Int8),
                ("day", Day),
                ("period_end_ms", Int8),
                ("received_ms", Int8),
                ("record", Bytea),
            ],
            Table::Rollups => &[
                ("host_id", Text),
                ("hour_ms", Int8),
                ("reports", Int8),
                ("record", Bytea),
                ("sent", Int8),
                ("deferred", Int8),
                ("bounced", Int8),
                ("blocklisted", Int8),
                ("queue_max", Int8),
                ("queue_last", Int8),
            ],
            Table::HostIps => &[("host_id", Text), ("ip", Text)],
            Table::Checks => {
                &[("ip", Text), ("zone_id", Text), ("status", Text), ("checked_ms", Int8), ("record", Bytea)]
            }
            Table::Episodes => &[
                ("ip", Text),
                ("zone_id", Text),
                ("first_seen_ms", Int8),
                ("last_seen_ms", Int8),
                ("cleared_ms", Int8),
                ("record", Bytea),
            ],
            Table::ZoneUsage => &[("zone_id", Text), ("day", Int4), ("queries", Int8)],
            Table::Cases => &[
                ("id", Int8),
                ("ip", Text),
                ("list_id", Text),
                ("state", Text),
                ("updated_ms", Int8),
                ("record", Bytea),
            ],
            Table::CaseHistory => &[
                ("case_id", Int8),
                ("n", Int4),
                ("at_ms", Int8),
                ("who", Text),
                ("action", Text),
                ("from_state", Text),
                ("to_state", Text),
                ("note", Text),
                ("ref", Text),
                ("reason", Text),
            ],
            Table::CaseIndex => &[("ip", Text), ("list_id", Text), ("case_id", Int8)],
            Table::Receivers => &[("ip", Text), ("provider", Text), ("record", Bytea)],
            Table::HostDomains => &[("host_id", Text), ("record", Bytea)],
            Table::Sending => &[
                ("domain", Text),
                ("host_id", Text),
                ("messages", Int8),
                ("first_seen_ms", Int8),
                ("last_seen_ms", Int8),
            ],
            Table::Outbreak => &[("host_id", Text), ("state", Bytea)],
            Table::Warnings => &[
                ("host_id", Text),
                ("source_kind", Int4),
                ("source_id", Text),
                ("first_seen_ms", Int8),
                ("cleared_ms", Int8),
                ("record", Bytea),
            ],
            Table::Actions => &[("id", Text), ("host_id", Text), ("created_ms", Int8), ("record", Bytea)],
        }
    }

    /// `INSERT INTO t (…) SELECT … FROM unnest($1::text[], …) AS r(…)`.
    fn insert_sql(self) -> String {
        let columns = self.columns();
        let names: Vec<String> = columns.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        let select: Vec<String> = columns
            .iter()
            .map(|(n, k)| match k {
                Day => format!("DATE '1970-01-01' + r.\"{n}\""),
                _ => format!("r.\"{n}\""),
            })
            .collect();
        let arrays: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, (_, k))| {
                let ty = match k {
                    Text => "text",
                    Int8 => "int8",
                    Int4 | Day => "int4",
                    Bytea => "bytea",
                };
                format!("${}::{ty}[]", i + 1)
            })
            .collect();
        format!(
            "INSERT INTO {} ({}) SELECT {} FROM unnest({}) AS r({})",
            self.name(),
            names.join(", "),
            select.join(", "),
            arrays.join(", "),
            names.join(", ")
        )
    }
}

/// One column of a batch.
#[derive(Debug)]
enum Column {
    Text(Vec<String>),
    Int8(Vec<i64>),
    Int4(Vec<i32>),
    Bytea(Vec<Vec<u8>>),
}

impl Column {
    fn param(&self) -> &(dyn ToSql + Sync) {
        match self {
            Column::Text(v) => v,
            Column::Int8(v) => v,
            Column::Int4(v) => v,
            Column::Bytea(v) => v,
        }
    }
}

/// Rows of one table, as columns, built from sled records.
#[derive(Debug)]
pub(crate) struct Batch {
    table: Table,
    columns: Vec<Column>,
    rows: usize,
    bytes: usize,
    /// Day partitions the rows need (reports).
    days: BTreeSet<i32>,
}

/// One value of a row, in column order.
enum Value {
    T(String),
    I(i64),
    D(i32),
    B(Vec<u8>),
}

impl Batch {
    pub(crate) fn new(table: Table) -> Batch {
        let columns = table
            .columns()
            .iter()
            .map(|(_, k)| match k {
                Text => Column::Text(Vec::new()),
                Int8 => Column::Int8(Vec::new()),
                Int4 | Day => Column::Int4(Vec::new()),
                Bytea => Column::Bytea(Vec::new()),
            })
            .collect();
        Batch { table, columns, rows: 0, bytes: 0, days: BTreeSet::new() }
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes of record data held (to bound a batch's size).
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Adds the rows of one sled record (`case_history`: one per event)
    /// and returns how many.
    pub(crate) fn push(&mut self, key: &[u8], value: &[u8]) -> Result<usize, StoreError> {
        let rows = rows_of(self.table, key, value)?;
        let added = rows.len();
        for row in rows {
            for (column, value) in self.columns.iter_mut().zip(row) {
                match (column, value) {
                    (Column::Text(v), Value::T(x)) => {
                        self.bytes += x.len();
                        v.push(x);
                    }
                    (Column::Int8(v), Value::I(x)) => v.push(x),
                    (Column::Int4(v), Value::D(x)) => {
                        if matches!(self.table, Table::Reports) {
                            self.days.insert(x);
                        }
                        v.push(x);
                    }
                    (Column::Bytea(v), Value::B(x)) => {
                        self.bytes += x.len();
                        v.push(x);
                    }
                    _ => unreachable!("rows_of follows Table::columns"),
                }
            }
            self.rows += 1;
        }
        Ok(added)
    }
}

/// A text key part: sled keys are bytes, the columns are text.
fn text(key: &[u8], part: &[u8]) -> Result<String, StoreError> {
    String::from_utf8(part.to_vec()).map_err(|_| corrupt(key, "a key part is not UTF-8"))
}

fn corrupt(key: &[u8], reason: &str) -> StoreError {
    StoreError::Corrupt { key: crate::store::encoding::printable_key(key), reason: reason.into() }
}

/// `prefix \0 <n bytes>`: the prefix and the fixed-width tail.
fn split_tail<const N: usize>(key: &[u8]) -> Result<(String, [u8; N]), StoreError> {
    let short = || corrupt(key, "key too short");
    let cut = key.len().checked_sub(N + 1).ok_or_else(short)?;
    if key[cut] != 0 {
        return Err(corrupt(key, "no 0x00 separator before the key's number"));
    }
    let tail = <[u8; N]>::try_from(&key[cut + 1..]).map_err(|_| short())?;
    Ok((text(key, &key[..cut])?, tail))
}

fn case_state(state: i32) -> String {
    enum_name(rblfleet_proto::v1::CaseState::try_from(state).map(|s| s.as_str_name()), "CASE_STATE_", state)
}

/// The rows one sled record becomes: the same columns the store's own
/// writers fill (see `pg::ingest`, `pg::listings`, `pg::cases`, `pg::other`),
/// with the record's bytes kept exactly as sled held them.
fn rows_of(table: Table, key: &[u8], raw: &[u8]) -> Result<Vec<Vec<Value>>, StoreError> {
    use Value::{B, D, I, T};
    let record = || B(raw.to_vec());
    let row = match table {
        Table::Hosts => {
            let s: HostSummary = decode(key, raw)?;
            vec![
                T(text(key, key)?),
                I(to_i64(s.epoch)),
                I(to_i64(s.last_seq)),
                I(to_i64(s.reports_stored)),
                I(to_i64(s.seq_gaps)),
                I(s.first_seen_ms),
                I(s.last_report_ms),
                record(),
            ]
        }
        Table::HostIps => {
            let s: HostSummary = decode(key, raw)?;
            let host = text(key, key)?;
            return Ok(super::noc::watched_ips(&s).into_iter().map(|ip| vec![T(host.clone()), T(ip)]).collect());
        }
        Table::Reports => {
            let r: HostReport = decode(key, raw)?;
            // sled keeps no arrival time: the period's end is the nearest
            // it holds (the column is informational).
            vec![
                T(r.host_id),
                I(to_i64(r.epoch)),
                I(to_i64(r.seq)),
                D(day_of(r.period_end_ms)),
                I(r.period_end_ms),
                I(r.period_end_ms),
                record(),
            ]
        }
        Table::Rollups => {
            let (host, hour) = split_tail::<8>(key)?;
            let r: HourRollup = decode(key, raw)?;
            let mut row = vec![T(host), I(i64::from_be_bytes(hour)), I(to_i64(r.reports)), record()];
            row.extend(super::noc::rollup_figures(&r).map(I));
            row
        }
        Table::Checks => {
            let c: ZoneCheck = decode(key, raw)?;
            let status = enum_name(CheckStatus::try_from(c.status).map(|s| s.as_str_name()), "CHECK_STATUS_", c.status);
            vec![T(c.ip), T(c.zone_id), T(status), I(c.checked_ms), record()]
        }
        Table::Episodes => {
            let e: ListingEpisode = decode(key, raw)?;
            vec![T(e.ip), T(e.zone_id), I(e.first_seen_ms), I(e.last_seen_ms), I(e.cleared_ms), record()]
        }
        Table::ZoneUsage => {
            let (zone, day) = split_tail::<4>(key)?;
            let queries = <[u8; 8]>::try_from(raw).map_err(|_| corrupt(key, "a count that is not 8 bytes"))?;
            let day = i32::try_from(u32::from_be_bytes(day)).unwrap_or(i32::MAX);
            vec![T(zone), D(day), I(to_i64(u64::from_be_bytes(queries)))]
        }
        Table::Cases => {
            let c: Case = decode(key, raw)?;
            vec![I(to_i64(c.id)), T(c.ip), T(c.list_id), T(case_state(c.state)), I(c.updated_ms), record()]
        }
        Table::CaseHistory => {
            let c: Case = decode(key, raw)?;
            return Ok(c
                .history
                .into_iter()
                .enumerate()
                .map(|(n, e)| {
                    vec![
                        I(to_i64(c.id)),
                        D(i32::try_from(n).unwrap_or(i32::MAX)),
                        I(e.at_ms),
                        T(e.who),
                        T(e.action),
                        T(case_state(e.from)),
                        T(case_state(e.to)),
                        T(e.note),
                        T(e.r#ref),
                        T(e.reason),
                    ]
                })
                .collect());
        }
        Table::CaseIndex => {
            let cut = key.iter().position(|&b| b == 0).ok_or_else(|| corrupt(key, "no 0x00 separator"))?;
            let id = <[u8; 8]>::try_from(raw).map_err(|_| corrupt(key, "a case id that is not 8 bytes"))?;
            vec![T(text(key, &key[..cut])?), T(text(key, &key[cut + 1..])?), I(to_i64(u64::from_be_bytes(id)))]
        }
        Table::Receivers => {
            let r: ReceiverState = decode(key, raw)?;
            vec![T(r.ip), T(r.provider), record()]
        }
        Table::HostDomains => {
            decode::<HostDomains>(key, raw)?;
            vec![T(text(key, key)?), record()]
        }
        Table::Sending => {
            let s: SendingDomain = decode(key, raw)?;
            vec![T(s.domain), T(s.host_id), I(to_i64(s.messages)), I(s.first_seen_ms), I(s.last_seen_ms)]
        }
        Table::Outbreak => vec![T(text(key, key)?), record()],
        Table::Warnings => {
            let w: OutbreakWarning = decode(key, raw)?;
            vec![T(w.host_id), D(w.source_kind), T(w.source_id), I(w.first_seen_ms), I(w.cleared_ms), record()]
        }
        Table::Actions => {
            let a: ActionRecord = decode(key, raw)?;
            let action = a.action.unwrap_or_default();
            vec![T(action.id), T(action.host_id), I(a.created_ms), record()]
        }
    };
    Ok(vec![row])
}

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
    /// Rows per table (for the refusal of a non-empty target).
    pub(crate) fn table_counts(&self) -> Result<Vec<(Table, u64)>, StoreError> {
        self.call(|client| async move { counts(&client).await })
    }

    /// Runs the import: one transaction fed by `feed`, verified before
    /// COMMIT (see the module doc).
    pub(crate) fn import(&self, feed: mpsc::Receiver<Feed>) -> Result<Imported, StoreError> {
        self.call(move |client| async move {
            client.batch_execute("BEGIN").await.map_err(db("BEGIN"))?;
            let outcome = import_in(&client, feed).await;
            let commit = matches!(outcome, Ok(Imported::Copied(_)));
            let end = client.batch_execute(if commit { "COMMIT" } else { "ROLLBACK" }).await;
            let outcome = outcome?;
            end.map_err(db(if commit { "COMMIT" } else { "ROLLBACK" }))?;
            if commit {
                // Planner statistics now, not at autovacuum's leisure: on
                // 10,000 copied hosts `noc_hosts` took 6.7 s before and
                // 0.13 s after.
                let tables: Vec<&str> = Table::ALL.iter().map(|t| t.name()).collect();
                client
                    .batch_execute(&format!("ANALYZE {}", tables.join(", ")))
                    .await
                    .map_err(db("analyzing the copied tables"))?;
            }
            Ok(outcome)
        })
    }
}

async fn counts(client: &Client) -> Result<Vec<(Table, u64)>, StoreError> {
    let sql: Vec<String> = Table::ALL.iter().map(|t| format!("SELECT count(*) FROM {}", t.name())).collect::<Vec<_>>();
    let row = client
        .query_one(&format!("SELECT {}", sql.iter().map(|s| format!("({s})")).collect::<Vec<_>>().join(", ")), &[])
        .await
        .map_err(db("counting rows"))?;
    Ok(Table::ALL.iter().enumerate().map(|(i, t)| (*t, super::to_u64(row.get(i)))).collect())
}

async fn import_in(client: &Client, mut feed: mpsc::Receiver<Feed>) -> Result<Imported, StoreError> {
    client.execute("SELECT pg_advisory_xact_lock($1)", &[&IMPORT_LOCK]).await.map_err(db("taking the import lock"))?;
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
