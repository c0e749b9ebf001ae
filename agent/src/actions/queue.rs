//! Which queued messages belong to a source: `postqueue -j` (one JSON object
//! a line: `queue_name`, `queue_id`, `sender`, `recipients`…), matched on the
//! sender address or on the queue ids the agent's log tracking tied to the
//! source. Bounded: at most `max` ids are collected; one more is an error,
//! not a silent cut, so an action never covers only part of a source.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

use super::{ActionKind, Refusal, validate};

/// One line of `postqueue -j` (the fields used; others are ignored).
#[derive(Debug, Deserialize)]
struct Entry {
    queue_name: String,
    queue_id: String,
    #[serde(default)]
    sender: String,
}

/// What to match.
#[derive(Debug)]
pub struct Matcher<'a> {
    /// Messages with this envelope sender (lowercase comparison).
    pub sender: Option<&'a str>,
    /// Messages with these queue ids.
    pub ids: HashSet<&'a str>,
}

/// The ids of matching messages in the queues `kind` acts on: not yet held
/// (hold), held (release), any (delete). Sorted, without duplicates.
pub fn matching(
    postqueue: &Path,
    timeout: Duration,
    kind: ActionKind,
    matcher: &Matcher<'_>,
    max: usize,
) -> Result<Vec<String>, Refusal> {
    let wanted_queue = |name: &str| match kind {
        ActionKind::HoldQueue => name != "hold",
        ActionKind::ReleaseQueue => name == "hold",
        _ => true,
    };
    let sender = matcher.sender.map(str::to_ascii_lowercase);
    let mut found = Vec::new();
    let mut bad_lines = 0u64;
    let mut too_many = false;
    crate::command::run_lines(postqueue, &["-j"], timeout, &mut |line| {
        if line.trim().is_empty() || too_many {
            return;
        }
        let Ok(entry) = serde_json::from_str::<Entry>(line) else {
            bad_lines += 1;
            return;
        };
        if !wanted_queue(&entry.queue_name) || validate::queue_id("queue_id", &entry.queue_id).is_err() {
            return;
        }
        let by_sender = sender.as_deref().is_some_and(|s| entry.sender.eq_ignore_ascii_case(s));
        if by_sender || matcher.ids.contains(entry.queue_id.as_str()) {
            if found.len() == max {
                too_many = true;
                return;
            }
            found.push(entry.queue_id);
        }
    })
    .map_err(|e| Refusal::Query(e.to_string()))?;
    if too_many {
        return Err(Refusal::Query(format!(
            "more than {max} queued messages match ([actions] max_queue_ids); act on the queue by hand"
        )));
    }
    if bad_lines > 0 {
        tracing::warn!(bad_lines, "postqueue -j: lines that are not queue entries were skipped");
    }
    found.sort();
    found.dedup();
    Ok(found)
}
