//! Blocklist checks, listing episodes and zone usage on PostgreSQL (sled:
//! `store::listings`).

use rblfleet_proto::v1::{CheckStatus, ListingEpisode, ZoneCheck};

use super::{Pg, db, in_transaction, to_i64, to_u64};
use crate::store::StoreError;
use crate::store::encoding::{decode, encode};

impl Pg {
    pub(crate) fn zone_check(&self, ip: &str, zone_id: &str) -> Result<Option<ZoneCheck>, StoreError> {
        let (ip, zone_id) = (ip.to_string(), zone_id.to_string());
        self.call(move |client| async move {
            let row = client
                .query_opt("SELECT record FROM checks WHERE ip = $1 AND zone_id = $2", &[&ip, &zone_id])
                .await
                .map_err(db("reading a check"))?;
            row.map(|row| decode(ip.as_bytes(), row.get(0))).transpose()
        })
    }

    pub(crate) fn all_checks(&self) -> Result<Vec<ZoneCheck>, StoreError> {
        self.call(|client| async move {
            let rows = client
                .query("SELECT ip, record FROM checks ORDER BY ip, zone_id", &[])
                .await
                .map_err(db("listing checks"))?;
            rows.iter().map(|row| decode(row.get::<_, &str>(0).as_bytes(), row.get(1))).collect()
        })
    }

    pub(crate) fn ip_checks(&self, ip: &str) -> Result<Vec<ZoneCheck>, StoreError> {
        let ip = ip.to_string();
        self.call(move |client| async move {
            let rows = client
                .query("SELECT record FROM checks WHERE ip = $1 ORDER BY zone_id", &[&ip])
                .await
                .map_err(db("reading an IP's checks"))?;
            rows.iter().map(|row| decode(ip.as_bytes(), row.get(0))).collect()
        })
    }

    pub(crate) fn episode(
        &self,
        ip: &str,
        zone_id: &str,
        first_seen_ms: i64,
    ) -> Result<Option<ListingEpisode>, StoreError> {
        let (ip, zone_id) = (ip.to_string(), zone_id.to_string());
        self.call(move |client| async move {
            let row = client
                .query_opt(
                    "SELECT record FROM episodes WHERE ip = $1 AND zone_id = $2 AND first_seen_ms = $3",
                    &[&ip, &zone_id, &first_seen_ms],
                )
                .await
                .map_err(db("reading an episode"))?;
            row.map(|row| decode(ip.as_bytes(), row.get(0))).transpose()
        })
    }

    pub(crate) fn ip_episodes(&self, ip: &str) -> Result<Vec<ListingEpisode>, StoreError> {
        let ip = ip.to_string();
        self.call(move |client| async move {
            let rows = client
                .query("SELECT record FROM episodes WHERE ip = $1 ORDER BY zone_id, first_seen_ms", &[&ip])
                .await
                .map_err(db("reading an IP's episodes"))?;
            rows.iter().map(|row| decode(ip.as_bytes(), row.get(0))).collect()
        })
    }

    pub(crate) fn record_check(&self, check: &ZoneCheck, episode: Option<&ListingEpisode>) -> Result<(), StoreError> {
        self.record_checks(&[(check, episode)])
    }

    /// All checks and episodes in one transaction, two multi-row upserts.
    pub(crate) fn record_checks(&self, writes: &[(&ZoneCheck, Option<&ListingEpisode>)]) -> Result<(), StoreError> {
        // The last write of a key wins, as in sled (an upsert may not touch
        // one row twice).
        let mut checks: std::collections::BTreeMap<(String, String), &ZoneCheck> = Default::default();
        let mut episodes: Vec<&ListingEpisode> = Vec::new();
        for (check, episode) in writes {
            checks.insert((check.ip.clone(), check.zone_id.clone()), *check);
            episodes.extend(episode);
        }
        let checks: Vec<CheckRow> = checks.into_values().map(CheckRow::of).collect();
        let episodes: Vec<EpisodeRow> = dedup_episodes(episodes).into_iter().map(EpisodeRow::of).collect();
        self.call(move |client| async move {
            in_transaction(&client, async {
                upsert_checks(&client, &checks).await?;
                upsert_episodes(&client, &episodes).await
            })
            .await
        })
    }

    pub(crate) fn put_episode(&self, episode: &ListingEpisode) -> Result<(), StoreError> {
        let rows = vec![EpisodeRow::of(episode)];
        self.call(move |client| async move { upsert_episodes(&client, &rows).await })
    }

    /// One statement: concurrent controllers add up instead of overwriting.
    pub(crate) fn add_zone_usage(&self, zone_id: &str, day: u32, n: u64) -> Result<u64, StoreError> {
        let (zone_id, day, n) = (zone_id.to_string(), i32::try_from(day).unwrap_or(i32::MAX), to_i64(n));
        self.call(move |client| async move {
            let row = client
                .query_one(
                    "INSERT INTO zone_usage (zone_id, day, queries) VALUES ($1, $2, $3)
                     ON CONFLICT (zone_id, day) DO UPDATE
                       SET queries = LEAST(zone_usage.queries + EXCLUDED.queries, 9223372036854775807)
                     RETURNING queries",
                    &[&zone_id, &day, &n],
                )
                .await
                .map_err(db("counting zone usage"))?;
            Ok(to_u64(row.get(0)))
        })
    }

    /// One statement for every zone (a `/metrics` scrape, a takeover).
    pub(crate) fn zones_usage(&self, zone_ids: &[String], day: u32) -> Result<Vec<u64>, StoreError> {
        let (ids, day) = (zone_ids.to_vec(), i32::try_from(day).unwrap_or(i32::MAX));
        self.call(move |client| async move {
            let rows = client
                .query("SELECT zone_id, queries FROM zone_usage WHERE day = $1 AND zone_id = ANY($2)", &[&day, &ids])
                .await
                .map_err(db("reading zone usage"))?;
            let found: std::collections::HashMap<String, i64> =
                rows.iter().map(|row| (row.get(0), row.get(1))).collect();
            Ok(ids.iter().map(|id| found.get(id).map_or(0, |n| to_u64(*n))).collect())
        })
    }

    pub(crate) fn zone_usage(&self, zone_id: &str, day: u32) -> Result<u64, StoreError> {
        let (zone_id, day) = (zone_id.to_string(), i32::try_from(day).unwrap_or(i32::MAX));
        self.call(move |client| async move {
            let row = client
                .query_opt("SELECT queries FROM zone_usage WHERE zone_id = $1 AND day = $2", &[&zone_id, &day])
                .await
                .map_err(db("reading zone usage"))?;
            Ok(row.map_or(0, |row| to_u64(row.get(0))))
        })
    }
}

fn dedup_episodes(episodes: Vec<&ListingEpisode>) -> Vec<&ListingEpisode> {
    let mut last: std::collections::BTreeMap<(&str, &str, i64), &ListingEpisode> = Default::default();
    for e in episodes {
        last.insert((&e.ip, &e.zone_id, e.first_seen_ms), e);
    }
    last.into_values().collect()
}

struct CheckRow {
    ip: String,
    zone_id: String,
    status: String,
    checked_ms: i64,
    record: Vec<u8>,
}

impl CheckRow {
    fn of(c: &ZoneCheck) -> CheckRow {
        CheckRow {
            ip: c.ip.clone(),
            zone_id: c.zone_id.clone(),
            status: super::enum_name(
                CheckStatus::try_from(c.status).map(|s| s.as_str_name()),
                "CHECK_STATUS_",
                c.status,
            ),
            checked_ms: c.checked_ms,
            record: encode(c),
        }
    }
}

struct EpisodeRow {
    ip: String,
    zone_id: String,
    first_seen_ms: i64,
    last_seen_ms: i64,
    cleared_ms: i64,
    record: Vec<u8>,
}

impl EpisodeRow {
    fn of(e: &ListingEpisode) -> EpisodeRow {
        EpisodeRow {
            ip: e.ip.clone(),
            zone_id: e.zone_id.clone(),
            first_seen_ms: e.first_seen_ms,
            last_seen_ms: e.last_seen_ms,
            cleared_ms: e.cleared_ms,
            record: encode(e),
        }
    }
}

async fn upsert_checks(client: &tokio_postgres::Client, rows: &[CheckRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let ips: Vec<&str> = rows.iter().map(|r| r.ip.as_str()).collect();
    let zones: Vec<&str> = rows.iter().map(|r| r.zone_id.as_str()).collect();
    let status: Vec<&str> = rows.iter().map(|r| r.status.as_str()).collect();
    let checked: Vec<i64> = rows.iter().map(|r| r.checked_ms).collect();
    let records: Vec<&[u8]> = rows.iter().map(|r| r.record.as_slice()).collect();
    client
        .execute(
            "INSERT INTO checks (ip, zone_id, status, checked_ms, record)
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::bytea[])
             ON CONFLICT (ip, zone_id) DO UPDATE
               SET status = EXCLUDED.status, checked_ms = EXCLUDED.checked_ms, record = EXCLUDED.record",
            &[&ips, &zones, &status, &checked, &records],
        )
        .await
        .map_err(db("storing checks"))?;
    Ok(())
}

async fn upsert_episodes(client: &tokio_postgres::Client, rows: &[EpisodeRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let ips: Vec<&str> = rows.iter().map(|r| r.ip.as_str()).collect();
    let zones: Vec<&str> = rows.iter().map(|r| r.zone_id.as_str()).collect();
    let first: Vec<i64> = rows.iter().map(|r| r.first_seen_ms).collect();
    let last: Vec<i64> = rows.iter().map(|r| r.last_seen_ms).collect();
    let cleared: Vec<i64> = rows.iter().map(|r| r.cleared_ms).collect();
    let records: Vec<&[u8]> = rows.iter().map(|r| r.record.as_slice()).collect();
    client
        .execute(
            "INSERT INTO episodes (ip, zone_id, first_seen_ms, last_seen_ms, cleared_ms, record)
             SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::bytea[])
             ON CONFLICT (ip, zone_id, first_seen_ms) DO UPDATE
               SET last_seen_ms = EXCLUDED.last_seen_ms, cleared_ms = EXCLUDED.cleared_ms, record = EXCLUDED.record",
            &[&ips, &zones, &first, &last, &cleared, &records],
        )
        .await
        .map_err(db("storing episodes"))?;
    Ok(())
}
