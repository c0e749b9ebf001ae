//! Containment on approval (issue 16): the controller's side.
//!
//! A person plans an action against a source one of the agents reported;
//! the agent answers with a dry run (what it would run); the person applies
//! the plan with a reason; the agent runs it and reports the result; undo
//! sends the reverse. The controller signs every action it creates with its
//! action key ([`rblfleet_proto::action`]); agents verify the signature,
//! the host and the expiry, and run only the kinds their own configuration
//! allows. Every step is an audit line on the record and, when the host has
//! an open case, a note on that case.
//!
//! Transport-free: the admin server calls [`Containment`]; the agent server
//! calls [`take_results`] and [`pending`] around each report.

mod record;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use rblfleet_proto::action::{ActionError, ActionKey};
use rblfleet_proto::v1::{ActionRecord, ContainRequest, ContainmentAction, SourceKind};
use serde::Deserialize;

pub use record::{pending, pending_of, take_results};

use crate::store::{Store, StoreError};

/// `[actions]` of the controller's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ActionsConfig {
    /// The Ed25519 action key (PKCS#8, from `rblfleet ca action-key`).
    /// Without it containment is off: `rblfleet contain` is refused.
    pub key: Option<PathBuf>,
    /// How long an approved action may wait for its host's next report;
    /// after that the agent refuses it as expired.
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
}

impl Default for ActionsConfig {
    fn default() -> Self {
        ActionsConfig { key: None, ttl: Duration::from_secs(15 * 60) }
    }
}

/// Why a containment step was refused.
#[derive(Debug, thiserror::Error)]
pub enum ContainError {
    #[error("containment is not configured on this controller: set [actions] key (see `rblfleet ca action-key`)")]
    NotConfigured,
    #[error("cannot read the action key {path}: {cause}")]
    KeyFile { path: PathBuf, cause: String },
    #[error("unknown operation {0:?}: plan, apply or undo")]
    BadOp(String),
    #[error("unknown action kind {0:?}: {kinds}", kinds = KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", "))]
    UnknownKind(String),
    #[error("no host {0} has reported to this controller")]
    UnknownHost(String),
    #[error("{kind} acts on {wants}, not on a {got}")]
    WrongSource { kind: String, wants: String, got: String },
    #[error("{host} never reported {what} (only sources the host's agent reported can be contained)")]
    NotReported { host: String, what: String },
    #[error("{field} is required for {kind}")]
    Missing { field: &'static str, kind: String },
    #[error("no action {0}")]
    NotFound(String),
    #[error("{id} is {state}: {op} needs {needs}")]
    BadState { id: String, state: String, op: &'static str, needs: &'static str },
    #[error("{id} is already being undone by {by} ({state}); a refused, failed or expired undo can be sent again")]
    AlreadyUndone { id: String, by: String, state: String },
    #[error("{0} cannot be undone")]
    NoUndo(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ActionError> for ContainError {
    fn from(e: ActionError) -> Self {
        ContainError::KeyFile { path: PathBuf::new(), cause: e.to_string() }
    }
}

/// One action kind: what it acts on and what undoes it.
#[derive(Debug, Clone, Copy)]
pub struct Kind {
    pub name: &'static str,
    /// The source kinds it accepts (empty: any, through its subscription).
    pub sources: &'static [SourceKind],
    pub undo: Option<&'static str>,
}

const QUEUE_SOURCES: &[SourceKind] = &[SourceKind::SaslUser, SourceKind::Sender, SourceKind::LocalUser];

/// Every kind the controller can send; agents allow a subset.
pub const KINDS: &[Kind] = &[
    Kind { name: "hold_queue", sources: QUEUE_SOURCES, undo: Some("release_queue") },
    Kind { name: "release_queue", sources: QUEUE_SOURCES, undo: None },
    Kind { name: "delete_queue", sources: QUEUE_SOURCES, undo: None },
    Kind { name: "pause_mailbox", sources: &[SourceKind::SaslUser], undo: Some("restore_mailbox") },
    Kind { name: "restore_mailbox", sources: &[SourceKind::SaslUser], undo: None },
    Kind { name: "pause_subscription", sources: &[], undo: Some("restore_subscription") },
    Kind { name: "restore_subscription", sources: &[], undo: None },
    Kind { name: "quarantine_script", sources: &[SourceKind::Script], undo: Some("restore_script") },
    Kind { name: "restore_script", sources: &[SourceKind::Script], undo: None },
];

pub fn kind(name: &str) -> Option<&'static Kind> {
    KINDS.iter().find(|k| k.name == name)
}

fn source_name(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::SaslUser => "mailbox",
        SourceKind::LocalUser => "system user",
        SourceKind::Script => "script",
        SourceKind::Sender => "sender address",
        SourceKind::Unspecified => "source",
    }
}

/// A reported source: (kind, id, subscription).
type Reported = BTreeSet<(i32, String, String)>;

/// What the host's agent reported in the last 7 days: each source, and the
/// scripts it named.
fn reported(store: &Store, host: &str, now: i64) -> Result<(Reported, BTreeSet<String>), StoreError> {
    let mut sources = BTreeSet::new();
    let mut scripts = BTreeSet::new();
    let mut add = |s: &rblfleet_proto::v1::SourceStats| {
        sources.insert((s.kind, s.id.clone(), s.subscription.clone()));
        scripts.extend(s.scripts.iter().cloned());
        if s.kind == SourceKind::Script as i32 {
            scripts.insert(s.id.clone());
        }
    };
    for rollup in store.rollups(host, now - 7 * 86_400_000, now + 3_600_000)? {
        rollup.sources.iter().for_each(&mut add);
    }
    for report in store.host_reports(host)? {
        report.sources.iter().for_each(&mut add);
    }
    Ok((sources, scripts))
}

/// The file name of a reported script id (`10001:mailer.php` → `mailer.php`).
fn script_name(id: &str) -> &str {
    let after_uid = id.split_once(':').map_or(id, |(_, name)| name);
    after_uid.rsplit('/').next().unwrap_or(after_uid)
}

/// Whether `path` is a full path to the script the source `source_id` names.
///
/// PHP's `X-PHP-Originating-Script` carries only `uid:basename`, so the
/// agent reports `mailer.php`; the NOC names the file to move with
/// `--script PATH`. Only the file name is checked here (the controller does
/// not know the host's trees): the agent checks the rest — below the
/// subscription's tree, no `..`, no symlink, owned by the reported uid.
fn names_reported_script(path: &str, source_id: &str) -> bool {
    let name = script_name(source_id);
    path.starts_with('/') && !name.is_empty() && path.rsplit('/').next() == Some(name)
}

/// The controller's containment service.
#[derive(Debug)]
pub struct Containment {
    key: Option<ActionKey>,
    ttl_ms: i64,
    /// Serialises apply and undo: each checks that its plan or action has
    /// not been applied or undone yet, then records that it has; two
    /// requests at once must not both pass the check.
    once: std::sync::Mutex<()>,
}

impl Containment {
    /// Reads the key named by `config` (none: containment is off).
    pub fn from_config(config: &ActionsConfig) -> Result<Containment, ContainError> {
        let key = match &config.key {
            None => None,
            Some(path) => {
                let der = std::fs::read(path)
                    .map_err(|e| ContainError::KeyFile { path: path.clone(), cause: e.to_string() })?;
                Some(
                    ActionKey::from_pkcs8(&der)
                        .map_err(|e| ContainError::KeyFile { path: path.clone(), cause: e.to_string() })?,
                )
            }
        };
        Ok(Containment {
            key,
            ttl_ms: i64::try_from(config.ttl.as_millis()).unwrap_or(i64::MAX),
            once: std::sync::Mutex::new(()),
        })
    }

    /// The public key agents must be configured with, when on.
    pub fn public_key(&self) -> Option<[u8; 32]> {
        self.key.as_ref().map(ActionKey::public_key)
    }

    fn key(&self) -> Result<&ActionKey, ContainError> {
        self.key.as_ref().ok_or(ContainError::NotConfigured)
    }

    /// Runs one `rblfleet contain` step for `who`.
    pub fn request(
        &self,
        store: &Store,
        r: &ContainRequest,
        who: &str,
        now: i64,
    ) -> Result<ActionRecord, ContainError> {
        match r.op.as_str() {
            "plan" => self.plan(store, r, who, now),
            "apply" => self.apply(store, &r.id, &r.reason, who, now),
            "undo" => self.undo(store, &r.id, &r.reason, who, now),
            other => Err(ContainError::BadOp(other.to_string())),
        }
    }

    /// A dry run of `r`'s action, sent to the host with its next ack.
    fn plan(&self, store: &Store, r: &ContainRequest, who: &str, now: i64) -> Result<ActionRecord, ContainError> {
        let key = self.key()?;
        let kind = kind(&r.kind).ok_or_else(|| ContainError::UnknownKind(r.kind.clone()))?;
        if store.get_host(&r.host_id)?.is_none() {
            return Err(ContainError::UnknownHost(r.host_id.clone()));
        }
        let source_kind = SourceKind::try_from(r.source_kind).unwrap_or(SourceKind::Unspecified);
        if !kind.sources.is_empty() && !kind.sources.contains(&source_kind) {
            let wants = kind.sources.iter().map(|k| source_name(*k)).collect::<Vec<_>>().join(" or ");
            return Err(ContainError::WrongSource {
                kind: kind.name.into(),
                wants,
                got: source_name(source_kind).into(),
            });
        }
        let (sources, scripts) = reported(store, &r.host_id, now)?;
        let reported_source = sources.iter().find(|(k, id, _)| *k == r.source_kind && *id == r.source_id);
        let Some((_, _, source_subscription)) = reported_source else {
            return Err(ContainError::NotReported {
                host: r.host_id.clone(),
                what: format!("{} {:?}", source_name(source_kind), r.source_id),
            });
        };
        let mut subscription = r.subscription.clone();
        // A script is moved only from below its subscription's tree, so the
        // agent needs the subscription: the one it reported the script under.
        if kind.name.ends_with("_script") && subscription.is_empty() {
            subscription.clone_from(source_subscription);
        }
        if kind.name.ends_with("_subscription") {
            if subscription.is_empty() {
                subscription.clone_from(source_subscription);
            }
            if subscription.is_empty() {
                return Err(ContainError::Missing { field: "subscription", kind: kind.name.into() });
            }
            if !sources.iter().any(|(_, _, s)| *s == subscription) {
                return Err(ContainError::NotReported {
                    host: r.host_id.clone(),
                    what: format!("subscription {subscription:?}"),
                });
            }
        }
        let mut script = r.script.clone();
        if kind.name.ends_with("_script") {
            if script.is_empty() && source_kind == SourceKind::Script {
                script.clone_from(&r.source_id);
            }
            if !script.starts_with('/') {
                return Err(ContainError::Missing {
                    field: "--script PATH (the full path of the reported script on the host)",
                    kind: kind.name.into(),
                });
            }
            if !scripts.contains(&script) && !names_reported_script(&script, &r.source_id) {
                return Err(ContainError::NotReported { host: r.host_id.clone(), what: format!("script {script:?}") });
            }
            if subscription.is_empty() {
                return Err(ContainError::Missing { field: "subscription", kind: kind.name.into() });
            }
        }
        let action = ContainmentAction {
            id: record::new_id(store, "p")?,
            host_id: r.host_id.clone(),
            kind: kind.name.into(),
            source_kind: r.source_kind,
            source_id: r.source_id.clone(),
            subscription,
            script,
            issued_ms: now,
            expires_ms: now.saturating_add(self.ttl_ms),
            approved_by: who.into(),
            reason: "plan (dry run)".into(),
            dry_run: true,
            ..ContainmentAction::default()
        };
        record::create(store, key, action, "planned", String::new(), who, now)
    }

    /// Approves a ready plan: the real action goes to the host.
    fn apply(
        &self,
        store: &Store,
        plan_id: &str,
        reason: &str,
        who: &str,
        now: i64,
    ) -> Result<ActionRecord, ContainError> {
        let key = self.key()?;
        let _once = self.once.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut plan = store.action(plan_id)?.ok_or_else(|| ContainError::NotFound(plan_id.into()))?;
        if plan.state != "plan_ready" {
            return Err(ContainError::BadState {
                id: plan_id.into(),
                state: plan.state,
                op: "apply",
                needs: "plan_ready (the agent's dry run answered)",
            });
        }
        if reason.trim().is_empty() {
            return Err(ContainError::Missing { field: "reason", kind: "apply".into() });
        }
        let planned = plan.action.clone().unwrap_or_default();
        let action = ContainmentAction {
            id: record::action_id_of_plan(store, plan_id)?,
            issued_ms: now,
            expires_ms: now.saturating_add(self.ttl_ms),
            approved_by: who.into(),
            reason: reason.into(),
            dry_run: false,
            ..planned
        };
        let record = record::create(store, key, action, "approved", plan_id.into(), who, now)?;
        // A plan is approved once: applying it again (a retried command, a
        // second person) would run it twice, and a second pause would record
        // the first one's 0 as the "previous" limit that undo puts back.
        let id = record.action.as_ref().map(|a| a.id.clone()).unwrap_or_default();
        record::settle(store, &mut plan, "applied", &format!("applied as {id}"), who, now)?;
        Ok(record)
    }

    /// Sends the reverse of a done action, with the undo data its agent reported.
    fn undo(&self, store: &Store, id: &str, reason: &str, who: &str, now: i64) -> Result<ActionRecord, ContainError> {
        let key = self.key()?;
        let _once = self.once.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let done = store.action(id)?.ok_or_else(|| ContainError::NotFound(id.into()))?;
        if done.state != "done" || done.action.as_ref().is_some_and(|a| a.dry_run) {
            return Err(ContainError::BadState {
                id: id.into(),
                state: done.state,
                op: "undo",
                needs: "done (an applied action)",
            });
        }
        let original = done.action.clone().unwrap_or_default();
        let reverse =
            kind(&original.kind).and_then(|k| k.undo).ok_or_else(|| ContainError::NoUndo(original.kind.clone()))?;
        // Undone once: a reverse on its way, done, or interrupted (it may
        // have run) stands; a refused, failed or expired one may be retried.
        let live = store.actions(Some(&original.host_id))?.into_iter().find(|r| {
            r.action.as_ref().is_some_and(|a| a.undo_of == original.id)
                && matches!(r.state.as_str(), "approved" | "done" | "interrupted")
        });
        if let Some(live) = live {
            let by = live.action.map(|a| a.id).unwrap_or_default();
            return Err(ContainError::AlreadyUndone { id: id.into(), by, state: live.state });
        }
        let action = ContainmentAction {
            id: record::new_id(store, "u")?,
            kind: reverse.into(),
            undo_of: original.id.clone(),
            undo: done.result.as_ref().map(|r| r.undo.clone()).unwrap_or_default(),
            issued_ms: now,
            expires_ms: now.saturating_add(self.ttl_ms),
            approved_by: who.into(),
            reason: if reason.trim().is_empty() { format!("undo {}", original.id) } else { reason.into() },
            dry_run: false,
            ..original
        };
        record::create(store, key, action, "approved", id.into(), who, now)
    }
}

#[cfg(test)]
mod tests;
