//! Restores and undo: the undo data comes from this agent's own ledger,
//! never from the wire alone.

use std::collections::HashSet;

use super::{Executor, Slots, now_ms};
use crate::actions::table::Step;
use crate::actions::{
    ActionKind, ActionResult, LedgerError, LimitTarget, Plan, Refusal, Reported, Request, SourceKind, Status, UndoData,
    queue, script, validate,
};

impl Executor {
    /// A restore uses only the undo data this agent's ledger recorded for
    /// the action undone: a controller cannot make up a "previous" limit or
    /// a path. The request's copy must agree with it.
    pub(super) fn plan_restore(&self, request: &Request) -> Result<Plan, Refusal> {
        let kind = request.kind;
        let wire = UndoData::from_wire(&request.undo)?;
        let recorded = self.recorded_undo(kind, &wire)?;
        match (&recorded, kind) {
            (UndoData::Release { ids }, ActionKind::ReleaseQueue) => {
                for qid in ids {
                    validate::queue_id("undo", qid)?;
                }
                let matcher =
                    queue::Matcher { sender: None, ids: ids.iter().map(String::as_str).collect::<HashSet<_>>() };
                let held = queue::matching(
                    &self.config.postqueue,
                    self.config.timeout,
                    kind,
                    &matcher,
                    self.config.max_queue_ids,
                )?;
                Ok(Plan { restores: Some(recorded.clone()), ..self.queue_plan(kind, held) })
            }
            (
                UndoData::Limit { target, previous, .. },
                ActionKind::RestoreMailbox | ActionKind::RestoreSubscription,
            ) => {
                let right_target = matches!(
                    (target, kind),
                    (LimitTarget::Mailbox(_), ActionKind::RestoreMailbox)
                        | (LimitTarget::Subscription(_), ActionKind::RestoreSubscription)
                );
                if !right_target {
                    return Err(Refusal::Invalid { field: "undo", reason: format!("not the undo data of a {kind}") });
                }
                self.limit_plan(kind, target.clone(), previous, Some(&recorded))
                    .map(|plan| Plan { restores: Some(recorded.clone()), ..plan })
            }
            (UndoData::Script { .. }, ActionKind::RestoreScript) => {
                let (from, to) = script::plan_restore(&self.config, &recorded)?;
                let (from_text, to_text) = (from.display().to_string(), to.display().to_string());
                let slots = Slots { from: &from_text, to: &to_text, ..Slots::default() };
                Ok(Plan {
                    restores: Some(recorded.clone()),
                    kind,
                    queue_ids: Vec::new(),
                    commands: vec![self.command(Step::Act(kind), &slots, Vec::new())?],
                    summary: format!("move {from_text} back to {to_text}"),
                    undo: None,
                })
            }
            _ => Err(Refusal::Invalid { field: "undo", reason: format!("not the undo data of a {kind}") }),
        }
    }

    /// The ledger's undo data equal to `wire`, from a done action whose
    /// kind `kind` undoes.
    fn recorded_undo(&self, kind: ActionKind, wire: &UndoData) -> Result<UndoData, Refusal> {
        let found = self.ledger.find_undo(wire).map_err(|e| Refusal::Query(e.to_string()))?;
        match found {
            Some((of, undo)) if of.undo_kind() == Some(kind) => Ok(undo),
            Some((of, _)) => Err(Refusal::Invalid {
                field: "undo",
                reason: format!("recorded for a {of}, which {kind} does not undo"),
            }),
            None => Err(Refusal::Invalid {
                field: "undo",
                reason: "no action on this host recorded this undo data (an undo restores only what this agent did)"
                    .into(),
            }),
        }
    }

    /// Undoes the action whose (done) result is `of`, as a new action `id`.
    pub fn undo(&self, id: &str, of: &ActionResult, reported: &Reported) -> Result<ActionResult, LedgerError> {
        let kind = of.kind.and_then(ActionKind::undo_kind);
        let request = Request {
            id: id.to_string(),
            kind: kind.unwrap_or(ActionKind::ReleaseQueue),
            source_kind: SourceKind::Sender,
            source_id: String::new(),
            subscription: String::new(),
            script: String::new(),
            undo: of.undo.as_ref().map(UndoData::to_wire).unwrap_or_default(),
        };
        if kind.is_none() || of.undo.is_none() {
            let now = now_ms();
            return Ok(ActionResult {
                id: id.to_string(),
                kind: None,
                status: Status::Refused,
                exit_code: 0,
                commands: Vec::new(),
                output: String::new(),
                reason: format!("action {} has nothing to undo", of.id),
                undo: None,
                started_ms: now,
                finished_ms: now,
            });
        }
        self.run(&request, reported)
    }
}
