//! Rows of one table built from sled records, as the columns one
//! multi-row insert takes (see `pg::import`).

use std::collections::BTreeSet;

use rblfleet_proto::v1::{
    ActionRecord, Case, CheckStatus, HostDomains, HostReport, HostSummary, HourRollup, ListingEpisode, OutbreakWarning,
    ReceiverState, SendingDomain, ZoneCheck,
};
use tokio_postgres::types::ToSql;

use super::table::{Kind, Table};
use crate::store::StoreError;
use crate::store::encoding::decode;
use crate::store::pg::reports::day_of;
use crate::store::pg::{enum_name, noc, to_i64};

/// One column of a batch.
#[derive(Debug)]
pub(super) enum Column {
    Text(Vec<String>),
    Int8(Vec<i64>),
    Int4(Vec<i32>),
    Bytea(Vec<Vec<u8>>),
}

impl Column {
    pub(super) fn param(&self) -> &(dyn ToSql + Sync) {
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
    pub(super) table: Table,
    pub(super) columns: Vec<Column>,
    rows: usize,
    bytes: usize,
    /// Day partitions the rows need (reports).
    pub(super) days: BTreeSet<i32>,
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
                Kind::Text => Column::Text(Vec::new()),
                Kind::Int8 => Column::Int8(Vec::new()),
                Kind::Int4 | Kind::Day => Column::Int4(Vec::new()),
                Kind::Bytea => Column::Bytea(Vec::new()),
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
            return Ok(noc::watched_ips(&s).into_iter().map(|ip| vec![T(host.clone()), T(ip)]).collect());
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
            row.extend(noc::rollup_figures(&r).map(I));
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
