//! The transport of containment actions (issue 16): signed actions arrive in
//! the controller's answer to a report; each is verified (signature against
//! `[actions] controller_key`, this host, not expired), handed to the
//! [`Executor`] (a dry run answers with its plan), and its result goes out
//! with the next report. The controller sends an action until it has a
//! result; the executor's ledger runs an id at most once, so a resend, a
//! restart or a crash never runs it twice.

use std::collections::{BTreeMap, BTreeSet};

use rblfleet_proto::action::{ActionError, verify};
use rblfleet_proto::v1::{self, ContainmentAction, HostReport, MtaKind, SignedAction};

use crate::actions::{
    ActionKind, ActionLedger, ActionResult, Executor, LedgerEntry, LedgerError, MAX_TTL_MS, Reported, ReportedSource,
    Request, SourceKind, SourceMemory, Status,
};
use crate::config::Config;

/// The agent's side of containment.
#[derive(Debug)]
pub(super) struct Containment {
    /// `None` when `[actions]` is off: actions are answered as refused.
    executor: Option<(Executor, [u8; 32])>,
    /// The host's MTA (queue actions need Postfix).
    mta: MtaKind,
    /// What the agent reported lately (only those sources can be acted
    /// on), kept across restarts when actions are enabled.
    memory: SourceMemory,
    /// Results waiting for the next report, by id.
    results: BTreeMap<String, v1::ActionResult>,
    /// Ids answered in this process whose result the controller has not
    /// had yet (it resends them until it has).
    answered: BTreeSet<String>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn refused(id: &str, reason: String) -> v1::ActionResult {
    let now = now_ms();
    v1::ActionResult {
        id: id.into(),
        status: "refused".into(),
        reason,
        started_ms: now,
        finished_ms: now,
        ..Default::default()
    }
}

fn source_kind(kind: i32) -> Option<SourceKind> {
    match v1::SourceKind::try_from(kind).ok()? {
        v1::SourceKind::SaslUser => Some(SourceKind::SaslUser),
        v1::SourceKind::LocalUser => Some(SourceKind::LocalUser),
        v1::SourceKind::Script => Some(SourceKind::Script),
        v1::SourceKind::Sender => Some(SourceKind::Sender),
        v1::SourceKind::Unspecified => None,
    }
}

fn request(a: &ContainmentAction) -> Result<Request, String> {
    let kind: ActionKind = a.kind.parse().map_err(|e| format!("{e}"))?;
    let source_kind = source_kind(a.source_kind).ok_or("the action names no source kind")?;
    Ok(Request {
        id: a.id.clone(),
        kind,
        source_kind,
        source_id: a.source_id.clone(),
        subscription: a.subscription.clone(),
        script: a.script.clone(),
        undo: a.undo.clone(),
    })
}

impl Containment {
    /// Opens the executor and its ledger when `[actions]` is enabled. The
    /// results the ledger holds that no stored report carries (the agent
    /// stopped in between, or while an action ran: reported as interrupted)
    /// go with the first report.
    pub(super) fn open(config: &Config, mta: MtaKind) -> Result<Containment, crate::actions::LedgerError> {
        let mut results = BTreeMap::new();
        let mut memory = SourceMemory::in_memory();
        let executor = match config.actions.controller_key_bytes().filter(|_| config.actions.enabled) {
            None => None,
            Some(key) => {
                let executor = Executor::new(&config.actions, ActionLedger::in_outbox(&config.outbox.dir)?);
                let now = now_ms();
                for result in executor.ledger().unreported(now)? {
                    if result.status == Status::Interrupted {
                        tracing::warn!(id = %result.id, "an action was interrupted by a restart: it may have run and is not run again");
                    } else {
                        tracing::info!(id = %result.id, status = result.status.as_str(), "reporting an action result from before the restart");
                    }
                    results.insert(result.id.clone(), wire(&result));
                }
                memory = SourceMemory::load(executor.ledger().dir(), now);
                let pruned = executor.ledger().prune(now)?;
                tracing::debug!(pruned, "action ledger pruned");
                Some((executor, key))
            }
        };
        Ok(Containment { executor, mta, memory, results, answered: BTreeSet::new() })
    }

    /// Remembers the sources a report carries: what later actions may name.
    pub(super) fn note(&mut self, report: &HostReport) {
        let now = now_ms();
        for s in &report.sources {
            let source = ReportedSource {
                kind: source_kind(s.kind),
                id: s.id.clone(),
                uid: s.uid,
                subscription: s.subscription.clone(),
                queue_ids: Vec::new(),
            };
            self.memory.note(source, now);
        }
    }

    fn reported(&self) -> Reported {
        Reported { mta: self.mta, sources: self.memory.sources() }
    }

    /// The results to put in the next report (they travel in the outbox).
    pub(super) fn results(&self) -> Vec<v1::ActionResult> {
        self.results.values().cloned().collect()
    }

    /// The results are in a stored report: done with them. The ledger
    /// marks them reported (until then a restart reports them again).
    pub(super) fn results_stored(&mut self) {
        if let Err(e) = self.memory.save() {
            tracing::warn!(error = %e, "could not save the reported sources; after a restart only new reports count");
        }
        if let Some((executor, _)) = &self.executor {
            for id in self.results.keys() {
                if let Err(e) = executor.ledger().mark_reported(id) {
                    tracing::warn!(%id, error = %e, "could not mark an action result reported; it is sent again after a restart");
                }
            }
        }
        self.results.clear();
    }

    /// Handles the actions of one ack. Blocking (the executor runs tools
    /// with their own deadlines).
    pub(super) fn handle(&mut self, host_id: &str, actions: &[SignedAction]) {
        let sent: BTreeSet<String> = actions
            .iter()
            .filter_map(|s| <ContainmentAction as prost::Message>::decode(s.action.as_slice()).ok())
            .map(|a| a.id)
            .collect();
        // The controller has the result of everything it no longer sends.
        self.answered.retain(|id| sent.contains(id));
        for signed in actions {
            let Ok(unverified) = <ContainmentAction as prost::Message>::decode(signed.action.as_slice()) else {
                tracing::warn!("an action from the controller does not decode; ignored");
                continue;
            };
            if self.answered.contains(&unverified.id) || self.results.contains_key(&unverified.id) {
                continue;
            }
            let result = self.answer(host_id, signed, &unverified.id);
            tracing::info!(id = %result.id, status = %result.status, reason = %result.reason, "containment action answered");
            self.answered.insert(result.id.clone());
            self.results.insert(result.id.clone(), result);
        }
        if let Some((executor, _)) = &self.executor
            && let Err(e) = executor.ledger().prune(now_ms())
        {
            tracing::warn!(error = %e, "could not prune the action ledger");
        }
    }

    /// The answer to one signed action. The order matters for crash
    /// safety: an id the ledger knows is answered from the ledger (never
    /// run again) before the expiry is checked, so an action that ran just
    /// before a crash and is resent after its expiry still reports what it
    /// did, not "expired".
    fn answer(&self, host_id: &str, signed: &SignedAction, id: &str) -> v1::ActionResult {
        let Some((executor, key)) = &self.executor else {
            return refused(id, "actions are disabled on this host ([actions] enabled = false)".into());
        };
        // The signature and the host first; the expiry below.
        let action = match verify(key, signed, host_id, i64::MIN) {
            Ok(action) => action,
            Err(e) => return refused(id, e.to_string()),
        };
        let request = match request(&action) {
            Ok(request) => request,
            Err(reason) => return refused(id, reason),
        };
        if !action.dry_run && !matches!(executor.ledger().get(&action.id), Ok(LedgerEntry::New)) {
            return match executor.run(&request, &self.reported()) {
                Ok(r) => wire(&r),
                Err(e) => failed(id, &e),
            };
        }
        let now = now_ms();
        if action.expires_ms <= now {
            return refused(id, ActionError::Expired { expires_ms: action.expires_ms, now_ms: now }.to_string());
        }
        if action.expires_ms.saturating_sub(now) > MAX_TTL_MS {
            return refused(
                id,
                format!(
                    "the action is valid for {} minutes; this agent accepts at most {} (lower the controller's \
                     [actions] ttl)",
                    action.expires_ms.saturating_sub(now) / 60_000,
                    MAX_TTL_MS / 60_000
                ),
            );
        }
        let started = now;
        if action.dry_run {
            return match executor.plan(&request, &self.reported()) {
                Ok(plan) => v1::ActionResult {
                    id: action.id,
                    status: "done".into(),
                    commands: plan.commands.iter().map(|c| c.display()).collect(),
                    output: if plan.queue_ids.is_empty() {
                        plan.summary
                    } else {
                        format!("{}; queue ids now: {}", plan.summary, plan.queue_ids.join(" "))
                    },
                    undo: plan.undo.as_ref().map(|u| u.describe()).unwrap_or_default(),
                    started_ms: started,
                    finished_ms: now_ms(),
                    ..Default::default()
                },
                Err(refusal) => refused(id, refusal.to_string()),
            };
        }
        match executor.run(&request, &self.reported()) {
            Ok(r) => wire(&r),
            Err(e) => failed(id, &e),
        }
    }
}

/// A result on the wire.
fn wire(r: &ActionResult) -> v1::ActionResult {
    v1::ActionResult {
        id: r.id.clone(),
        status: r.status.as_str().into(),
        exit_code: r.exit_code,
        commands: r.commands.clone(),
        output: r.output.clone(),
        reason: r.reason.clone(),
        undo: r.undo.as_ref().map(|u| u.to_wire()).unwrap_or_default(),
        started_ms: r.started_ms,
        finished_ms: r.finished_ms,
    }
}

/// The ledger failed: nothing ran.
fn failed(id: &str, e: &LedgerError) -> v1::ActionResult {
    let mut r = refused(id, format!("the action ledger failed, nothing ran: {e}"));
    r.status = "failed".into();
    r
}

// The test file sits with the other run tests; declared here so that
// `run/tests.rs` (another concern's file) needs no line for it.
#[cfg(all(test, unix))]
#[path = "tests/contain.rs"]
mod tests;
