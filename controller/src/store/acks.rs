//! What a report's ack needs from the store besides the report itself,
//! read by the group-commit writer inside the report's batch.
//!
//! Every stored report has its receiver-side listing states read (the
//! bounces it carries move them, `cases::work::report_stored`) and every
//! acknowledged one carries its host's pending containment actions. Asked
//! one report at a time, those were two store calls per report outside the
//! batch; on PostgreSQL each held a thread for a round trip, and with 1,000
//! agents the controller sat at its 512 blocking threads. The writer reads
//! them for the whole batch instead: on PostgreSQL with the batch's other
//! reads in the same round trip, on sled in the writer's turn.

use std::collections::HashSet;

use rblfleet_proto::v1::ActionRecord;

use super::reports::Outcome;
use super::{Applied, ReceiverStates, StoreError};

/// The batch's reads for one report.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AckReads {
    /// The states of the (ip, provider) pairs the report asked for (pairs
    /// never stored are absent). `None` when they must be read afresh: the
    /// report was not stored, or an earlier stored report of the same
    /// batch asked for one of the same pairs and is about to change it.
    pub receivers: Option<ReceiverStates>,
    /// The host's action records, newest first, as the batch saw them.
    /// `None` when they were not read (sled could not read them; the
    /// caller reads them itself).
    pub actions: Option<Vec<ActionRecord>>,
}

/// One report's answer from the writer: how it was stored, and its reads.
pub(super) type Acked = Result<(Applied, AckReads), StoreError>;

/// What a batch read for all its reports at once.
#[derive(Debug, Default)]
pub(super) struct BatchReads {
    pub(super) receivers: ReceiverStates,
    /// Every action of the batch's hosts, newest first.
    pub(super) actions: Vec<ActionRecord>,
}

/// Every pair the batch's reports asked for, once.
pub(super) fn all_pairs(asked: &[&[(String, String)]]) -> Vec<(String, String)> {
    let mut seen = HashSet::new();
    asked.iter().flat_map(|pairs| pairs.iter()).filter(|pair| seen.insert(*pair)).cloned().collect()
}

/// Every host of the batch, once, sorted.
pub(super) fn all_hosts<'a>(hosts: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut hosts: Vec<String> = hosts.map(str::to_string).collect();
    hosts.sort();
    hosts.dedup();
    hosts
}

/// Hands each report its share of the batch's reads, in batch order.
/// `reads` is `None` when the batch could not read them (sled only).
pub(super) fn split(
    hosts: &[&str],
    asked: &[&[(String, String)]],
    outcomes: Vec<Outcome>,
    reads: Option<&BatchReads>,
) -> Vec<Acked> {
    let mut claimed: HashSet<&(String, String)> = HashSet::new();
    outcomes
        .into_iter()
        .enumerate()
        .map(|(i, outcome)| {
            let applied = outcome?;
            let Some(reads) = reads else { return Ok((applied, AckReads::default())) };
            let pairs = asked.get(i).copied().unwrap_or_default();
            let receivers = match &applied {
                // A pair an earlier report of this batch may be changing
                // right now is not handed out stale.
                Applied::Stored(_) => {
                    let fresh = pairs.iter().all(|pair| !claimed.contains(pair));
                    claimed.extend(pairs.iter());
                    fresh.then(|| {
                        pairs.iter().filter_map(|pair| reads.receivers.get_key_value(pair)).map(clone_pair).collect()
                    })
                }
                Applied::Duplicate(_) => None,
            };
            let host = hosts.get(i).copied().unwrap_or_default();
            let actions = reads.actions.iter().filter(|r| r.action.as_ref().is_some_and(|a| a.host_id == host));
            Ok((applied, AckReads { receivers, actions: Some(actions.cloned().collect()) }))
        })
        .collect()
}

fn clone_pair<K: Clone, V: Clone>((key, value): (&K, &V)) -> (K, V) {
    (key.clone(), value.clone())
}

#[cfg(test)]
mod tests;
