//! `rblfleet-agent doctor`: everything this host's agent depends on,
//! checked in one pass, each with a verdict and the fix in one line.
//!
//! The agent's failures are quiet: a certificate that expired with the rest
//! of the fleet's, a controller that refuses this identity while the agent
//! keeps retrying, a mail log in a format the parsers half understand, a
//! queue tool that moved. Each [`Check`] names one; the worst decides the
//! exit status (0 all ok, 1 warnings, 2 failures). The shape is the
//! controller's `rblfleet doctor`, so a NOC reads both alike.
//!
//! Every check runs under its own deadline in its own task ([`timed`]): a
//! hung `journalctl` or queue tool is one failed row, and the other rows
//! still come. Nothing is sent: the controller row uses the `Hello` call,
//! which stores nothing.
//!
//! # Layout
//!
//! - [`cert`]: the agent certificate (expiry, identity, issuing CA) and the CA's.
//! - [`controller`]: each controller reachable, this identity accepted, clock
//!   skew, and (with several) the one the running agent uses.
//! - [`logs`]: each log source read back (the last N lines) through the parsers.
//! - [`local`]: the queue tool, the passwd mapping, the outbox.

pub mod cert;
pub mod controller;
pub mod local;
pub mod logs;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use crate::Config;

use rblfleet_shell::doctor::Hints;
/// The row types are shared with the other binary's doctor.
pub use rblfleet_shell::doctor::{Check, Report, Status};

/// What `rblfleet-agent doctor` was asked to check.
#[derive(Debug, Clone)]
pub struct Options {
    /// The agent's configuration file.
    pub config: PathBuf,
    /// The configuration is for `--insecure` (plaintext, development only).
    pub insecure: bool,
    /// Deadline of one check.
    pub timeout: Duration,
    /// Lines read back from the end of each log source.
    pub lines: usize,
}

/// What this doctor's rows say when a check fails by itself.
const HINTS: Hints = Hints {
    report: "report it with the output of `rblfleet-agent doctor --format json`",
    hang: "find what hangs (a tool, a network mount, the controller); raise --timeout to wait longer",
};

/// Runs `work` in its own task under `timeout` ([`rblfleet_shell::doctor::timed`]).
pub async fn timed<F>(name: &str, timeout: Duration, work: F) -> Vec<Check>
where
    F: Future<Output = Vec<Check>> + Send + 'static,
{
    rblfleet_shell::doctor::timed(name, timeout, HINTS, work).await
}

/// Like [`timed`] for blocking work (files, external tools).
pub async fn timed_blocking<F>(name: &str, timeout: Duration, work: F) -> Vec<Check>
where
    F: FnOnce() -> Vec<Check> + Send + 'static,
{
    rblfleet_shell::doctor::timed_blocking(name, timeout, HINTS, work).await
}

/// Loads the configuration; the row, and the configuration when the other
/// checks can use it.
pub fn config(options: &Options) -> (Check, Option<Config>) {
    const NAME: &str = "config";
    let loaded = Config::load(&options.config).and_then(|c| c.check_transport(options.insecure).map(|()| c));
    match loaded {
        Ok(config) => (Check::ok(NAME, format!("{} loads", options.config.display())), Some(config)),
        Err(e) => (
            Check::failure(
                NAME,
                format!("{e}; the other checks need a configuration that loads"),
                "correct the key named; deploy/agent.example.toml documents every key",
            ),
            None,
        ),
    }
}

/// Runs every check. Never fails: what cannot be checked is a row.
pub async fn run(options: &Options) -> Report {
    let mut report = Report::default();
    let (row, config) = config(options);
    report.checks.push(row);
    let Some(config) = config else { return report };
    let (t, insecure) = (options.timeout, options.insecure);
    let c = config.clone();
    report.checks.extend(timed_blocking("agent_cert", t, move || cert::checks(&c, insecure)).await);
    let c = config.clone();
    report.checks.extend(timed("controller", t, async move { controller::checks(&c, insecure).await }).await);
    let (c, lines) = (config.clone(), options.lines);
    report.checks.extend(timed_blocking("logs", t, move || logs::checks(&c.logs, lines)).await);
    let c = config.clone();
    report.checks.extend(timed_blocking("queue", t, move || vec![local::queue(&c.queue)]).await);
    let c = config.clone();
    report.checks.extend(timed_blocking("passwd", t, move || vec![local::passwd(&c.sources.passwd)]).await);
    let c = config;
    report.checks.extend(timed_blocking("outbox", t, move || vec![local::outbox(&c.outbox)]).await);
    report
}

#[cfg(test)]
mod tests;
