//! Action records: creation, the agent's results, what to send, the audit.

use rblfleet_proto::action::ActionKey;
use rblfleet_proto::v1::{
    ActionRecord, ActionResult, CaseEvent, CaseState, ContainmentAction, HostReport, SignedAction,
};

use super::ContainError;
use crate::store::{Store, StoreError};

/// Output kept from an agent's result (the agent bounds it too).
const MAX_OUTPUT: usize = 4096;
/// Results kept per report: more is a misbehaving agent.
const MAX_RESULTS: usize = 64;

/// A new id: prefix (p plan, a action, u undo), the time and random bits.
pub(super) fn new_id(store: &Store, prefix: &str) -> Result<String, StoreError> {
    loop {
        let id = format!("{prefix}-{:016x}", fastrand::u64(..));
        if store.action(&id)?.is_none() {
            return Ok(id);
        }
    }
}

/// The id of the action a plan `p-X` becomes: `a-X` (a fresh one if taken).
/// The agent names what an action leaves behind (the quarantined script)
/// after the part behind the prefix, so the dry run of `p-X` shows the very
/// path `a-X` will use.
pub(super) fn action_id_of_plan(store: &Store, plan_id: &str) -> Result<String, StoreError> {
    if let Some(random) = plan_id.strip_prefix("p-") {
        let id = format!("a-{random}");
        if store.action(&id)?.is_none() {
            return Ok(id);
        }
    }
    new_id(store, "a")
}

fn describe(a: &ContainmentAction) -> String {
    let target = match (a.script.is_empty(), a.subscription.is_empty()) {
        (false, _) => format!(" script {}", a.script),
        (true, false) if a.kind.ends_with("_subscription") => format!(" subscription {}", a.subscription),
        _ => String::new(),
    };
    format!("{} {} on {} (source {}){target}", a.kind, a.id, a.host_id, a.source_id)
}

/// The host's most recently updated case that is not resolved or ignored.
fn open_case(store: &Store, host: &str) -> Result<Option<rblfleet_proto::v1::Case>, StoreError> {
    let Some((summary, _)) = store.get_host(host)? else { return Ok(None) };
    let ips: Vec<&str> = summary.ips.iter().map(|ip| ip.address.as_str()).collect();
    let mut cases: Vec<_> = store
        .all_cases()?
        .into_iter()
        .filter(|c| ips.contains(&c.ip.as_str()))
        .filter(|c| c.state != CaseState::Resolved as i32 && c.state != CaseState::Ignored as i32)
        .collect();
    cases.sort_by_key(|c| c.updated_ms);
    Ok(cases.pop())
}

/// Adds an audit line to `record` and, when its host has an open case, a
/// note on that case.
fn audit(store: &Store, record: &mut ActionRecord, who: &str, line: String, now: i64) -> Result<(), StoreError> {
    record.audit.push(format!("{} {who}: {line}", crate::clock::rfc3339(now)));
    let host = record.action.as_ref().map(|a| a.host_id.clone()).unwrap_or_default();
    if let Some(mut case) = open_case(store, &host)? {
        let state = case.state;
        case.history.push(CaseEvent {
            at_ms: now,
            who: who.into(),
            action: "contain".into(),
            from: state,
            to: state,
            note: line,
            ..CaseEvent::default()
        });
        case.updated_ms = now;
        record.case_id = case.id;
        store.put_case(&case)?;
    }
    Ok(())
}

/// Signs and stores a new record.
pub(super) fn create(
    store: &Store,
    key: &ActionKey,
    action: ContainmentAction,
    state: &str,
    plan_id: String,
    who: &str,
    now: i64,
) -> Result<ActionRecord, ContainError> {
    let signed = key.sign(&action);
    let line = match (state, action.dry_run) {
        (_, true) => format!("planned {} (dry run sent to the agent)", describe(&action)),
        _ if !action.undo_of.is_empty() => {
            format!("approved {} undoing {}: {}", describe(&action), action.undo_of, action.reason)
        }
        _ => format!("approved {} from plan {plan_id}: {}", describe(&action), action.reason),
    };
    let mut record = ActionRecord {
        action: Some(action),
        state: state.into(),
        plan_id,
        created_ms: now,
        updated_ms: now,
        requested_by: who.into(),
        signed: Some(signed),
        ..ActionRecord::default()
    };
    audit(store, &mut record, who, line, now)?;
    store.put_action(&record)?;
    Ok(record)
}

/// Moves a record to `state` (a plan to `applied`), with an audit line on
/// the record only: the new action's own line is already on the case.
pub(super) fn settle(
    store: &Store,
    record: &mut ActionRecord,
    state: &str,
    line: &str,
    who: &str,
    now: i64,
) -> Result<(), StoreError> {
    record.state = state.into();
    record.updated_ms = now;
    record.audit.push(format!("{} {who}: {line}", crate::clock::rfc3339(now)));
    store.put_action(record)
}

/// Cuts `s` to at most `max` bytes at a character boundary.
fn bounded(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// Longest output summary on a case note (the record keeps the whole output).
const NOTE_OUTPUT: usize = 200;

/// The output on one line for a case note: its non-empty lines joined with
/// " / ", cut at [`NOTE_OUTPUT`] bytes with "…".
pub(super) fn summary(output: &str) -> String {
    let joined = output.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" / ");
    if joined.len() <= NOTE_OUTPUT {
        return joined;
    }
    format!("{}…", bounded(&joined, NOTE_OUTPUT))
}

/// The state a result moves a record to.
fn state_after(record: &ActionRecord, result: &ActionResult) -> &'static str {
    let dry = record.action.as_ref().is_some_and(|a| a.dry_run);
    match result.status.as_str() {
        "done" if dry => "plan_ready",
        "done" => "done",
        "refused" => "refused",
        "interrupted" => "interrupted",
        "expired" => "expired",
        _ => "failed",
    }
}

/// Applies the action results in `report` (from its host): each moves its
/// record once (a result for another host's action, an unknown id or a
/// record already settled changes nothing, but for the result of an action
/// taken before it expired), with an audit line.
pub fn take_results(store: &Store, report: &HostReport, now: i64) -> Result<(), StoreError> {
    for result in report.action_results.iter().take(MAX_RESULTS) {
        let Some(mut record) = store.action(&result.id)? else {
            tracing::warn!(id = %result.id, "result for an unknown action ignored");
            continue;
        };
        let Some(action) = record.action.clone() else { continue };
        if action.host_id != report.host_id {
            tracing::warn!(id = %result.id, "result for another host's action ignored");
            continue;
        }
        // An expired action still takes a result that says it ran:
        // the agent took it before its expiry and died before reporting
        // (its ledger reports it after the restart). The agent's refusal
        // of an expired action leaves it expired.
        // A dry run changed nothing: its late answer is not needed.
        let late = record.state == "expired" && !action.dry_run;
        if !(matches!(record.state.as_str(), "planned" | "approved") || late && result.status != "refused") {
            continue;
        }
        let mut result = result.clone();
        result.output = bounded(&result.output, MAX_OUTPUT);
        result.reason = bounded(&result.reason, MAX_OUTPUT);
        let state = state_after(&record, &result);
        let mut line = format!("{} {state}", describe(&action));
        if !result.commands.is_empty() {
            let verb = if action.dry_run { "would run" } else { "ran" };
            line.push_str(&format!("; {verb}: {}", result.commands.join(" && ")));
        }
        // The case is the record a person reads later: what ran, how it
        // exited and what it said, not only "done".
        if !action.dry_run && (!result.commands.is_empty() || result.exit_code != 0) {
            line.push_str(&format!("; exit code {}", result.exit_code));
        }
        let output = summary(&result.output);
        if !output.is_empty() {
            line.push_str(&format!("; output: {output}"));
        }
        if !result.reason.is_empty() {
            line.push_str(&format!("; {}", result.reason));
        }
        if late {
            line.push_str(" (reported after the controller had marked it expired)");
        }
        record.state = state.into();
        record.result = Some(result);
        record.updated_ms = now;
        audit(store, &mut record, &report.host_id, line, now)?;
        store.put_action(&record)?;
    }
    Ok(())
}

/// The signed actions to send `host` with its ack: every planned or
/// approved one that has not expired. Expired ones are settled here.
pub fn pending(store: &Store, host: &str, now: i64) -> Result<Vec<SignedAction>, StoreError> {
    pending_of(store, store.actions(Some(host))?, now)
}

/// [`pending`] of the host's action records as the caller read them
/// (the ingest batch reads them with the report, `store::AckReads`).
pub fn pending_of(store: &Store, records: Vec<ActionRecord>, now: i64) -> Result<Vec<SignedAction>, StoreError> {
    let mut out = Vec::new();
    for mut record in records {
        if !matches!(record.state.as_str(), "planned" | "approved") {
            continue;
        }
        let Some(action) = record.action.clone() else { continue };
        if action.expires_ms <= now {
            record.state = "expired".into();
            record.updated_ms = now;
            let line = format!("{} expired: the host did not take it in time", describe(&action));
            audit(store, &mut record, "rblfleet", line, now)?;
            store.put_action(&record)?;
            continue;
        }
        out.extend(record.signed);
    }
    Ok(out)
}
