//! The plain types of the actions API: what is asked ([`Request`]), what the
//! agent knows ([`Reported`]), what would run ([`Plan`]), what happened
//! ([`ActionResult`]) and what undo needs ([`UndoData`]).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use rblfleet_proto::v1::MtaKind;
use serde::{Deserialize, Serialize};

/// The closed set of actions (the wire's `kind` strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Put the source's queued mail on hold (Postfix `postsuper -h`).
    HoldQueue,
    /// Release held mail (`postsuper -H`): the ids an earlier hold recorded,
    /// or the source's mail now in the hold queue.
    ReleaseQueue,
    /// Delete the source's queued mail (`postsuper -d`); cannot be undone.
    DeleteQueue,
    /// Set a mailbox's outgoing-mail limit to 0.
    PauseMailbox,
    /// Put back the limit a pause recorded.
    RestoreMailbox,
    /// Set a subscription's outgoing-mail limit to 0.
    PauseSubscription,
    /// Put back the limit a pause recorded.
    RestoreSubscription,
    /// Move a PHP script out of the web tree, keeping owner and mode.
    QuarantineScript,
    /// Move it back to where it was.
    RestoreScript,
}

impl ActionKind {
    /// Every kind, in table order.
    pub const ALL: [ActionKind; 9] = [
        ActionKind::HoldQueue,
        ActionKind::ReleaseQueue,
        ActionKind::DeleteQueue,
        ActionKind::PauseMailbox,
        ActionKind::RestoreMailbox,
        ActionKind::PauseSubscription,
        ActionKind::RestoreSubscription,
        ActionKind::QuarantineScript,
        ActionKind::RestoreScript,
    ];

    /// The wire name, e.g. `hold_queue`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::HoldQueue => "hold_queue",
            ActionKind::ReleaseQueue => "release_queue",
            ActionKind::DeleteQueue => "delete_queue",
            ActionKind::PauseMailbox => "pause_mailbox",
            ActionKind::RestoreMailbox => "restore_mailbox",
            ActionKind::PauseSubscription => "pause_subscription",
            ActionKind::RestoreSubscription => "restore_subscription",
            ActionKind::QuarantineScript => "quarantine_script",
            ActionKind::RestoreScript => "restore_script",
        }
    }

    /// The action that undoes this one, if any (delete has none).
    pub fn undo_kind(self) -> Option<ActionKind> {
        match self {
            ActionKind::HoldQueue => Some(ActionKind::ReleaseQueue),
            ActionKind::PauseMailbox => Some(ActionKind::RestoreMailbox),
            ActionKind::PauseSubscription => Some(ActionKind::RestoreSubscription),
            ActionKind::QuarantineScript => Some(ActionKind::RestoreScript),
            _ => None,
        }
    }

    /// Whether the kind acts on the MTA's queue (and so needs Postfix).
    pub fn is_queue(self) -> bool {
        matches!(self, ActionKind::HoldQueue | ActionKind::ReleaseQueue | ActionKind::DeleteQueue)
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ActionKind {
    type Err = Refusal;
    fn from_str(s: &str) -> Result<Self, Refusal> {
        ActionKind::ALL.into_iter().find(|k| k.as_str() == s).ok_or_else(|| Refusal::Invalid {
            field: "kind",
            reason: format!("{:?} is not an action kind", crate::actions::validate::shown(s)),
        })
    }
}

/// What sends mail (mirrors the wire's `SourceKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A mailbox authenticated over SMTP (the SASL user name).
    SaslUser,
    /// A local system user (uid).
    LocalUser,
    /// A PHP script (`uid:file` from `X-PHP-Originating-Script`).
    Script,
    /// An envelope sender address.
    Sender,
}

/// One source as the agent reported it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct ReportedSource {
    /// What it is.
    pub kind: Option<SourceKind>,
    /// Mailbox, uid, script or address, by kind (as reported).
    pub id: String,
    /// Local uid when known.
    pub uid: Option<u32>,
    /// The Plesk subscription (domain) it belongs to, when known.
    pub subscription: String,
    /// Queue ids the agent's log tracking tied to this source (optional: the
    /// queue listing only shows senders, so a uid or a SASL user whose sender
    /// differs is matched through these).
    pub queue_ids: Vec<String>,
}

/// What this agent knows: its MTA and the sources it reported.
#[derive(Debug, Clone, Default)]
pub struct Reported {
    /// The MTA the queue collector found.
    pub mta: MtaKind,
    /// Sources from the agent's reports (recent periods).
    pub sources: Vec<ReportedSource>,
}

impl Reported {
    /// The reported source with this kind and id.
    pub fn find(&self, kind: SourceKind, id: &str) -> Option<&ReportedSource> {
        self.sources.iter().find(|s| s.kind == Some(kind) && s.id == id)
    }
}

/// One action to run (decoded and signature-checked by the transport).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Unique; runs at most once. `[A-Za-z0-9_-]`, at most 64 characters.
    pub id: String,
    /// What to do.
    pub kind: ActionKind,
    /// The source it is about, as the agent reported it.
    pub source_kind: SourceKind,
    /// The source's id, as reported.
    pub source_id: String,
    /// The subscription (domain); for pause_subscription and scripts.
    pub subscription: String,
    /// Absolute path of the script (quarantine_script).
    pub script: String,
    /// For restore_* and a release after a hold: the undo data of the action
    /// undone, as its result carried it ([`UndoData::to_wire`]).
    pub undo: String,
}

/// Whose outgoing-mail limit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitTarget {
    /// A mailbox address.
    Mailbox(String),
    /// A subscription's domain.
    Subscription(String),
}

/// What undo needs, recorded in the result of the action it undoes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "undo", rename_all = "snake_case")]
pub enum UndoData {
    /// Release exactly these held queue ids.
    Release {
        /// The ids put on hold.
        ids: Vec<String>,
    },
    /// Put this limit value back.
    Limit {
        /// Whose.
        target: LimitTarget,
        /// The value before the pause: a number, `unlimited` or `default`.
        previous: String,
        /// False when the previous value could not be read and `previous` is
        /// `default` (inherit from the subscription or plan).
        known: bool,
    },
    /// Move the script back.
    Script {
        /// Where it was.
        original: PathBuf,
        /// Where it is now.
        quarantined: PathBuf,
        /// Its owner, group and permission bits (checked on the way back).
        uid: u32,
        /// Group.
        gid: u32,
        /// Permission bits.
        mode: u32,
    },
}

impl UndoData {
    /// The wire form (one JSON object).
    pub fn to_wire(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses the wire form; the error names the field.
    pub fn from_wire(text: &str) -> Result<UndoData, Refusal> {
        if text.len() > 64 * 1024 {
            return Err(Refusal::Invalid { field: "undo", reason: "longer than 64 KiB".into() });
        }
        serde_json::from_str(text).map_err(|e| Refusal::Invalid { field: "undo", reason: e.to_string() })
    }

    /// One line for a person: what undo will do.
    pub fn describe(&self) -> String {
        match self {
            UndoData::Release { ids } => format!("release {} held message(s): {}", ids.len(), ids.join(" ")),
            UndoData::Limit { target, previous, known } => {
                let whose = match target {
                    LimitTarget::Mailbox(a) => format!("mailbox {a}"),
                    LimitTarget::Subscription(d) => format!("subscription {d}"),
                };
                let how = if *known { "" } else { " (the previous value could not be read)" };
                format!("set the outgoing-mail limit of {whose} back to {previous}{how}")
            }
            UndoData::Script { original, quarantined, uid, gid, mode } => format!(
                "move {} back to {} (owner {uid}:{gid}, mode {mode:o})",
                quarantined.display(),
                original.display()
            ),
        }
    }
}

/// One command line of a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedCommand {
    /// The argv, with `sudo -n` in front when configured.
    pub argv: Vec<String>,
    /// What goes to its stdin (queue ids, one a line), if anything.
    pub stdin: Vec<String>,
}

impl PlannedCommand {
    /// `argv` joined with spaces, and `< N ids` when ids go to stdin (audit form).
    pub fn display(&self) -> String {
        let line = self.argv.join(" ");
        if self.stdin.is_empty() { line } else { format!("{line} < {} id(s) on stdin", self.stdin.len()) }
    }
}

/// What an action would do, computed without changing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The action.
    pub kind: ActionKind,
    /// Queue ids matched now (queue actions).
    pub queue_ids: Vec<String>,
    /// The commands, in order. Empty: nothing to do (e.g. no queued mail).
    pub commands: Vec<PlannedCommand>,
    /// What the result's undo data will be (None: irreversible or nothing to undo).
    pub undo: Option<UndoData>,
    /// For a restore: the recorded undo data it applies (from the ledger).
    pub restores: Option<UndoData>,
    /// One line for a person, e.g. "irreversible: deletes 3 messages".
    pub summary: String,
}

/// The outcome of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every command succeeded (or there was nothing to do).
    Done,
    /// A command failed or timed out; `reason` says which.
    Failed,
    /// Not run: disabled, not allowed, unknown source, invalid identifier…
    Refused,
    /// Started before a crash: may have run; never run again.
    Interrupted,
}

impl Status {
    /// The wire string.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Done => "done",
            Status::Failed => "failed",
            Status::Refused => "refused",
            Status::Interrupted => "interrupted",
        }
    }
}

/// What happened, for the report and the case audit.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct ActionResult {
    /// The action id.
    pub id: String,
    /// The action's kind (None when the request could not be read).
    pub kind: Option<ActionKind>,
    /// The outcome.
    pub status: Status,
    /// Exit code of the last command run (0 when none ran, -1 when killed).
    pub exit_code: i32,
    /// The command lines run (audit form, [`PlannedCommand::display`]).
    pub commands: Vec<String>,
    /// Output summary, at most [`crate::actions::exec::MAX_OUTPUT`] bytes.
    pub output: String,
    /// Why it was refused or failed; empty when done.
    pub reason: String,
    /// What undo needs (None: irreversible, refused, or nothing was changed).
    pub undo: Option<UndoData>,
    /// Unix ms.
    pub started_ms: i64,
    /// Unix ms.
    pub finished_ms: i64,
}

/// Why an action is not run. Each variant names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// `[actions] enabled` is false.
    #[error("actions are disabled on this host ([actions] enabled = false)")]
    Disabled,
    /// The kind is not in `[actions] allow`.
    #[error("{0} is not in this host's [actions] allow list")]
    NotAllowed(ActionKind),
    /// The MTA or the kind cannot do it safely.
    #[error("{kind} is not supported here: {reason}")]
    Unsupported {
        /// The kind.
        kind: ActionKind,
        /// Why.
        reason: String,
    },
    /// The source is not one this agent reported.
    #[error("{kind:?} {id} is not a source this agent reported")]
    UnknownSource {
        /// Its kind.
        kind: SourceKind,
        /// Its id (shown with control characters escaped).
        id: String,
    },
    /// An identifier failed validation.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field, e.g. `source_id`, `script`, `queue_id`.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A read-only query needed for the plan failed (e.g. `postqueue -j`).
    #[error("cannot plan: {0}")]
    Query(String),
}
