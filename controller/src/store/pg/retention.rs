//! Retention on PostgreSQL: raw reports go by dropping whole day
//! partitions, not by deleting rows (sled: `store::history::prune`).
//!
//! A partition entirely older than the cutoff is dropped at once when it
//! holds no host's latest report (the store keeps each host's latest, as
//! the sled store does); otherwise its other rows are deleted. Rows older
//! than the cutoff in the partitions that remain (the cutoff's own day)
//! are deleted. Unlike sled, which deletes each host's oldest reports up
//! to the first one inside the window, every report whose period ended
//! before the cutoff goes, also one that arrived out of order after a
//! newer one.

use super::reports::{date_of, day_of};
use super::{Pg, db, to_u64};
use crate::store::{Pruned, StoreError};

impl Pg {
    pub(crate) fn prune(&self, raw_before_ms: i64, rollup_before_ms: i64) -> Result<Pruned, StoreError> {
        let cutoff_day = day_of(raw_before_ms);
        // Partitions whose whole day lies before the cutoff: (day + 1) * DAY_MS
        // <= raw_before_ms, that is day < cutoff_day.
        let whole_days_before = cutoff_day;
        let (pruned, dropped) = self.call(move |client| async move {
            let mut pruned = Pruned::default();
            let mut dropped = Vec::new();
            let partitions = client
                .query(
                    "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                      WHERE i.inhparent = 'reports'::regclass ORDER BY 1",
                    &[],
                )
                .await
                .map_err(db("listing report partitions"))?;
            for row in partitions {
                let name: String = row.get(0);
                let Some(day) = day_of_partition(&name) else { continue };
                if day >= whole_days_before {
                    continue;
                }
                let counts = client
                    .query_one(
                        &format!(
                            "SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM hosts h
                               WHERE h.host_id = p.host_id AND h.epoch = p.epoch AND h.last_seq = p.seq))
                             FROM {name} p"
                        ),
                        &[],
                    )
                    .await
                    .map_err(db("counting a report partition"))?;
                let (rows, latest): (i64, i64) = (counts.get(0), counts.get(1));
                if latest == 0 {
                    client.batch_execute(&format!("DROP TABLE {name}")).await.map_err(db("dropping a partition"))?;
                    pruned.reports += to_u64(rows);
                    dropped.push(day);
                } else {
                    let deleted = client
                        .execute(
                            &format!(
                                "DELETE FROM {name} p USING hosts h WHERE h.host_id = p.host_id
                                   AND (p.epoch, p.seq) <> (h.epoch, h.last_seq)"
                            ),
                            &[],
                        )
                        .await
                        .map_err(db("pruning a partition"))?;
                    pruned.reports += deleted;
                }
            }
            pruned.reports += client
                .execute(
                    "DELETE FROM reports r USING hosts h WHERE h.host_id = r.host_id
                       AND r.day >= DATE '1970-01-01' + $2::int4 AND r.period_end_ms < $1
                       AND (r.epoch, r.seq) <> (h.epoch, h.last_seq)",
                    &[&raw_before_ms, &whole_days_before],
                )
                .await
                .map_err(db("pruning reports"))?;
            pruned.rollups = client
                .execute("DELETE FROM rollups WHERE hour_ms < $1", &[&rollup_before_ms])
                .await
                .map_err(db("pruning roll-ups"))?;
            Ok((pruned, dropped))
        })?;
        let mut known = self.partitions.lock().unwrap_or_else(|p| p.into_inner());
        for day in dropped {
            known.remove(&day);
        }
        Ok(pruned)
    }
}

/// The day number of `reports_YYYYMMDD`.
fn day_of_partition(name: &str) -> Option<i32> {
    let digits = name.strip_prefix("reports_")?;
    if digits.len() != 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m, d) = (digits[..4].parse().ok()?, digits[4..6].parse::<u8>().ok()?, digits[6..].parse().ok()?);
    let date = time::Date::from_calendar_date(y, time::Month::try_from(m).ok()?, d).ok()?;
    let day = date.to_julian_day() - 2_440_588;
    // Round trip: the name is one this store made.
    date_of(day).ok().filter(|back| *back == date).map(|_| day)
}
