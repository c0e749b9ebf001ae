//! Reads of reports, host summaries and roll-ups on PostgreSQL, and the
//! day partitions of `reports` (sled: `store::reports`, `store::history`).

use rblfleet_proto::v1::{HostReport, HostSummary, HourRollup};

use super::{Pg, db};
use crate::store::encoding::decode;
use crate::store::{StoreError, rollup};

const DAY_MS: i64 = 86_400_000;

impl Pg {
    pub(crate) fn list_hosts(&self) -> Result<Vec<HostSummary>, StoreError> {
        self.call(|client| async move {
            let rows = client
                .query("SELECT host_id, record FROM hosts ORDER BY host_id", &[])
                .await
                .map_err(db("listing hosts"))?;
            rows.iter().map(|row| decode(row.get::<_, &str>(0).as_bytes(), row.get(1))).collect()
        })
    }

    pub(crate) fn get_host(&self, host_id: &str) -> Result<Option<(HostSummary, Option<HostReport>)>, StoreError> {
        let host_id = host_id.to_string();
        self.call(move |client| async move {
            let row = client
                .query_opt(
                    "SELECT h.record, r.record FROM hosts h LEFT JOIN reports r
                       ON r.host_id = h.host_id AND r.epoch = h.epoch AND r.seq = h.last_seq
                     WHERE h.host_id = $1",
                    &[&host_id],
                )
                .await
                .map_err(db("reading a host"))?;
            let Some(row) = row else { return Ok(None) };
            let summary = decode(host_id.as_bytes(), row.get(0))?;
            let report = row.get::<_, Option<&[u8]>>(1).map(|raw| decode(host_id.as_bytes(), raw)).transpose()?;
            Ok(Some((summary, report)))
        })
    }

    pub(crate) fn host_reports(&self, host_id: &str) -> Result<Vec<HostReport>, StoreError> {
        let host_id = host_id.to_string();
        self.call(move |client| async move {
            let rows = client
                .query("SELECT record FROM reports WHERE host_id = $1 ORDER BY epoch, seq", &[&host_id])
                .await
                .map_err(db("reading a host's reports"))?;
            rows.iter().map(|row| decode(host_id.as_bytes(), row.get(0))).collect()
        })
    }

    pub(crate) fn rollups(&self, host_id: &str, from_ms: i64, to_ms: i64) -> Result<Vec<HourRollup>, StoreError> {
        let host_id = host_id.to_string();
        let from = rollup::hour_of(from_ms);
        self.call(move |client| async move {
            let rows = client
                .query(
                    "SELECT record FROM rollups WHERE host_id = $1 AND hour_ms >= $2 AND hour_ms < $3 ORDER BY hour_ms",
                    &[&host_id, &from, &to_ms],
                )
                .await
                .map_err(db("reading roll-ups"))?;
            rows.iter().map(|row| decode(host_id.as_bytes(), row.get(0))).collect()
        })
    }

    /// One query for all hosts (the suspects of a listing carried by many
    /// hosts), in the order given, each host's hours oldest first.
    pub(crate) fn hosts_rollups(
        &self,
        host_ids: &[String],
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<HourRollup>, StoreError> {
        if host_ids.is_empty() {
            return Ok(Vec::new());
        }
        let host_ids = host_ids.to_vec();
        let from = rollup::hour_of(from_ms);
        self.call(move |client| async move {
            let rows = client
                .query(
                    "SELECT r.host_id, r.record
                       FROM unnest($1::text[]) WITH ORDINALITY AS h(host_id, n)
                       JOIN rollups r ON r.host_id = h.host_id
                      WHERE r.hour_ms >= $2 AND r.hour_ms < $3
                      ORDER BY h.n, r.hour_ms",
                    &[&host_ids, &from, &to_ms],
                )
                .await
                .map_err(db("reading roll-ups"))?;
            rows.iter().map(|row| decode(row.get::<_, &str>(0).as_bytes(), row.get(1))).collect()
        })
    }

    /// Creates the day partitions `days` need (once per day per process;
    /// another controller creating the same one at the same time is fine).
    pub(super) fn ensure_partitions(&self, days: &[i32]) -> Result<(), StoreError> {
        let missing: Vec<i32> = {
            let known = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
            let mut missing: Vec<i32> = days.iter().copied().filter(|d| !known.contains(d)).collect();
            missing.sort_unstable();
            missing.dedup();
            missing
        };
        if missing.is_empty() {
            return Ok(());
        }
        let statements: Vec<String> = missing.iter().map(|&d| partition_ddl(d)).collect::<Result<_, _>>()?;
        self.call(move |client| async move {
            for sql in &statements {
                if let Err(e) = client.batch_execute(sql).await {
                    // 42P07 duplicate_table, 23505 unique_violation (pg_type):
                    // a concurrent CREATE … IF NOT EXISTS won the race.
                    let raced = e.code().is_some_and(|c| matches!(c.code(), "42P07" | "23505"));
                    if !raced {
                        return Err(db("creating a report partition")(e));
                    }
                }
            }
            Ok(())
        })?;
        self.partitions.lock().unwrap_or_else(|p| p.into_inner()).extend(missing);
        Ok(())
    }
}

/// UTC day number (days since 1970-01-01) of a Unix-ms time.
pub(super) fn day_of(ms: i64) -> i32 {
    i32::try_from(ms.div_euclid(DAY_MS)).unwrap_or(if ms < 0 { i32::MIN } else { i32::MAX })
}

/// The date of a day number.
pub(super) fn date_of(day: i32) -> Result<time::Date, StoreError> {
    time::Date::from_julian_day(day.saturating_add(2_440_588))
        .map_err(|_| StoreError::Postgres(format!("day {day} is outside the calendar")))
}

/// `reports_YYYYMMDD`, the partition of one day.
pub(super) fn partition_name(day: i32) -> Result<String, StoreError> {
    let date = date_of(day)?;
    Ok(format!("reports_{:04}{:02}{:02}", date.year(), u8::from(date.month()), date.day()))
}

pub(super) fn partition_ddl(day: i32) -> Result<String, StoreError> {
    let (from, to) = (date_of(day)?, date_of(day.saturating_add(1))?);
    Ok(format!(
        "CREATE TABLE IF NOT EXISTS {} PARTITION OF reports FOR VALUES FROM ('{from}') TO ('{to}')",
        partition_name(day)?
    ))
}
