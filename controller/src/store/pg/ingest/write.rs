//! The writes of a report batch: one multi-row statement per table, all
//! sent at once, and the COMMIT right behind them.

use rblfleet_proto::v1::{HostSummary, HourRollup, SendingDomain};

use super::super::reports::day_of;
use super::super::{Conn, db, to_i64};
use super::{Incoming, MISSING_PARTITION, State, Written, sql};
use crate::store::StoreError;
use crate::store::encoding::encode;

/// Writes what the batch changed, one multi-row statement per table, and
/// commits, all in one round trip. A statement that fails aborts the
/// transaction, and PostgreSQL answers the COMMIT behind it by rolling back:
/// the statement's error is returned and nothing of the batch is stored.
pub(super) async fn write_and_commit(
    client: &Conn,
    batch: &[Incoming],
    state: &State,
    written: &Written,
) -> Result<(), StoreError> {
    if written.reports.is_empty() {
        return client.batch_execute("COMMIT").await.map_err(db("COMMIT"));
    }
    let (write_reports, write_hosts, write_ips, write_rollups, write_domains, write_sending) = tokio::try_join!(
        client.prepared(sql::WRITE_REPORTS),
        client.prepared(sql::WRITE_HOSTS),
        client.prepared(super::super::noc::REPLACE_HOST_IPS),
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
    let (ip_hosts, ips) = super::super::noc::host_ip_columns(summaries.iter().copied());

    let mut hours: Vec<&(String, i64)> = written.rollups.iter().collect();
    hours.sort();
    hours.dedup();
    let rollups: Vec<&HourRollup> = hours.iter().filter_map(|k| state.rollups.get(*k)).collect();
    let u_ids: Vec<&str> = hours.iter().map(|(h, _)| h.as_str()).collect();
    let u_starts: Vec<i64> = hours.iter().map(|(_, t)| *t).collect();
    let u_counts: Vec<i64> = rollups.iter().map(|r| to_i64(r.reports)).collect();
    let u_records: Vec<Vec<u8>> = rollups.iter().map(|r| encode(*r)).collect();
    let figures: Vec<[i64; 6]> = rollups.iter().map(|r| super::super::noc::rollup_figures(r)).collect();
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
    let commit = async { client.batch_execute("COMMIT").await.map_err(db("COMMIT")) };
    // Not try_join!: it polls in rotating order, so with every answer in
    // one read it could return a later statement's "aborted" first. (Both
    // poll in the order written the first time, which sends the statements
    // in that order.)
    let (reports, hosts, host_ips, rollups, host_domains, sending, committed) =
        tokio::join!(reports, hosts, host_ips, rollups, host_domains, sending, commit);
    for written in [reports, hosts, host_ips, rollups, host_domains, sending] {
        written?;
    }
    committed
}
