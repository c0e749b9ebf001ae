//! The rows of a `doctor` run, shared by `rblfleet doctor` and
//! `rblfleet-agent doctor`: one verdict per check, and the worst verdict as
//! the exit status, so scripts read both commands the same way.

use serde::Serialize;

/// A check's verdict. Ordered: the worst of a run is its maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing to do.
    Ok,
    /// Works, but will not for long, or only in part.
    Warning,
    /// Does not work.
    Failure,
}

impl Status {
    /// The word printed in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Failure => "failure",
        }
    }

    /// The process exit status for a run whose worst verdict is this.
    pub fn exit_code(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Failure => 2,
        }
    }
}

/// One row: what was checked, the verdict, what was seen, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    /// Stable name, e.g. `agent_cert` or `zone bl via 127.0.0.1:53`.
    pub check: String,
    /// The verdict.
    pub status: Status,
    /// What was found, one line.
    pub detail: String,
    /// What to do, one line; empty when nothing is to be done.
    pub fix: String,
}

impl Check {
    /// A row with nothing to do.
    pub fn ok(check: impl Into<String>, detail: impl Into<String>) -> Check {
        Check { check: check.into(), status: Status::Ok, detail: detail.into(), fix: String::new() }
    }

    /// A row that works for now, with what to do.
    pub fn warning(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { check: check.into(), status: Status::Warning, detail: detail.into(), fix: fix.into() }
    }

    /// A row that does not work, with what to do.
    pub fn failure(check: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { check: check.into(), status: Status::Failure, detail: detail.into(), fix: fix.into() }
    }
}
