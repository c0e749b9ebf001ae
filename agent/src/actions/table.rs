//! The command table: every command line an action may run, as data.
//!
//! A row names the tool, its fixed arguments and the one slot a validated
//! value goes into, whether it needs root (and so goes through `sudo -n`),
//! and the documentation its flags were checked against. `verified = false`
//! marks a flag or an output format that could not be confirmed from the
//! tool's own documentation (see `note`); such a row still runs when allowed,
//! and the executor checks its effect where it can.
//!
//! `deploy/sudoers/rblfleet-agent-actions` must allow exactly the privileged
//! rows; `sudoers_covers_every_privileged_row` in the tests keeps the two in step.

use super::ActionKind;

/// Which configured program a row runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `[actions] postsuper`.
    Postsuper,
    /// `[actions] postqueue`.
    Postqueue,
    /// `[actions] plesk`.
    Plesk,
    /// `[actions] mv`.
    Mv,
}

/// One argument of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// Written as is.
    Lit(&'static str),
    /// A validated mailbox address.
    Address,
    /// A validated subscription domain.
    Domain,
    /// A validated limit value (`0` for a pause, the recorded value for a restore).
    Limit,
    /// The path moved from.
    From,
    /// The path moved to.
    To,
}

/// What a row is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The action itself.
    Act(ActionKind),
    /// A read-only query the plan needs (never run with sudo).
    ListQueue,
    /// Read a mailbox's current limit (needs root: `plesk bin` does).
    ReadMailboxLimit,
    /// Read a subscription's current limit.
    ReadSubscriptionLimit,
}

/// One command line.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    /// What it is for.
    pub step: Step,
    /// The program.
    pub tool: Tool,
    /// Its arguments after the program.
    pub args: &'static [Arg],
    /// Queue ids go to stdin, one a line (`postsuper … -`).
    pub ids_on_stdin: bool,
    /// Runs as root (through `sudo -n` when `[actions] sudo = true`).
    pub privileged: bool,
    /// Every flag confirmed in the documentation at `source`.
    pub verified: bool,
    /// Where the flags were checked.
    pub source: &'static str,
    /// What could not be confirmed, or a caveat.
    pub note: &'static str,
}

use Arg::{Address, Domain, From, Limit, Lit, To};

const POSTSUPER_DOC: &str = "https://www.postfix.org/postsuper.1.html";
const POSTQUEUE_DOC: &str = "https://www.postfix.org/postqueue.1.html";
const PLESK_LIMITS_DOC: &str =
    "https://docs.plesk.com/en-US/obsidian/administrator-guide/mail/protection-from-outbound-spam/custom-limits.73368/";
const MV_DOC: &str = "https://www.gnu.org/software/coreutils/manual/html_node/mv-invocation.html";

/// The table. Queue ids are never arguments: they go to stdin after `-`, so
/// the sudoers rule is an exact command line with no wildcard at all.
pub const TABLE: &[Row] = &[
    Row {
        step: Step::ListQueue,
        tool: Tool::Postqueue,
        args: &[Lit("-j")],
        ids_on_stdin: false,
        privileged: false,
        verified: true,
        source: POSTQUEUE_DOC,
        note: "JSON lines: queue_name, queue_id, sender, recipients[] (Postfix 3.1+); unprivileged (group postdrop)",
    },
    Row {
        step: Step::Act(ActionKind::HoldQueue),
        tool: Tool::Postsuper,
        args: &[Lit("-h"), Lit("-")],
        ids_on_stdin: true,
        privileged: true,
        verified: true,
        source: POSTSUPER_DOC,
        note: "-h queue_id: put on hold (Postfix 2.0+); - reads ids from stdin; held mail does not expire until released",
    },
    Row {
        step: Step::Act(ActionKind::ReleaseQueue),
        tool: Tool::Postsuper,
        args: &[Lit("-H"), Lit("-")],
        ids_on_stdin: true,
        privileged: true,
        verified: true,
        source: POSTSUPER_DOC,
        note: "-H queue_id: release from hold to the deferred queue; - reads ids from stdin",
    },
    Row {
        step: Step::Act(ActionKind::DeleteQueue),
        tool: Tool::Postsuper,
        args: &[Lit("-d"), Lit("-")],
        ids_on_stdin: true,
        privileged: true,
        verified: true,
        source: POSTSUPER_DOC,
        note: "-d queue_id: delete; - reads ids from stdin (ALL is never sent: ids are validated)",
    },
    Row {
        step: Step::ReadMailboxLimit,
        tool: Tool::Plesk,
        args: &[Lit("bin"), Lit("mail"), Lit("--info"), Address],
        ids_on_stdin: false,
        privileged: true,
        verified: false,
        source: PLESK_LIMITS_DOC,
        note: "--info exists; the line naming the outgoing limit is not documented: an unreadable value is recorded as unknown and undo sets 'default'",
    },
    Row {
        step: Step::Act(ActionKind::PauseMailbox),
        tool: Tool::Plesk,
        args: &[Lit("bin"), Lit("mail"), Lit("--update"), Address, Lit("-outgoing-messages-mbox-limit"), Limit],
        ids_on_stdin: false,
        privileged: true,
        verified: false,
        source: PLESK_LIMITS_DOC,
        note: "option name from the XML API's mail property 'outgoing-messages-mbox-limit' and operators' scripts; 0 prohibits sending (Plesk guide)",
    },
    Row {
        step: Step::Act(ActionKind::RestoreMailbox),
        tool: Tool::Plesk,
        args: &[Lit("bin"), Lit("mail"), Lit("--update"), Address, Lit("-outgoing-messages-mbox-limit"), Limit],
        ids_on_stdin: false,
        privileged: true,
        verified: false,
        source: PLESK_LIMITS_DOC,
        note: "as pause_mailbox, with the recorded value",
    },
    Row {
        step: Step::ReadSubscriptionLimit,
        tool: Tool::Plesk,
        args: &[Lit("bin"), Lit("subscription_settings"), Lit("--info"), Domain],
        ids_on_stdin: false,
        privileged: true,
        verified: false,
        source: PLESK_LIMITS_DOC,
        note: "output format not documented; see ReadMailboxLimit",
    },
    Row {
        step: Step::Act(ActionKind::PauseSubscription),
        tool: Tool::Plesk,
        args: &[
            Lit("bin"),
            Lit("subscription_settings"),
            Lit("--update"),
            Domain,
            Lit("-outgoing-messages-subscription-limit"),
            Limit,
        ],
        ids_on_stdin: false,
        privileged: true,
        verified: false,
        source: PLESK_LIMITS_DOC,
        note: "option name from the XML API's webspace mail pref 'outgoing-messages-subscription-limit'; not found in the CLI reference",
    },
    Row {
        step: Step::Act(ActionKind::RestoreSubscription),
        tool: Tool::Plesk,
        args: &[
            Lit("bin"),
            Lit("subscription_settings"),
            Lit("--update"),
            Domain,
            Lit("-outgoing-messages-subscription-limit"),
            Limit,
        ],
        ids_on_stdin: false,
        privileged: true,
        verified: false,
        source: PLESK_LIMITS_DOC,
        note: "as pause_subscription, with the recorded value",
    },
    Row {
        step: Step::Act(ActionKind::QuarantineScript),
        tool: Tool::Mv,
        args: &[Lit("-n"), Lit("-T"), Lit("--"), From, To],
        ids_on_stdin: false,
        privileged: true,
        verified: true,
        source: MV_DOC,
        note: "-n: never overwrite; -T: the destination is a file, never a directory to move into; a rename keeps owner and mode (checked after)",
    },
    Row {
        step: Step::Act(ActionKind::RestoreScript),
        tool: Tool::Mv,
        args: &[Lit("-n"), Lit("-T"), Lit("--"), From, To],
        ids_on_stdin: false,
        privileged: true,
        verified: true,
        source: MV_DOC,
        note: "the reverse move; refused when something now exists at the original path",
    },
];

/// The row for a step.
pub fn row(step: Step) -> Option<&'static Row> {
    TABLE.iter().find(|r| r.step == step)
}
