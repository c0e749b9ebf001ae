//! Report ingest on PostgreSQL (sled: `store::reports`,
//! `store::domains`).
//!
//! A batch from the group-commit writer is one transaction: it takes an
//! advisory lock per host (in hash order, so two controllers never
//! deadlock), reads every row the batch needs in four statements, decides
//! each report exactly as the sled store does (`reports::next_summary`,
//! `rollup::merge`, in order, so a duplicate inside the batch sees the
//! earlier write), and writes with one multi-row statement per table
//! (`unnest` of arrays, see `sql`). Under the host's lock a new report
//! always has a sequence above the host's last one, which keeps (host,
//! epoch, seq) unique across the day partitions.
//!
//! Round trips, not statements, bound a batch: the statements are prepared
//! once per connection, the locks and the reads go out together, then all
//! the writes (the driver pipelines statements polled at once; the server
//! runs them in order, so the reads still wait for the locks). A batch is
//! four round trips (BEGIN, locks and reads, writes, COMMIT) whatever its
//! size, where parsing each statement anew, one at a time, cost 22.

use std::collections::{BTreeMap, HashMap};

use rblfleet_proto::v1::{HostReport, HostSummary, HourRollup, SendingDomain};

use super::reports::day_of;
use super::{Conn, Pg, db, in_transaction, to_i64, to_u64};
use crate::store::encoding::{decode, encode};
use crate::store::reports::{Outcome, next_summary};
use crate::store::{Applied, StoreError, rollup};

mod sql;

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
async fn apply(client: &Conn, batch: &[Incoming]) -> Result<(Vec<Outcome>, bool), StoreError> {
    let mut hosts: Vec<String> = batch.iter().map(|i| i.report.host_id.clone()).collect();
    hosts.sort();
    hosts.dedup();
    let lock = client.prepared(sql::LOCK_HOSTS).await.map_err(db("locking hosts"))?;
    let locked = async { client.execute(&lock, &[&HOST_LOCK, &hosts]).await.map_err(db("locking hosts")) };
    let (_, mut state) = tokio::try_join!(locked, read_state(client, batch, &hosts))?;
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

async fn read_state(client: &Conn, batch: &[Incoming], hosts: &[String]) -> Result<State, StoreError> {
    let ids: Vec<&str> = batch.iter().map(|i| i.report.host_id.as_str()).collect();
    let epochs: Vec<i64> = batch.iter().map(|i| to_i64(i.report.epoch)).collect();
    let seqs: Vec<i64> = batch.iter().map(|i| to_i64(i.report.seq)).collect();
    let hours: Vec<i64> = batch.iter().map(|i| rollup::hour_of(i.report.period_end_ms)).collect();
    let (mut domains, mut senders) = (Vec::new(), Vec::new());
    for item in batch {
        for named in &item.report.sender_domains {
            domains.push(named.name.as_str());
            senders.push(item.report.host_id.as_str());
        }
    }
    let (read_hosts, read_reports, read_rollups, read_sending) = tokio::try_join!(
        client.prepared(sql::READ_HOSTS),
        client.prepared(sql::READ_REPORTS),
        client.prepared(sql::READ_ROLLUPS),
        client.prepared(sql::READ_SENDING),
    )
    .map_err(db("preparing the batch's reads"))?;
    // All four in one round trip.
    let (host_rows, report_rows, rollup_rows, sending_rows) = tokio::try_join!(
        async { client.query(&read_hosts, &[&hosts]).await.map_err(db("reading hosts")) },
        async { client.query(&read_reports, &[&ids, &epochs, &seqs]).await.map_err(db("reading stored reports")) },
        async { client.query(&read_rollups, &[&ids, &hours]).await.map_err(db("reading roll-ups")) },
        async { client.query(&read_sending, &[&domains, &senders]).await.map_err(db("reading sender domains")) },
    )?;
    let mut state = State::default();
    for row in host_rows {
        let id: String = row.get(0);
        let summary = decode(id.as_bytes(), row.get(1))?;
        state.hosts.insert(id, summary);
    }
    for row in report_rows {
        state.reports.insert((row.get(0), row.get(1), row.get(2)), row.get(3));
    }
    for row in rollup_rows {
        let id: String = row.get(0);
        let rollup = decode(id.as_bytes(), row.get(2))?;
        state.rollups.insert((id, row.get(1)), rollup);
    }
    for row in sending_rows {
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

/// Writes what the batch changed: one multi-row statement per table, all
/// sent at once.
async fn write(client: &Conn, batch: &[Incoming], state: &State, written: &Written) -> Result<(), StoreError> {
    if written.reports.is_empty() {
        return Ok(());
    }
    let (write_reports, write_hosts, write_ips, write_rollups, write_domains, write_sending) = tokio::try_join!(
        client.prepared(sql::WRITE_REPORTS),
        client.prepared(sql::WRITE_HOSTS),
        client.prepared(super::noc::REPLACE_HOST_IPS),
        client.prepared(sql::WRITE_ROLLUPS),
        client.prepared(sql::WRITE_HOST_DOMAINS),
        client.prepared(sql::WRITE_SENDING),
    )
    .map_err(db("preparing the batch's writes"))?;

    let stored: Vec<&Incoming> = written.reports.iter().map(|&i| &batch[i]).collect();
    let r_ids: Vec<&str> = stored.iter().map(|i| i.report.host_id.as_str()).collect();
    let r_epochs: Vec<i64> = stored.iter().map(|i| to_i64(i.report.epoch)).collect();
    let r_seqs: Vec<i64> = stored.iter().map(|i| to_i64(i.report.seq)).collect();
    let r_days: Vec<i32> = stored.iter().map(|i| day_of(i.report.period_end_ms)).collect();
    let r_ends: Vec<i64> = stored.iter().map(|i| i.report.period_end_ms).collect();
    let r_received: Vec<i64> = stored.iter().map(|i| i.now_ms).collect();
    let r_records: Vec<&[u8]> = stored.iter().map(|i| i.bytes.as_slice()).collect();

    let mut hosts: Vec<&String> = written.hosts.iter().collect();
    hosts.sort();
    hosts.dedup();
    let summaries: Vec<&HostSummary> = hosts.iter().filter_map(|h| state.hosts.get(*h)).collect();
    let h_ids: Vec<&str> = summaries.iter().map(|s| s.host_id.as_str()).collect();
    let col = |f: fn(&HostSummary) -> i64| summaries.iter().map(|s| f(s)).collect::<Vec<i64>>();
    let h_cols = [
        col(|s| to_i64(s.epoch)),
        col(|s| to_i64(s.last_seq)),
        col(|s| to_i64(s.reports_stored)),
        col(|s| to_i64(s.seq_gaps)),
        col(|s| s.first_seen_ms),
        col(|s| s.last_report_ms),
    ];
    let h_records: Vec<Vec<u8>> = summaries.iter().map(|s| encode(*s)).collect();
    let (ip_hosts, ips) = super::noc::host_ip_columns(summaries.iter().copied());

    let mut hours: Vec<&(String, i64)> = written.rollups.iter().collect();
    hours.sort();
    hours.dedup();
    let rollups: Vec<&HourRollup> = hours.iter().filter_map(|k| state.rollups.get(*k)).collect();
    let u_ids: Vec<&str> = hours.iter().map(|(h, _)| h.as_str()).collect();
    let u_starts: Vec<i64> = hours.iter().map(|(_, t)| *t).collect();
    let u_counts: Vec<i64> = rollups.iter().map(|r| to_i64(r.reports)).collect();
    let u_records: Vec<Vec<u8>> = rollups.iter().map(|r| encode(*r)).collect();
    let figures: Vec<[i64; 6]> = rollups.iter().map(|r| super::noc::rollup_figures(r)).collect();
    let u_figures: [Vec<i64>; 6] = std::array::from_fn(|i| figures.iter().map(|f| f[i]).collect());

    let d_ids: Vec<&str> = written.host_domains.keys().map(String::as_str).collect();
    let d_records: Vec<Vec<u8>> = written
        .host_domains
        .values()
        .map(|&i| batch[i].report.domains.as_ref().map(encode).unwrap_or_default())
        .collect();

    let mut keys: Vec<&(String, String)> = written.sending.iter().collect();
    keys.sort();
    keys.dedup();
    let rows: Vec<&SendingDomain> = keys.iter().filter_map(|k| state.sending.get(*k)).collect();
    let s_domains: Vec<&str> = rows.iter().map(|r| r.domain.as_str()).collect();
    let s_ids: Vec<&str> = rows.iter().map(|r| r.host_id.as_str()).collect();
    let s_messages: Vec<i64> = rows.iter().map(|r| to_i64(r.messages)).collect();
    let s_first: Vec<i64> = rows.iter().map(|r| r.first_seen_ms).collect();
    let s_last: Vec<i64> = rows.iter().map(|r| r.last_seen_ms).collect();

    // One round trip for all of them. The reports go first: when their
    // partition is gone the others fail only as "transaction aborted", and
    // the first error in pipeline order is the one returned.
    let reports = async {
        client
            .execute(&write_reports, &[&r_ids, &r_epochs, &r_seqs, &r_days, &r_ends, &r_received, &r_records])
            .await
            .map_err(|e| match e.code() {
                // check_violation: no partition of `reports` takes the row.
                Some(code) if code.code() == "23514" => StoreError::Postgres(MISSING_PARTITION.into()),
                _ => db("storing reports")(e),
            })
    };
    let [c0, c1, c2, c3, c4, c5] = &h_cols;
    let hosts = async {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 8] = [&h_ids, c0, c1, c2, c3, c4, c5, &h_records];
        client.execute(&write_hosts, &params).await.map_err(db("storing host summaries"))
    };
    let host_ips =
        async { client.execute(&write_ips, &[&h_ids, &ip_hosts, &ips]).await.map_err(db("storing host IPs")) };
    let [f0, f1, f2, f3, f4, f5] = &u_figures;
    let rollups = async {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 10] =
            [&u_ids, &u_starts, &u_counts, &u_records, f0, f1, f2, f3, f4, f5];
        client.execute(&write_rollups, &params).await.map_err(db("storing roll-ups"))
    };
    let host_domains = async {
        if d_ids.is_empty() {
            return Ok(0);
        }
        client.execute(&write_domains, &[&d_ids, &d_records]).await.map_err(db("storing host domains"))
    };
    let sending = async {
        if s_ids.is_empty() {
            return Ok(0);
        }
        client
            .execute(&write_sending, &[&s_domains, &s_ids, &s_messages, &s_first, &s_last])
            .await
            .map_err(db("storing sender domains"))
    };
    // Not try_join!: it polls in rotating order, so with every answer in
    // one read it could return a later statement's "aborted" first.
    let (reports, hosts, host_ips, rollups, host_domains, sending) =
        tokio::join!(reports, hosts, host_ips, rollups, host_domains, sending);
    for written in [reports, hosts, host_ips, rollups, host_domains, sending] {
        written?;
    }
    Ok(())
}
