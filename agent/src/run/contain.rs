//! The transport of containment actions (issue 16): signed actions arrive in
//! the controller's answer to a report; each is verified (signature against
//! `[actions] controller_key`, this host, not expired), handed to the
//! [`Executor`] (a dry run answers with its plan), and its result goes out
//! with the next report. The controller sends an action until it has a
//! result; the executor's ledger runs an id at most once, so a resend, a
//! restart or a crash never runs it twice.

use std::collections::{BTreeMap, BTreeSet};

use rblfleet_proto::action::verify;
use rblfleet_proto::v1::{self, ContainmentAction, HostReport, MtaKind, SignedAction};

use crate::actions::{ActionKind, ActionLedger, Executor, Reported, ReportedSource, Request, SourceKind};
use crate::config::Config;

/// The agent's side of containment.
#[derive(Debug)]
pub(super) struct Containment {
    /// `None` when `[actions]` is off: actions are answered as refused.
    executor: Option<(Executor, [u8; 32])>,
    /// What the agent reported lately (only those sources can be acted on).
    reported: Reported,
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
    /// Opens the executor and its ledger when `[actions]` is enabled, and
    /// reports actions that a crash interrupted.
    pub(super) fn open(config: &Config, mta: MtaKind) -> Result<Containment, crate::actions::LedgerError> {
        let mut results = BTreeMap::new();
        let executor = match config.actions.controller_key_bytes().filter(|_| config.actions.enabled) {
            None => None,
            Some(key) => {
                let executor = Executor::new(&config.actions, ActionLedger::in_outbox(&config.outbox.dir)?);
                for id in executor.ledger().interrupted()? {
                    tracing::warn!(%id, "an action was interrupted by a restart: it may have run and is not run again");
                    let mut r =
                        refused(&id, "interrupted by a restart of the agent: may have run, not run again".into());
                    r.status = "interrupted".into();
                    results.insert(id, r);
                }
                Some((executor, key))
            }
        };
        Ok(Containment {
            executor,
            reported: Reported { mta, sources: Vec::new() },
            results,
            answered: BTreeSet::new(),
        })
    }

    /// Remembers the sources a report carries: what later actions may name.
    pub(super) fn note(&mut self, report: &HostReport) {
        for s in &report.sources {
            let kind = source_kind(s.kind);
            if self.reported.sources.iter().any(|r| r.kind == kind && r.id == s.id) {
                continue;
            }
            self.reported.sources.push(ReportedSource {
                kind,
                id: s.id.clone(),
                uid: s.uid,
                subscription: s.subscription.clone(),
                queue_ids: Vec::new(),
            });
        }
        // Bounded: the most recent sources win.
        let excess = self.reported.sources.len().saturating_sub(1024);
        self.reported.sources.drain(..excess);
    }

    /// The results to put in the next report (they travel in the outbox).
    pub(super) fn results(&self) -> Vec<v1::ActionResult> {
        self.results.values().cloned().collect()
    }

    /// The results are in a stored report: done with them.
    pub(super) fn results_stored(&mut self) {
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
    }

    fn answer(&self, host_id: &str, signed: &SignedAction, id: &str) -> v1::ActionResult {
        let Some((executor, key)) = &self.executor else {
            return refused(id, "actions are disabled on this host ([actions] enabled = false)".into());
        };
        let action = match verify(key, signed, host_id, now_ms()) {
            Ok(action) => action,
            Err(e) => return refused(id, e.to_string()),
        };
        let request = match request(&action) {
            Ok(request) => request,
            Err(reason) => return refused(id, reason),
        };
        let started = now_ms();
        if action.dry_run {
            return match executor.plan(&request, &self.reported) {
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
        match executor.run(&request, &self.reported) {
            Ok(r) => v1::ActionResult {
                id: r.id,
                status: r.status.as_str().into(),
                exit_code: r.exit_code,
                commands: r.commands,
                output: r.output,
                reason: r.reason,
                undo: r.undo.as_ref().map(|u| u.to_wire()).unwrap_or_default(),
                started_ms: r.started_ms,
                finished_ms: r.finished_ms,
            },
            Err(e) => {
                let mut r = refused(id, format!("the action ledger failed, nothing ran: {e}"));
                r.status = "failed".into();
                r
            }
        }
    }
}
