//! One batch on sled: one transaction, the reads its acks need (see
//! `acks`), then one flush, all in the sled writer's turn.

use std::sync::atomic::Ordering;
use std::time::Instant;

use rblfleet_proto::v1::HostReport;

use super::{CommitCounters, batch_failed, micros};
use crate::store::acks::{self, Acked, BatchReads};
use crate::store::{Sled, StoreError};

pub(super) fn commit(
    store: &Sled,
    reports: &[(&HostReport, i64)],
    asked: &[&[(String, String)]],
    counters: &CommitCounters,
) -> Vec<Acked> {
    let turn = store.write_turn();
    let applying = Instant::now();
    let outcomes = match store.apply_batch_unflushed(reports) {
        Ok(outcomes) => outcomes,
        // The batch was undone: every report in it gets the error (and is resent).
        Err(error) => {
            let message = error.to_string();
            reports.iter().map(|_| Err(batch_failed(&error, &message))).collect()
        }
    };
    // Read in the turn, so no other write lands between the batch and its
    // reads. A failed read costs the ack nothing: the caller reads afresh.
    let hosts: Vec<&str> = reports.iter().map(|(r, _)| r.host_id.as_str()).collect();
    let reads = read(store, &hosts, asked)
        .inspect_err(|error| tracing::warn!(%error, "could not read the batch's receiver states and actions"))
        .ok();
    let mut outcomes = acks::split(&hosts, asked, outcomes, reads.as_ref());
    // Duplicates too: after a failed flush a report may be visible but not
    // durable, and its resend must not be acknowledged before it is.
    counters.apply_micros.fetch_add(micros(applying), Ordering::Relaxed);
    let answered_any = outcomes.iter().any(Result::is_ok);
    let flushing = Instant::now();
    let flushed = if answered_any { store.db.flush().map(|_| ()) } else { Ok(()) };
    counters.flush_micros.fetch_add(micros(flushing), Ordering::Relaxed);
    if let Err(error) = flushed {
        // Nothing in this batch may be acknowledged: its durability is unknown.
        // The error kind survives, so a full disk (ENOSPC) reads as `DiskFull`.
        let message = error.to_string();
        let kind = match &error {
            sled::Error::Io(e) => e.kind(),
            _ => std::io::ErrorKind::Other,
        };
        for outcome in outcomes.iter_mut().filter(|o| o.is_ok()) {
            *outcome = Err(StoreError::from(sled::Error::Io(std::io::Error::new(kind, message.clone()))));
        }
    }
    drop(turn);
    outcomes
}

fn read(store: &Sled, hosts: &[&str], asked: &[&[(String, String)]]) -> Result<BatchReads, StoreError> {
    let receivers = store.receiver_states(&acks::all_pairs(asked))?;
    let actions = store.actions_of(&acks::all_hosts(hosts.iter().copied()))?;
    Ok(BatchReads { receivers, actions })
}
