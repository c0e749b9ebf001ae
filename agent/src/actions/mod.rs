//! Containment actions (issue 16): hold, release or delete a source's queued
//! mail, pause a mailbox's or a subscription's outgoing mail with Plesk's
//! limits, quarantine a PHP script, and undo each of them exactly.
//!
//! This module is everything that does not need the network: the transport
//! (signed actions in the report's answer, results in the next report) hands
//! an already verified [`Request`] to [`Executor::run`] and reports the
//! [`ActionResult`] it gets back.
//!
//! The rules a security team signs off on, and where each is enforced:
//!
//! - Nothing runs unless `[actions] enabled = true` and the kind is in
//!   `allow` ([`Executor::plan`], first check).
//! - Identifiers come only from the agent's own evidence: the request names a
//!   source the agent reported ([`Reported`]); anything else is refused.
//! - No value reaches an argument without passing [`validate`]: addresses,
//!   SASL users, uids, domains, queue ids and script paths, each with its own
//!   grammar; shell metacharacters, `../`, control characters, a leading `-`
//!   and over-long values are refused with the field's name.
//! - Every command line is a row of [`table::TABLE`] (data, with the
//!   documentation each flag was checked against); commands run without a
//!   shell and with a deadline ([`exec`]); the privileged ones through
//!   `sudo -n` and the drop-in `deploy/sudoers/rblfleet-agent-actions`.
//! - An action id runs at most once, whatever crashes: [`ActionLedger`]
//!   writes "started" durably before the first command and "done" with the
//!   result after; started-but-not-done reads back as
//!   [`Status::Interrupted`] and is never run again.
//! - Undo restores exactly what was recorded ([`UndoData`]): the held ids,
//!   the previous limit, where the script went and its owner and mode.

//! # Use (for the transport)
//!
//! ```text
//! let ledger = ActionLedger::in_outbox(&config.outbox.dir)?;
//! let executor = Executor::new(&config.actions, ledger);
//! // at start: executor.ledger().unreported(now)? → results no stored report
//! // carries (interrupted ids settled as interrupted); mark_reported(id) once
//! // a stored report carries one; prune(now) now and then
//! // per verified action (blocking: call from spawn_blocking):
//! let result = executor.run(&request, &reported)?;   // same id again → same result
//! // dry_run: executor.plan(&request, &reported) → Plan (no side effects
//! // but the read-only queries: postqueue -j, plesk … --info)
//! // undo: a request of the undo kind carrying the result's undo data
//! // (UndoData::to_wire), or executor.undo(new_id, &result, &reported)
//! ```
//!
//! A refused or failed id stays refused or failed: the controller issues a
//! new id (a new plan) to try again.

mod exec;
mod executor;
mod ledger;
pub(crate) mod memory;
mod plesk;
mod queue;
mod script;
pub mod table;
mod types;
pub mod validate;

pub use executor::Executor;
pub use ledger::{ActionLedger, Entry as LedgerEntry, LedgerError, MAX_ENTRIES, MAX_TTL_MS};
pub use memory::SourceMemory;
pub use types::{
    ActionKind, ActionResult, LimitTarget, Plan, PlannedCommand, Refusal, Reported, ReportedSource, Request,
    SourceKind, Status, UndoData,
};

#[cfg(all(test, unix))]
mod tests;
