//! Report ingest on PostgreSQL (sled: `store::reports`,
//! `store::domains`).
//!
//! A batch from the group-commit writer is one transaction: it takes an
//! advisory lock per host (in hash order, so two controllers never
//! deadlock), reads every row the batch needs in four statements, decides
//! each report exactly as the sled store does (`reports::next_summary`,
//! `rollup::merge`, in order, so a duplicate inside the batch sees the
//! earlier write), and writes with one multi-row statement per table
//! (`unnest` of arrays: one statement prepared once, whatever the batch
//! size). Under the host's lock a new report always has a sequence above
//! the host's last one, which keeps (host, epoch, seq) unique across the
//! day partitions.

use std::collections::{BTreeMap, HashMap};

use rblfleet_proto::v1::{HostReport, HostSummary, HourRollup, SendingDomain};

use super::reports::day_of;
use super::{Pg, db, in_transaction, to_i64, to_u64};
use crate::store::encoding::{decode, encode};
use crate::store::reports::{Outcome, next_summary};
use crate::store::{Applied, StoreError, rollup};

/// Advisory lock namespace of per-host ingest locks (the two-key form, so
/// it cannot meet the migration lock or later leases).
const HOST_LOCK: i32 = 1;

/// The error of a batch whose day partition is gone (see `apply_batch`).
const MISSING_PARTITION: &str = "storing reports: their day partition was dropped by retention meanwhile";

/// A report as the batch carries it into the job.
struct Incoming {
    report: HostReport,
    now_ms: i64,
    bytes: Vec<u8>,
}

type ReportKey = (String, i64, i64);

/// What the batch read, then changed.
#[derive(Default)]
struct State {
    hosts: HashMap<String, HostSummary>,
    reports: HashMap<ReportKey, Vec<u8>>,
    rollups: HashMap<(String, i64), HourRollup>,
    sending: HashMap<(String, String), SendingDomain>,
}

impl Pg {
    /// Stores a batch of reports in one committed transaction. Refusals are
    /// per report; a database failure undoes the whole batch.
    pub(crate) fn apply_batch(&self, batch: &[(&HostReport, i64)]) -> Result<Vec<Outcome>, StoreError> {
        let days: Vec<i32> = batch.iter().map(|(r, _)| day_of(r.period_end_ms)).collect();
        self.ensure_partitions(&days)?;
        let incoming: Vec<Incoming> = batch
            .iter()
            .map(|(r, now_ms)| Incoming { report: (*r).clone(), now_ms: *now_ms, bytes: encode(*r) })
            .collect();
        let incoming = std::sync::Arc::new(incoming);
        let run = |incoming: std::sync::Arc<Vec<Incoming>>| {
            self.call(move |client| async move { in_transaction(&client, apply(&client, &incoming)).await })
        };
        let (outcomes, domains_changed) = match run(incoming.clone()) {
            // Retention (here or in another controller) dropped a partition
            // this process still knew: forget them all and try once more.
            Err(StoreError::Postgres(why)) if why == MISSING_PARTITION => {
                self.partitions.lock().unwrap_or_else(|p| p.into_inner()).clear();
                self.ensure_partitions(&days)?;
                run(incoming)?
            }
            other => other?,
        };
        if domains_changed {
            self.domains_changed();
        }
        Ok(outcomes)
    }
}

/// The batch's transaction body: returns the outcomes and whether the
/// watched domains may have changed.
async fn apply(client: &tokio_postgres::Client, batch: &[Incoming]) -> Result<(Vec<Outcome>, bool), StoreError> {
    let mut hosts: Vec<String> = batch.iter().map(|i| i.report.host_id.clone()).collect();
    hosts.sort();
    hosts.dedup();
    client
        .execute(
            "SELECT pg_advisory_xact_lock($1, hashtext(h))
               FROM (SELECT h FROM unnest($2::text[]) AS h ORDER BY hashtext(h), h) AS sorted",
            &[&HOST_LOCK, &hosts],
        )
        .await
        .map_err(db("locking hosts"))?;
    let mut state = read_state(client, batch, &hosts).await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    let mut written = Written::default();
    let mut domains_changed = false;
    for (index, item) in batch.iter().enumerate() {
        let outcome = decide(&mut state, index, item, &mut written);
        if matches!(outcome, Ok(Applied::Stored(_))) {
            domains_changed |= merge_domains(&mut state, index, item, &mut written);
        }
        outcomes.push(outcome);
    }
    write(client, batch, &state, &written).await?;
    Ok((outcomes, domains_changed))
}

/// Which rows the batch changed (indexes into the batch, keys into `State`).
#[derive(Default)]
struct Written {
    reports: Vec<usize>,
    hosts: Vec<String>,
    rollups: Vec<(String, i64)>,
    host_domains: BTreeMap<String, usize>,
    sending: Vec<(String, String)>,
}

async fn read_state(
    client: &tokio_postgres::Client,
    batch: &[Incoming],
    hosts: &[String],
) -> Result<State, StoreError> {
    let mut state = State::default();
    for row in client
        .query("SELECT host_id, record FROM hosts WHERE host_id = ANY($1)", &[&hosts])
        .await
        .map_err(db("reading hosts"))?
    {
        let id: String = row.get(0);
        let summary = decode(id.as_bytes(), row.get(1))?;
        state.hosts.insert(id, summary);
    }
    let ids: Vec<&str> = batch.iter().map(|i| i.report.host_id.as_str()).collect();
    let epochs: Vec<i64> = batch.iter().map(|i| to_i64(i.report.epoch)).collect();
    let seqs: Vec<i64> = batch.iter().map(|i| to_i64(i.report.seq)).collect();
    for row in client
        .query(
            "SELECT host_id, epoch, seq, record FROM reports
              WHERE (host_id, epoch, seq) IN (SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[]))",
            &[&ids, &epochs, &seqs],
        )
        .await
        .map_err(db("reading stored reports"))?
    {
        state.reports.insert((row.get(0), row.get(1), row.get(2)), row.get(3));
    }
    let hours: Vec<i64> = batch.iter().map(|i| rollup::hour_of(i.report.period_end_ms)).collect();
    for row in client
        .query(
            "SELECT host_id, hour_ms, record FROM rollups
              WHERE (host_id, hour_ms) IN (SELECT * FROM unnest($1::text[], $2::int8[]))",
            &[&ids, &hours],
        )
        .await
        .map_err(db("reading roll-ups"))?
    {
        let id: String = row.get(0);
        let rollup = decode(id.as_bytes(), row.get(2))?;
        state.rollups.insert((id, row.get(1)), rollup);
    }
    let (mut domains, mut senders) = (Vec::new(), Vec::new());
    for item in batch {
        for named in &item.report.sender_domains {
            domains.push(named.name.as_str());
            senders.push(item.report.host_id.as_str());
        }
    }
    for row in client
        .query(
            "SELECT domain, host_id, messages, first_seen_ms, last_seen_ms FROM sending
              WHERE (domain, host_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            &[&domains, &senders],
        )
        .await
        .map_err(db("reading sender domains"))?
    {
        let row = SendingDomain {
            domain: row.get(0),
            host_id: row.get(1),
            messages: to_u64(row.get(2)),
            first_seen_ms: row.get(3),
            last_seen_ms: row.get(4),
        };
        state.sending.insert((row.domain.clone(), row.host_id.clone()), row);
    }
    Ok(state)
}

/// One report against the state so far: the same rules as sled's `apply_one`.
fn decide(state: &mut State, index: usize, item: &Incoming, written: &mut Written) -> Outcome {
    let r = &item.report;
    let key = (r.host_id.clone(), to_i64(r.epoch), to_i64(r.seq));
    let previous = state.hosts.get(&r.host_id).cloned();
    if let Some(stored) = state.reports.get(&key) {
        return if *stored == item.bytes {
            Ok(Applied::Duplicate(previous.unwrap_or_default()))
        } else {
            Err(StoreError::Conflict { host_id: r.host_id.clone(), epoch: r.epoch, seq: r.seq })
        };
    }
    let summary = next_summary(previous, r, item.now_ms)?;
    let hour = (r.host_id.clone(), rollup::hour_of(r.period_end_ms));
    rollup::merge(state.rollups.entry(hour.clone()).or_default(), r);
    state.reports.insert(key, item.bytes.clone());
    state.hosts.insert(r.host_id.clone(), summary.clone());
    written.reports.push(index);
    written.hosts.push(r.host_id.clone());
    written.rollups.push(hour);
    Ok(Applied::Stored(summary))
}

/// The domain parts of a stored report (sled: `domains::apply_report`).
fn merge_domains(state: &mut State, index: usize, item: &Incoming, written: &mut Written) -> bool {
    let r = &item.report;
    let mut changed = false;
    if r.domains.is_some() {
        written.host_domains.insert(r.host_id.clone(), index);
        changed = true;
    }
    for named in &r.sender_domains {
        let key = (named.name.clone(), r.host_id.clone());
        let row = state.sending.entry(key.clone()).or_insert_with(|| {
            changed = true;
            SendingDomain {
                domain: named.name.clone(),
                host_id: r.host_id.clone(),
                first_seen_ms: item.now_ms,
                ..SendingDomain::default()
            }
        });
        row.messages = row.messages.saturating_add(named.count);
        row.last_seen_ms = item.now_ms;
        written.sending.push(key);
    }
    changed
}

/// Writes what the batch changed: one multi-row statement per table.
async fn write(
    client: &tokio_postgres::Client,
    batch: &[Incoming],
    state: &State,
    written: &Written,
) -> Result<(), StoreError> {
    if written.reports.is_empty() {
        return Ok(());
    }
    let stored: Vec<&Incoming> = written.reports.iter().map(|&i| &batch[i]).collect();
    let ids: Vec<&str> = stored.iter().map(|i| i.report.host_id.as_str()).collect();
    let epochs: Vec<i64> = stored.iter().map(|i| to_i64(i.report.epoch)).collect();
    let seqs: Vec<i64> = stored.iter().map(|i| to_i64(i.report.seq)).collect();
    let days: Vec<i32> = stored.iter().map(|i| day_of(i.report.period_end_ms)).collect();
    let ends: Vec<i64> = stored.iter().map(|i| i.report.period_end_ms).collect();
    let received: Vec<i64> = stored.iter().map(|i| i.now_ms).collect();
    let records: Vec<&[u8]> = stored.iter().map(|i| i.bytes.as_slice()).collect();
    client
        .execute(
            "INSERT INTO reports (host_id, epoch, seq, day, period_end_ms, received_ms, record)
             SELECT h, e, s, DATE '1970-01-01' + d, p, r, b
               FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int4[], $5::int8[], $6::int8[], $7::bytea[])
                 AS t(h, e, s, d, p, r, b)",
            &[&ids, &epochs, &seqs, &days, &ends, &received, &records],
        )
        .await
        .map_err(|e| match e.code() {
            // check_violation: no partition of `reports` takes the row.
            Some(code) if code.code() == "23514" => StoreError::Postgres(MISSING_PARTITION.into()),
            _ => db("storing reports")(e),
        })?;

    let mut hosts: Vec<&String> = written.hosts.iter().collect();
    hosts.sort();
    hosts.dedup();
    let summaries: Vec<&HostSummary> = hosts.iter().filter_map(|h| state.hosts.get(*h)).collect();
    let ids: Vec<&str> = summaries.iter().map(|s| s.host_id.as_str()).collect();
    let col = |f: fn(&HostSummary) -> i64| summaries.iter().map(|s| f(s)).collect::<Vec<i64>>();
    let records: Vec<Vec<u8>> = summaries.iter().map(|s| encode(*s)).collect();
    client
        .execute(
            "INSERT INTO hosts (host_id, epoch, last_seq, reports_stored, seq_gaps, first_seen_ms, last_report_ms, record)
             SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::int8[], $6::int8[], $7::int8[], $8::bytea[])
             ON CONFLICT (host_id) DO UPDATE SET
               epoch = EXCLUDED.epoch, last_seq = EXCLUDED.last_seq, reports_stored = EXCLUDED.reports_stored,
               seq_gaps = EXCLUDED.seq_gaps, first_seen_ms = EXCLUDED.first_seen_ms,
               last_report_ms = EXCLUDED.last_report_ms, record = EXCLUDED.record",
            &[
                &ids,
                &col(|s| to_i64(s.epoch)),
                &col(|s| to_i64(s.last_seq)),
                &col(|s| to_i64(s.reports_stored)),
                &col(|s| to_i64(s.seq_gaps)),
                &col(|s| s.first_seen_ms),
                &col(|s| s.last_report_ms),
                &records,
            ],
        )
        .await
        .map_err(db("storing host summaries"))?;
    let (ip_hosts, ips) = super::noc::host_ip_columns(summaries.iter().copied());
    client.execute(super::noc::REPLACE_HOST_IPS, &[&ids, &ip_hosts, &ips]).await.map_err(db("storing host IPs"))?;

    let mut hours: Vec<&(String, i64)> = written.rollups.iter().collect();
    hours.sort();
    hours.dedup();
    let rollups: Vec<&HourRollup> = hours.iter().filter_map(|k| state.rollups.get(*k)).collect();
    let ids: Vec<&str> = hours.iter().map(|(h, _)| h.as_str()).collect();
    let starts: Vec<i64> = hours.iter().map(|(_, t)| *t).collect();
    let counts: Vec<i64> = rollups.iter().map(|r| to_i64(r.reports)).collect();
    let records: Vec<Vec<u8>> = rollups.iter().map(|r| encode(*r)).collect();
    let figures: Vec<[i64; 6]> = rollups.iter().map(|r| super::noc::rollup_figures(r)).collect();
    let figure = |i: usize| figures.iter().map(|f| f[i]).collect::<Vec<i64>>();
    client
        .execute(
            "INSERT INTO rollups (host_id, hour_ms, reports, record, sent, deferred, bounced, blocklisted, queue_max, queue_last)
             SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::bytea[],
                                  $5::int8[], $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[])
             ON CONFLICT (host_id, hour_ms) DO UPDATE SET reports = EXCLUDED.reports, record = EXCLUDED.record,
               sent = EXCLUDED.sent, deferred = EXCLUDED.deferred, bounced = EXCLUDED.bounced,
               blocklisted = EXCLUDED.blocklisted, queue_max = EXCLUDED.queue_max, queue_last = EXCLUDED.queue_last",
            &[&ids, &starts, &counts, &records, &figure(0), &figure(1), &figure(2), &figure(3), &figure(4), &figure(5)],
        )
        .await
        .map_err(db("storing roll-ups"))?;

    if !written.host_domains.is_empty() {
        let ids: Vec<&str> = written.host_domains.keys().map(String::as_str).collect();
        let records: Vec<Vec<u8>> = written
            .host_domains
            .values()
            .map(|&i| batch[i].report.domains.as_ref().map(encode).unwrap_or_default())
            .collect();
        client
            .execute(
                "INSERT INTO host_domains (host_id, record) SELECT * FROM unnest($1::text[], $2::bytea[])
                 ON CONFLICT (host_id) DO UPDATE SET record = EXCLUDED.record",
                &[&ids, &records],
            )
            .await
            .map_err(db("storing host domains"))?;
    }

    if !written.sending.is_empty() {
        let mut keys: Vec<&(String, String)> = written.sending.iter().collect();
        keys.sort();
        keys.dedup();
        let rows: Vec<&SendingDomain> = keys.iter().filter_map(|k| state.sending.get(*k)).collect();
        let domains: Vec<&str> = rows.iter().map(|r| r.domain.as_str()).collect();
        let ids: Vec<&str> = rows.iter().map(|r| r.host_id.as_str()).collect();
        let messages: Vec<i64> = rows.iter().map(|r| to_i64(r.messages)).collect();
        let first: Vec<i64> = rows.iter().map(|r| r.first_seen_ms).collect();
        let last: Vec<i64> = rows.iter().map(|r| r.last_seen_ms).collect();
        client
            .execute(
                "INSERT INTO sending (domain, host_id, messages, first_seen_ms, last_seen_ms)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[])
                 ON CONFLICT (domain, host_id) DO UPDATE SET
                   messages = EXCLUDED.messages, last_seen_ms = EXCLUDED.last_seen_ms",
                &[&domains, &ids, &messages, &first, &last],
            )
            .await
            .map_err(db("storing sender domains"))?;
    }
    Ok(())
}
