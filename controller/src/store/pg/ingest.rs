//! Report ingest on PostgreSQL (sled: `store::reports`,
//! `store::domains`).
//!
//! A batch from the group-commit writer is one transaction: it takes an
//! advisory lock per host (in hash order, so two controllers never
//! deadlock), reads every row the batch needs in four statements (and,
//! for the acks, the receiver states and actions: `store::acks`), decides
//! each report exactly as the sled store does (`reports::next_summary`,
//! `rollup::merge`, in order, so a duplicate inside the batch sees the
//! earlier write), and writes with one multi-row statement per table
//! (`unnest` of arrays, see `sql`). Under the host's lock a new report
//! always has a sequence above the host's last one, which keeps (host,
//! epoch, seq) unique across the day partitions.
//!
//! Round trips, not statements, bound a batch: the statements are prepared
//! once per connection, BEGIN, the locks and the reads go out together,
//! then all the writes and the COMMIT (the driver pipelines statements
//! polled at once; the server runs them in order, so the reads still wait
//! for the locks, and a failed write turns the COMMIT into a rollback). A
//! batch is two round trips whatever its size, where parsing each statement
//! anew, one at a time, cost 22, and sending BEGIN and COMMIT on their own
//! four.

use std::collections::{BTreeMap, HashMap};

use rblfleet_proto::v1::{ActionRecord, HostReport, HostSummary, HourRollup, SendingDomain};

use super::reports::day_of;
use super::{Conn, Pg, db, to_i64, to_u64};
use crate::store::acks::BatchReads;
use crate::store::commit::Turn;
use crate::store::encoding::{decode, encode};
use crate::store::reports::{Outcome, next_summary};
use crate::store::{Applied, StoreError, rollup};

mod sql;
mod write;

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
    /// For the acks (see `store::acks`), not changed by the batch.
    reads: BatchReads,
}

impl Pg {
    /// Stores a batch of reports in one committed transaction. Refusals are
    /// per report; a database failure undoes the whole batch. Reads, in the
    /// same transaction, the receiver states of `pairs` and the actions of
    /// the batch's hosts for the acks. `turn` is given back once the batch
    /// holds its hosts' locks (or has failed), so the next batch's
    /// transaction starts behind them (see `commit::Turn`).
    pub(crate) fn apply_batch(
        &self,
        batch: &[(&HostReport, i64)],
        pairs: &[(String, String)],
        turn: Option<Turn>,
    ) -> Result<(Vec<Outcome>, BatchReads), StoreError> {
        let days: Vec<i32> = batch.iter().map(|(r, _)| day_of(r.period_end_ms)).collect();
        // A failure here drops `turn`: the next batch goes on meanwhile.
        self.ensure_partitions(&days)?;
        let incoming: Vec<Incoming> = batch
            .iter()
            .map(|(r, now_ms)| Incoming { report: (*r).clone(), now_ms: *now_ms, bytes: encode(*r) })
            .collect();
        let incoming = std::sync::Arc::new(incoming);
        let pairs = std::sync::Arc::new(pairs.to_vec());
        let run = |incoming: std::sync::Arc<Vec<Incoming>>, turn: Option<Turn>| {
            let pairs = pairs.clone();
            self.call(move |client| async move {
                let applied = apply(&client, &incoming, &pairs, turn).await;
                if applied.is_err() {
                    // Harmless when the COMMIT already rolled back (a
                    // warning, "no transaction in progress").
                    if let Err(rollback) = client.batch_execute("ROLLBACK").await {
                        tracing::warn!(%rollback, "ROLLBACK failed");
                    }
                }
                applied
            })
        };
        let (outcomes, domains_changed, reads) = match run(incoming.clone(), turn) {
            // Retention (here or in another controller) dropped a partition
            // this process still knew: forget them all and try once more.
            // (The turn has gone on: a later batch may store a later report
            // of a host first. Agents send one report at a time, and only
            // reports for a day already dropped land here.)
            Err(StoreError::Postgres(why)) if why == MISSING_PARTITION => {
                self.partitions.lock().unwrap_or_else(|p| p.into_inner()).clear();
                self.ensure_partitions(&days)?;
                run(incoming, None)?
            }
            other => other?,
        };
        if domains_changed {
            self.domains_changed();
        }
        Ok((outcomes, reads))
    }
}

/// The batch's transaction, BEGIN to COMMIT in two round trips: returns
/// the outcomes, whether the watched domains may have changed, and the
/// acks' reads. On an error the transaction may still be open: the caller
/// rolls back.
async fn apply(
    client: &Conn,
    batch: &[Incoming],
    pairs: &[(String, String)],
    turn: Option<Turn>,
) -> Result<(Vec<Outcome>, bool, BatchReads), StoreError> {
    let hosts = crate::store::acks::all_hosts(batch.iter().map(|i| i.report.host_id.as_str()));
    let lock = client.prepared(sql::LOCK_HOSTS).await.map_err(db("locking hosts"))?;
    let locked = async { client.execute(&lock, &[&HOST_LOCK, &hosts]).await.map_err(db("locking hosts")) };
    let read = read_state(client, batch, &hosts, pairs);
    // BEGIN, the locks and the reads in one round trip (sent in this order
    // on the first poll, and run by the server in order).
    let begin = async { client.batch_execute("BEGIN").await.map_err(db("BEGIN")) };
    let locked_and_read = tokio::try_join!(begin, locked, read);
    // The locks are held (or the batch failed): the next batch may begin.
    drop(turn);
    let (_, _, mut state) = locked_and_read?;
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
    write::write_and_commit(client, batch, &state, &written).await?;
    Ok((outcomes, domains_changed, state.reads))
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
    client: &Conn,
    batch: &[Incoming],
    hosts: &[String],
    pairs: &[(String, String)],
) -> Result<State, StoreError> {
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
    let (ips, providers): (Vec<&str>, Vec<&str>) = pairs.iter().map(|(i, p)| (i.as_str(), p.as_str())).unzip();
    let (read_hosts, read_reports, read_rollups, read_sending, read_receivers, read_actions) = tokio::try_join!(
        client.prepared(sql::READ_HOSTS),
        client.prepared(sql::READ_REPORTS),
        client.prepared(sql::READ_ROLLUPS),
        client.prepared(sql::READ_SENDING),
        client.prepared(sql::READ_RECEIVERS),
        client.prepared(sql::READ_ACTIONS),
    )
    .map_err(db("preparing the batch's reads"))?;
    // All six in one round trip.
    let (host_rows, report_rows, rollup_rows, sending_rows, receiver_rows, action_rows) = tokio::try_join!(
        async { client.query(&read_hosts, &[&hosts]).await.map_err(db("reading hosts")) },
        async { client.query(&read_reports, &[&ids, &epochs, &seqs]).await.map_err(db("reading stored reports")) },
        async { client.query(&read_rollups, &[&ids, &hours]).await.map_err(db("reading roll-ups")) },
        async { client.query(&read_sending, &[&domains, &senders]).await.map_err(db("reading sender domains")) },
        async {
            if ips.is_empty() {
                return Ok(Vec::new());
            }
            client.query(&read_receivers, &[&ips, &providers]).await.map_err(db("reading receiver states"))
        },
        async { client.query(&read_actions, &[&hosts]).await.map_err(db("reading the hosts' actions")) },
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
    for row in receiver_rows {
        let (ip, provider): (String, String) = (row.get(0), row.get(1));
        let receiver = decode(ip.as_bytes(), row.get(2))?;
        state.reads.receivers.insert((ip, provider), receiver);
    }
    for row in action_rows {
        let action: ActionRecord = decode(row.get::<_, &str>(0).as_bytes(), row.get(1))?;
        state.reads.actions.push(action);
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
