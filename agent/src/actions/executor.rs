//! The executor: policy, plan, run, undo.

use std::path::Path;

use rblfleet_proto::v1::MtaKind;

use super::ledger::Entry;
use super::table::{Arg, Row, Step, Tool, row};
use super::{
    ActionKind, ActionLedger, ActionResult, LedgerError, LimitTarget, Plan, PlannedCommand, Refusal, Reported, Request,
    SourceKind, Status, UndoData, exec, plesk, queue, script, validate,
};
use crate::config::ActionsConfig;

mod restore;

/// Runs containment actions under `[actions]`, recording each in the ledger.
#[derive(Debug)]
pub struct Executor {
    config: ActionsConfig,
    ledger: ActionLedger,
}

/// The values a row's slots take.
#[derive(Debug, Default)]
struct Slots<'a> {
    address: &'a str,
    domain: &'a str,
    limit: &'a str,
    from: &'a str,
    to: &'a str,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Executor {
    /// An executor for this configuration and ledger.
    pub fn new(config: &ActionsConfig, ledger: ActionLedger) -> Executor {
        Executor { config: config.clone(), ledger }
    }

    /// The ledger (the transport lists interrupted ids at start).
    pub fn ledger(&self) -> &ActionLedger {
        &self.ledger
    }

    fn argv(&self, row: &Row, slots: &Slots<'_>) -> Vec<String> {
        let tool: &Path = match row.tool {
            Tool::Postsuper => &self.config.postsuper,
            Tool::Postqueue => &self.config.postqueue,
            Tool::Plesk => &self.config.plesk,
            Tool::Mv => &self.config.mv,
        };
        let mut argv = Vec::new();
        if row.privileged && self.config.sudo {
            argv.push(self.config.sudo_path.display().to_string());
            argv.push("-n".into());
        }
        argv.push(tool.display().to_string());
        argv.extend(row.args.iter().map(|arg| {
            match arg {
                Arg::Lit(text) => text,
                Arg::Address => slots.address,
                Arg::Domain => slots.domain,
                Arg::Limit => slots.limit,
                Arg::From => slots.from,
                Arg::To => slots.to,
            }
            .to_string()
        }));
        argv
    }

    fn command(&self, step: Step, slots: &Slots<'_>, stdin: Vec<String>) -> Result<PlannedCommand, Refusal> {
        let row = row(step).ok_or_else(|| Refusal::Query(format!("no table row for {step:?}")))?;
        Ok(PlannedCommand { argv: self.argv(row, slots), stdin })
    }

    /// What `request` would do: every check, the read-only queries (queue
    /// listing, current limit), the command lines and the undo data. Changes
    /// nothing.
    pub fn plan(&self, request: &Request, reported: &Reported) -> Result<Plan, Refusal> {
        if !self.config.enabled {
            return Err(Refusal::Disabled);
        }
        if !self.config.allow.contains(&request.kind) {
            return Err(Refusal::NotAllowed(request.kind));
        }
        validate::action_id(&request.id)?;
        if request.kind.is_queue() && reported.mta != MtaKind::Postfix {
            return Err(Refusal::Unsupported { kind: request.kind, reason: unsupported_mta(reported.mta) });
        }
        match request.kind {
            ActionKind::RestoreMailbox | ActionKind::RestoreSubscription | ActionKind::RestoreScript => {
                self.plan_restore(request)
            }
            ActionKind::ReleaseQueue if !request.undo.is_empty() => self.plan_restore(request),
            _ => self.plan_forward(request, reported),
        }
    }

    /// Hold, release (of what is held now), delete, pause, quarantine.
    fn plan_forward(&self, request: &Request, reported: &Reported) -> Result<Plan, Refusal> {
        let kind = request.kind;
        let id = request.source_id.as_str();
        match request.source_kind {
            SourceKind::Sender => validate::address("source_id", id)?,
            SourceKind::SaslUser => validate::sasl_user("source_id", id)?,
            SourceKind::LocalUser => {
                validate::uid("source_id", id)?;
            }
            SourceKind::Script => script_id(id)?,
        }
        let source = reported
            .find(request.source_kind, id)
            .ok_or_else(|| Refusal::UnknownSource { kind: request.source_kind, id: validate::shown(id) })?;
        let address = (matches!(request.source_kind, SourceKind::Sender | SourceKind::SaslUser) && id.contains('@'))
            .then_some(id);
        match kind {
            ActionKind::HoldQueue | ActionKind::ReleaseQueue | ActionKind::DeleteQueue => {
                for qid in &source.queue_ids {
                    validate::queue_id("queue_id", qid)?;
                }
                if address.is_none() && source.queue_ids.is_empty() {
                    return Err(Refusal::Unsupported {
                        kind,
                        reason: "the queue listing shows only sender addresses, and the log tied no queue ids to \
                                 this source; act on its mailbox or subscription instead"
                            .into(),
                    });
                }
                let matcher =
                    queue::Matcher { sender: address, ids: source.queue_ids.iter().map(String::as_str).collect() };
                let ids = queue::matching(
                    &self.config.postqueue,
                    self.config.timeout,
                    kind,
                    &matcher,
                    self.config.max_queue_ids,
                )?;
                Ok(self.queue_plan(kind, ids))
            }
            ActionKind::PauseMailbox => {
                let address = address.ok_or_else(|| Refusal::Invalid {
                    field: "source_kind",
                    reason: "a mailbox pause needs a SASL user or a sender that is an address".into(),
                })?;
                let target = LimitTarget::Mailbox(address.to_string());
                self.limit_plan(kind, target, "0", None)
            }
            ActionKind::PauseSubscription => {
                validate::domain("subscription", &request.subscription)?;
                if source.subscription != request.subscription {
                    return Err(Refusal::Invalid {
                        field: "subscription",
                        reason: format!(
                            "{} is not the subscription reported for this source ({})",
                            request.subscription,
                            if source.subscription.is_empty() { "none" } else { &source.subscription }
                        ),
                    });
                }
                let target = LimitTarget::Subscription(request.subscription.clone());
                self.limit_plan(kind, target, "0", None)
            }
            ActionKind::QuarantineScript => {
                if request.source_kind != SourceKind::Script {
                    return Err(Refusal::Invalid {
                        field: "source_kind",
                        reason: "quarantine needs a script source".into(),
                    });
                }
                let (from, to, undo) =
                    script::plan_quarantine(&self.config, &request.id, &request.script, &request.subscription, source)?;
                let (from_text, to_text) = (from.display().to_string(), to.display().to_string());
                let slots = Slots { from: &from_text, to: &to_text, ..Slots::default() };
                Ok(Plan {
                    restores: None,
                    kind,
                    queue_ids: Vec::new(),
                    commands: vec![self.command(Step::Act(kind), &slots, Vec::new())?],
                    summary: format!("move {from_text} to {to_text}"),
                    undo: Some(undo),
                })
            }
            ActionKind::RestoreMailbox | ActionKind::RestoreSubscription | ActionKind::RestoreScript => {
                self.plan_restore(request)
            }
        }
    }

    fn queue_plan(&self, kind: ActionKind, ids: Vec<String>) -> Plan {
        let verb = match kind {
            ActionKind::HoldQueue => "hold",
            ActionKind::ReleaseQueue => "release",
            _ => "delete (irreversible)",
        };
        if ids.is_empty() {
            return Plan {
                restores: None,
                kind,
                queue_ids: ids,
                commands: Vec::new(),
                undo: None,
                summary: "no queued message matches".into(),
            };
        }
        let commands = self.command(Step::Act(kind), &Slots::default(), ids.clone()).into_iter().collect();
        let undo = (kind == ActionKind::HoldQueue).then(|| UndoData::Release { ids: ids.clone() });
        Plan {
            restores: None,
            kind,
            summary: format!("{verb} {} queued message(s)", ids.len()),
            queue_ids: ids,
            commands,
            undo,
        }
    }

    /// A limit change to `value`; `restore_of` is the recorded data of a restore.
    fn limit_plan(
        &self,
        kind: ActionKind,
        target: LimitTarget,
        value: &str,
        restore_of: Option<&UndoData>,
    ) -> Result<Plan, Refusal> {
        let (name, read_step) = match &target {
            LimitTarget::Mailbox(a) => {
                validate::address("source_id", a)?;
                (a.as_str(), Step::ReadMailboxLimit)
            }
            LimitTarget::Subscription(d) => {
                validate::domain("subscription", d)?;
                (d.as_str(), Step::ReadSubscriptionLimit)
            }
        };
        validate::limit("limit", value)?;
        let slots = Slots { address: name, domain: name, limit: value, ..Slots::default() };
        let undo = match restore_of {
            Some(_) => None,
            None => {
                let read = self.command(read_step, &slots, Vec::new())?;
                let outcome = exec::run(&read.argv, &[], self.config.timeout);
                let previous = outcome.success.then(|| plesk::current_limit(&outcome.output)).flatten();
                Some(UndoData::Limit {
                    target: target.clone(),
                    known: previous.is_some(),
                    previous: previous.unwrap_or_else(|| "default".into()),
                })
            }
        };
        let summary = match &undo {
            Some(u) => format!("set the outgoing-mail limit of {name} to {value}; undo: {}", u.describe()),
            None => format!("set the outgoing-mail limit of {name} to {value}"),
        };
        Ok(Plan {
            restores: None,
            kind,
            queue_ids: Vec::new(),
            commands: vec![self.command(Step::Act(kind), &slots, Vec::new())?],
            undo,
            summary,
        })
    }

    /// Runs `request` at most once. Refusals and failures are results, not
    /// errors; an error means the ledger failed and nothing ran.
    pub fn run(&self, request: &Request, reported: &Reported) -> Result<ActionResult, LedgerError> {
        let started_ms = now_ms();
        let mut result = ActionResult {
            id: request.id.clone(),
            kind: Some(request.kind),
            status: Status::Refused,
            exit_code: 0,
            commands: Vec::new(),
            output: String::new(),
            reason: String::new(),
            undo: None,
            started_ms,
            finished_ms: started_ms,
        };
        if let Err(refusal) = validate::action_id(&request.id) {
            result.reason = refusal.to_string();
            return Ok(result);
        }
        match self.ledger.get(&request.id)? {
            Entry::Done(done) => return Ok(*done),
            Entry::Started { started_ms } => {
                return self.ledger.settle_interrupted(&request.id, Some(request.kind), started_ms, now_ms());
            }
            Entry::New => {}
        }
        let plan = match self.plan(request, reported) {
            Ok(plan) => plan,
            Err(refusal) => {
                result.reason = refusal.to_string();
                result.finished_ms = now_ms();
                self.ledger.finish(&result)?;
                return Ok(result);
            }
        };
        self.ledger.start(&request.id, started_ms)?;
        result.status = Status::Done;
        if plan.commands.is_empty() {
            result.output = plan.summary.clone();
        }
        for command in &plan.commands {
            result.commands.push(command.display());
            let stdin: String = command.stdin.iter().map(|id| format!("{id}\n")).collect();
            let outcome = exec::run(&command.argv, stdin.as_bytes(), self.config.timeout);
            result.exit_code = outcome.exit_code;
            result.output.push_str(&outcome.output);
            exec::truncate(&mut result.output, exec::MAX_OUTPUT);
            if !outcome.success {
                result.status = Status::Failed;
                result.reason =
                    outcome.error.unwrap_or_else(|| format!("{} exited {}", command.argv.join(" "), outcome.exit_code));
                break;
            }
        }
        if result.status == Status::Done {
            match (plan.kind, &plan.undo, &plan.restores) {
                (ActionKind::QuarantineScript, Some(undo @ UndoData::Script { original, quarantined, .. }), _) => {
                    script::verify_move(original, quarantined, undo, &mut result);
                }
                (ActionKind::RestoreScript, _, Some(undo @ UndoData::Script { original, quarantined, .. })) => {
                    script::verify_move(quarantined, original, undo, &mut result);
                    script::verify_in_place(original, &mut result);
                }
                _ => {}
            }
        }
        // Undo data stays when a hold or a pause failed part-way: releasing
        // or restoring what was not changed is harmless.
        result.undo = match (result.status, plan.kind) {
            (Status::Done, _) => plan.undo,
            (Status::Failed, ActionKind::HoldQueue | ActionKind::PauseMailbox | ActionKind::PauseSubscription) => {
                plan.undo
            }
            _ => None,
        };
        result.finished_ms = now_ms();
        self.ledger.finish(&result)?;
        Ok(result)
    }
}

/// A script source id: `uid:file` (as PHP writes it) or a file name.
fn script_id(id: &str) -> Result<(), Refusal> {
    let name = match id.split_once(':') {
        Some((uid, name)) => {
            validate::uid("source_id", uid)?;
            name
        }
        None => id,
    };
    validate::script_name("source_id", name)
}

fn unsupported_mta(mta: MtaKind) -> String {
    match mta {
        MtaKind::Qmail => "qmail has no documented command to hold or release single messages; \
                           qmail-remove is third-party and needs qmail stopped"
            .into(),
        MtaKind::Mailenable => "MailEnable documents no command-line queue control".into(),
        other => format!("queue actions need Postfix; this host's MTA is {}", other.as_str_name()),
    }
}
