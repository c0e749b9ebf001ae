//! The rows of a `doctor` run, shared by `rblfleet doctor` and
//! `rblfleet-agent doctor`: one verdict per check, and the worst verdict as
//! the exit status, printed the same way, so scripts read both commands alike.

use std::future::Future;
use std::io::Write;
use std::time::Duration;

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

/// A whole run, in the order the checks were made.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// The rows.
    pub checks: Vec<Check>,
}

impl Report {
    /// The worst verdict (ok for an empty run).
    pub fn worst(&self) -> Status {
        self.checks.iter().map(|c| c.status).max().unwrap_or(Status::Ok)
    }

    /// The first row named `check`.
    pub fn get(&self, check: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.check == check)
    }

    /// Aligned rows for people: verdict, name, detail, and the fix below.
    pub fn write_table(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let width = self.checks.iter().map(|c| c.check.chars().count()).max().unwrap_or(0);
        for c in &self.checks {
            let status = match c.status {
                Status::Ok => "ok",
                Status::Warning => "WARNING",
                Status::Failure => "FAILURE",
            };
            writeln!(out, "{status:<8} {:<width$}  {}", c.check, c.detail)?;
            if !c.fix.is_empty() {
                writeln!(out, "{:<8} {:<width$}  fix: {}", "", "", c.fix)?;
            }
        }
        let count = |s: Status| self.checks.iter().filter(|c| c.status == s).count();
        writeln!(
            out,
            "\n{} checks: {} ok, {} warnings, {} failures",
            self.checks.len(),
            count(Status::Ok),
            count(Status::Warning),
            count(Status::Failure)
        )
    }

    /// `{"status": worst, "checks": [{check, status, detail, fix}…]}`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "status": self.worst(), "checks": self.checks })
    }

    /// Prints the report as [`Report::to_json`] (pretty) or as the table.
    pub fn write(&self, out: &mut dyn Write, json: bool) -> std::io::Result<()> {
        if json {
            serde_json::to_writer_pretty(&mut *out, &self.to_json())?;
            writeln!(out)
        } else {
            self.write_table(out)
        }
    }
}

/// What a doctor's rows say when a check fails by itself rather than
/// finding a problem.
#[derive(Debug, Clone, Copy)]
pub struct Hints {
    /// The fix of a check that panicked: how to report it.
    pub report: &'static str,
    /// The fix of a check that overran its deadline: where to look.
    pub hang: &'static str,
}

fn bug(name: &str, error: &tokio::task::JoinError, hints: Hints) -> Check {
    Check::failure(
        name,
        format!("the check itself failed ({}); a bug", if error.is_panic() { "panicked" } else { "was cancelled" }),
        hints.report,
    )
}

/// Runs `work` in its own task under `timeout`: a check that overruns or
/// panics is one failure row named `name`, and the others still run.
pub async fn timed<F>(name: &str, timeout: Duration, hints: Hints, work: F) -> Vec<Check>
where
    F: Future<Output = Vec<Check>> + Send + 'static,
{
    match tokio::time::timeout(timeout, tokio::spawn(work)).await {
        Ok(Ok(checks)) => checks,
        Ok(Err(error)) => vec![bug(name, &error, hints)],
        Err(_) => {
            vec![Check::failure(name, format!("no result within {}", humantime::format_duration(timeout)), hints.hang)]
        }
    }
}

/// Like [`timed`] for blocking work (files, external tools). A blocking
/// task cannot be cancelled: one that overruns is left to finish alone.
pub async fn timed_blocking<F>(name: &str, timeout: Duration, hints: Hints, work: F) -> Vec<Check>
where
    F: FnOnce() -> Vec<Check> + Send + 'static,
{
    let owned = name.to_string();
    timed(name, timeout, hints, async move {
        tokio::task::spawn_blocking(work).await.unwrap_or_else(|error| vec![bug(&owned, &error, hints)])
    })
    .await
}
