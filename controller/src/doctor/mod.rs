//! `rblfleet doctor`: everything the controller depends on, checked in one
//! pass, each with a verdict and the fix in one line.
//!
//! The failures that matter in production are quiet: a resolver Spamhaus
//! refuses (every check an error, nothing listed, nothing clean), a
//! certificate that expires on a Sunday, a data directory one log rotation
//! away from the free-space reserve. Each [`Check`] names one such thing;
//! the run is a list of them, and the worst decides the exit status (0 all
//! ok, 1 warnings, 2 failures).
//!
//! Every check runs under its own deadline ([`timed`]) and in its own task,
//! so a hung resolver or a panicking parser is one failed row, never a
//! doctor that stops half way. Checks that need the configuration run only
//! when it loads; the configuration row then says why the rest is missing.
//!
//! # Layout
//!
//! - [`host`]: configuration, data directory and free space, API exposure, clock.
//! - [`pki`]: the CA and the controller certificate: expiry, chain, key, names.
//! - [`dns`]: each resolver, and every enabled zone's RFC 5782 test points
//!   answered through it.

pub mod dns;
pub mod host;
pub mod pki;

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use rblfleet_shell::doctor::Hints;
/// The row types are shared with the other binary's doctor.
pub use rblfleet_shell::doctor::{Check, Report, Status};

/// What `rblfleet doctor` was asked to check.
#[derive(Debug, Clone)]
pub struct Options {
    /// The controller's configuration file (the one `rblfleet serve` reads).
    pub config: PathBuf,
    /// The configuration is for `serve --insecure` (no certificates).
    pub insecure: bool,
    /// Deadline of one check (a DNS zone row: of its two probes together).
    pub timeout: Duration,
    /// Names agents connect to (their `controller.url` host, or
    /// `server_name`); each must be in the controller certificate.
    pub agent_names: Vec<String>,
}

/// What this doctor's rows say when a check fails by itself.
const HINTS: Hints = Hints {
    report: "report it with the output of `rblfleet doctor --format json`",
    hang: "find what hangs (an unreachable disk or resolver); raise --timeout to wait longer",
};

/// Runs `work` in its own task under `timeout` ([`rblfleet_shell::doctor::timed`]).
pub async fn timed<F>(name: &str, timeout: Duration, work: F) -> Vec<Check>
where
    F: Future<Output = Vec<Check>> + Send + 'static,
{
    rblfleet_shell::doctor::timed(name, timeout, HINTS, work).await
}

/// Like [`timed`] for blocking work (file system, certificate parsing).
pub async fn timed_blocking<F>(name: &str, timeout: Duration, work: F) -> Vec<Check>
where
    F: FnOnce() -> Vec<Check> + Send + 'static,
{
    rblfleet_shell::doctor::timed_blocking(name, timeout, HINTS, work).await
}

/// Runs every check. Never fails: what cannot be checked is a row.
pub async fn run(options: &Options) -> Report {
    let mut report = Report::default();
    let (config_row, config) = host::config(&options.config, options.insecure);
    report.checks.push(config_row);
    let Some(config) = config else {
        return report;
    };
    let t = options.timeout;
    let c = config.clone();
    report.checks.extend(timed_blocking("data_dir", t, move || host::data_dir(&c)).await);
    let (c, names, insecure) = (config.clone(), options.agent_names.clone(), options.insecure);
    report.checks.extend(timed_blocking("certificates", t, move || pki::checks(&c, &names, insecure)).await);
    report.checks.push(host::admin_api(&config, options.insecure));
    report.checks.push(host::metrics(&config));
    report.checks.extend(dns::checks(&config, t).await);
    let c = config.clone();
    report.checks.extend(timed_blocking("clock", t, move || vec![host::clock(&c)]).await);
    report
}

#[cfg(test)]
mod tests;
