//! The `rblfleet` command line: argument parsing and dispatch, one file per
//! command. Commands that read fleet state are clients of a running
//! controller's admin API (sled allows one process per data directory);
//! `ca` and `serve` work locally.

mod alerts;
mod backup;
mod ca;
mod case;
mod cases;
mod check;
mod completions;
mod contain;
#[cfg(feature = "demo")]
mod demo;
mod doctor;
mod domain;
mod host;
mod hosts;
mod ip;
mod man;
mod migrate;
mod render;
mod report;
mod restore;
mod serve;
mod verify;
mod warnings;
mod zones;

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::client::{AdminClient, AdminEndpoint, DEFAULT_ADMIN_URL};

/// rblfleet: blocklist monitoring and delisting for a fleet of Plesk mail servers.
///
/// Agents on each host report their IPs and mail evidence to one controller
/// (`rblfleet serve`); the other commands ask that controller.
#[derive(Debug, Parser)]
#[command(name = "rblfleet", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// How log lines on stderr look: `text` (one line per event; colour only
    /// on a terminal without NO_COLOR, so journald and files get plain text)
    /// or `json` (one object per line with timestamp, level, target, message
    /// and the event's fields, for a log shipper or `jq`). The level follows
    /// RBLFLEET_LOG (default: info for `serve`, warn for the rest).
    #[arg(long, global = true, value_enum, env = "RBLFLEET_LOG_FORMAT", default_value = "text", value_name = "FORMAT")]
    pub log_format: rblfleet_shell::term::LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller: accept agent reports, store them, serve the admin API.
    Serve(serve::Args),
    /// Manage the fleet's certificate authority and issue certificates.
    #[command(subcommand)]
    Ca(ca::Command),
    /// List every host that has reported, with its last report and IPs.
    Hosts(hosts::Args),
    /// Show one host in detail.
    Host(host::Args),
    /// The fleet-wide listing report: every listing, worst first, with its
    /// case, top suspect and delisting route.
    Report(report::Args),
    /// Delisting cases (default: the ones still open).
    Cases(cases::Args),
    /// Show a delisting case, or move it: investigate, remediated,
    /// requested, ignore, note.
    Case(case::Args),
    /// Stop a spam source on a host, on approval: plan (a dry run on the
    /// host), apply, undo, list, show. Needs [actions] on the controller and
    /// on the host's agent.
    #[command(subcommand)]
    Contain(contain::Command),
    /// The blocklist catalog with each zone's health and budget use.
    Zones(zones::Args),
    /// One IP: hosts carrying it, status on every list, listing history.
    Ip(ip::Args),
    /// One domain: the hosts and subscriptions serving it, who sends with
    /// it, its status on the domain lists (DBL, SURBL, URIBL), listing
    /// history, cases, suspects and the refusals that name it.
    Domain(domain::Args),
    /// Copy a running controller's store into one file: a consistent
    /// snapshot, taken while agents keep reporting.
    ///
    /// For a controller on sled. One with [store] backend = "postgres" is
    /// backed up with PostgreSQL's tools, `pg_dump --format=custom` and
    /// `pg_restore` (the controller answers with the exact commands).
    Backup(backup::Args),
    /// Rebuild a data directory from a backup (controller stopped).
    Restore(restore::Args),
    /// Copy a stopped controller's sled store into PostgreSQL, and check the copy.
    ///
    /// Copies every table of the data directory (hosts, raw reports, hourly
    /// roll-ups, blocklist checks, listing episodes, zone usage, cases with
    /// their history, receiver states, domains, outbreak warnings, actions)
    /// into an empty PostgreSQL database, creating the schema first. The copy
    /// is one transaction: before it commits, the row count of every table is
    /// compared with sled's, and cases, episodes and host summaries record by
    /// record; any difference rolls it back, leaving the database empty.
    ///
    /// Stop the controller first (`systemctl stop rblfleet`): sled refuses a
    /// directory a running controller holds, and agents keep their reports
    /// in their outbox meanwhile. The data directory is only read.
    ///
    /// Then set `[store] backend = "postgres"`, `url` and `password_file` in
    /// the controller's configuration and start it.
    Migrate(migrate::Args),
    /// Check a stopped controller's store for consistency.
    ///
    /// For the sled store in a data directory. With [store] backend =
    /// "postgres" the database checks itself: `pg_amcheck --install-missing
    /// --heapallindexed 'postgresql://USER@HOST/DB'`.
    ///
    /// Exit status: 0 consistent, 2 problems found, 1 the store could not
    /// be read.
    Verify(verify::Args),
    /// Check everything the controller depends on (configuration, disk,
    /// certificates, admin API exposure, resolvers and every zone's test
    /// points through them, clock), each with its fix.
    ///
    /// Exit status: 0 all ok, 1 warnings, 2 failures.
    Doctor(doctor::Args),
    /// Check IPs and domains against DNS blocklists now, without a controller.
    ///
    /// Exit status: 0 nothing listed, 2 something listed, 3 some lookups
    /// failed (not confirmed clean), 1 usage or setup error.
    Check(check::Args),
    /// Run a controller and a local agent on loopback, offline, and show the result.
    #[cfg(feature = "demo")]
    Demo(demo::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Print the manual page (roff), or write one page per command with --dir.
    Man(man::Args),
    /// Alert routes: `alerts test` sends a test alert through each one.
    #[command(subcommand)]
    Alerts(alerts::Command),
}

/// How to reach the controller's admin API (shared by client commands).
#[derive(Debug, Clone, Args)]
pub struct Connect {
    /// Admin API address: http://127.0.0.1:PORT for the local plaintext API,
    /// https://HOST:PORT for one that requires an admin certificate.
    #[arg(long, env = "RBLFLEET_CONTROLLER", default_value = DEFAULT_ADMIN_URL, value_name = "URL")]
    pub controller: String,
    /// CA certificate that signed the controller's certificate (https only).
    #[arg(long, env = "RBLFLEET_CA", value_name = "FILE")]
    pub ca: Option<PathBuf>,
    /// Admin certificate from `rblfleet ca issue --admin NAME` (https only).
    #[arg(long, env = "RBLFLEET_CERT", value_name = "FILE")]
    pub cert: Option<PathBuf>,
    /// Key of the admin certificate (https only).
    #[arg(long, env = "RBLFLEET_KEY", value_name = "FILE")]
    pub key: Option<PathBuf>,
}

impl Connect {
    async fn client(&self) -> anyhow::Result<AdminClient> {
        let endpoint = AdminEndpoint {
            url: self.controller.clone(),
            ca: self.ca.clone(),
            cert: self.cert.clone(),
            key: self.key.clone(),
        };
        Ok(AdminClient::connect(&endpoint).await?)
    }
}

/// Output format of reporting commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// JSON for scripts (stable field names).
    Json,
}

/// Parses a case state name for `--state`.
fn parse_state(text: &str) -> Result<i32, String> {
    crate::cases::parse_state(text).map(|s| s as i32)
}

/// A command's verdict as a process exit status (e.g. `check` exits 2 when
/// something is listed); not an error to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("exit status {0}")]
pub struct Exit(pub u8);

/// Runs a parsed command, writing its output to `out`.
pub async fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(args).await,
        Command::Ca(command) => ca::run(command, out),
        Command::Hosts(args) => hosts::run(args, out).await,
        Command::Host(args) => host::run(args, out).await,
        #[cfg(feature = "demo")]
        Command::Demo(args) => demo::run(args, out).await,
        Command::Check(args) => check::run(args, out).await,
        Command::Doctor(args) => doctor::run(args, out).await,
        Command::Zones(args) => zones::run(args, out).await,
        Command::Report(args) => report::run(args, out).await,
        Command::Cases(args) => cases::run(args, out).await,
        Command::Case(args) => case::run(args, out).await,
        Command::Contain(command) => contain::run(command, out).await,
        Command::Ip(args) => ip::run(args, out).await,
        Command::Domain(args) => domain::run(args, out).await,
        Command::Backup(args) => backup::run(args, out).await,
        Command::Restore(args) => restore::run(args, out).await,
        Command::Verify(args) => verify::run(args, out).await,
        Command::Migrate(args) => migrate::run(args, out).await,
        Command::Completions(args) => completions::run(&args, out),
        Command::Man(args) => man::run(&args, out),
        Command::Alerts(command) => alerts::run(command, out).await,
    }
}

/// Parses `args` (the first is the program name) and runs the command; for tests
/// and embedding.
pub async fn run_args<I, T>(args: I, out: &mut dyn Write) -> anyhow::Result<()>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = Cli::try_parse_from(args)?;
    run(cli, out).await
}
