//! The `rblfleet-agent` command line: argument parsing and dispatch, one file
//! per command (`Args` + `run(args, out)`, like the controller's `cli`).
//! `classify`, `scan`, `completions` and `man` work offline without a
//! runtime; `domains` reads the config but needs no runtime; `run` and
//! `check-config` read the config and need one.

mod check_config;
mod classify;
mod completions;
mod doctor;
mod domains;
mod man;
mod run;
mod scan;
pub(crate) mod service;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::Config;

#[cfg(not(windows))]
const DEFAULT_CONFIG: &str = "/etc/rblfleet/agent.toml";
/// Where `service install` puts the config (`windows::layout`), so that
/// `check-config`, `doctor` and `run` need no `--config` there either.
#[cfg(windows)]
const DEFAULT_CONFIG: &str = r"C:\ProgramData\rblfleet\agent.toml";

/// Reports this host's IPs to the rblfleet controller, which checks them
/// against DNS blocklists.
///
/// Reports are kept in a local outbox until the controller acknowledges them,
/// so nothing is lost while the controller is down. With several controllers
/// ([controller] urls) the agent sends to the first that answers, stays with
/// it, and moves to the next when it stops answering. Logging follows
/// RBLFLEET_LOG, else RUST_LOG (default "info"), e.g.
/// RBLFLEET_LOG=rblfleet_agent=debug.
#[derive(Debug, Parser)]
#[command(name = "rblfleet-agent", version)]
pub struct Cli {
    /// How log lines on stderr look: `text` (one line per event; colour only
    /// on a terminal without NO_COLOR, so journald and files get plain text)
    /// or `json` (one object per line with timestamp, level, target, message
    /// and the event's fields, for a log shipper or `jq`).
    #[arg(long, global = true, value_enum, env = "RBLFLEET_LOG_FORMAT", default_value = "text", value_name = "FORMAT")]
    pub log_format: rblfleet_shell::term::LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent: send a report every [report] interval until SIGTERM or Ctrl-C.
    Run(ConfigArgs),
    /// Check a config file without sending anything: parse it, load the TLS
    /// files, and print the host id and the effective settings (defaults filled in).
    CheckConfig(ConfigArgs),
    /// Check everything this agent depends on (configuration, certificate,
    /// each controller accepting this identity and the one in use, each log source, the queue
    /// tool, the passwd mapping, the outbox, clock skew), each with its fix.
    /// Sends no report.
    ///
    /// Exit status: 0 all ok, 1 warnings, 2 failures.
    Doctor(doctor::Args),
    /// Classify bounce replies: read lines on stdin (a remote server's reply,
    /// or a whole Postfix/qmail delivery log line) and write one JSON object
    /// per input line to stdout.
    ///
    /// Fields (null when unknown):
    ///   family     ip | domain | content | auth | recipient | transient | other
    ///   provider   who said so: the list operator the text names (spamhaus,
    ///              barracuda, …), else the receiver (microsoft, google, yahoo…)
    ///   zone       the blocklist zone named, without any customer key label
    ///   code       the provider's own code (S3140, TSS04, BL21, CS01, AUP#CXBL…)
    ///   ip         the IP address the receiver names (normally the sender's)
    ///   temporary  from the reply's SMTP code (4xx temporary, 5xx permanent),
    ///              never from Postfix's status= (a 5xx greeting is logged as
    ///              deferred)
    ///
    /// Works offline; needs no config and no controller.
    #[command(verbatim_doc_comment)]
    Classify,
    /// Summarise whole mail logs offline: outgoing delivery totals, blocklist
    /// hits grouped by provider, zone, code and listed IP, and every sending
    /// source (SASL user, local user, PHP script, sender address) ranked by
    /// suspicion, with the reasons in words.
    ///
    /// Give rotated files oldest first (e.g. maillog.1 maillog). Postfix,
    /// qmail and MailEnable logs in any timestamp form; compressed files are
    /// not read (zcat them first). Needs no config and no controller.
    ///
    /// JSON fields: see `rblfleet_agent::scan::render`; `totals.blocklisted`
    /// counts attempts refused because the sending IP is listed (bounce family
    /// "ip"), which are also counted as deferred or bounced.
    Scan(scan::Args),
    /// Print the domains this host serves as the agent would report them:
    /// read now from Plesk, the MTA's domain maps, the vhosts directory and
    /// the [domains] static list, with the sources used, counts and what
    /// was skipped and why. Sends nothing; needs no controller.
    ///
    /// SUBSCRIPTION is the owning subscription's system user (from Plesk's
    /// database, or the owner of its /var/www/vhosts directory).
    Domains(domains::Args),
    /// Windows only: install, remove, start or stop the agent as a Windows
    /// service (MailEnable hosts), or run as one.
    Service(service::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::Args),
    /// Print the manual page (roff), or write one page per command with --dir.
    Man(man::Args),
}

// The config file and transport of `run` and `check-config`. No doc comment:
// clap would take it as the subcommands' about text.
#[derive(Debug, clap::Args)]
pub struct ConfigArgs {
    /// The agent's TOML config file (every key: deploy/agent.example.toml).
    #[arg(long, short = 'c', value_name = "FILE", env = "RBLFLEET_AGENT_CONFIG", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Talk plaintext HTTP/2 to an http:// controller URL on a loopback host
    /// (localhost, 127.0.0.1, ::1), without TLS. For development and tests
    /// only; refused for any other URL. Default: off (mutual TLS).
    #[arg(long)]
    pub insecure: bool,
}

/// Runs `command`, writing its output to stdout and any error, prefixed with
/// the command's name, to stderr. A closed stdout (`| head`) is not an error.
pub fn dispatch(command: Command) -> ExitCode {
    let mut stdout = std::io::stdout();
    let (prefix, result) = match command {
        Command::Classify => ("rblfleet-agent classify", classify::run(&mut stdout)),
        Command::Scan(args) => ("rblfleet-agent scan", scan::run(&args, &mut stdout)),
        Command::Domains(args) => ("rblfleet-agent domains", domains::run(&args, &mut stdout)),
        Command::Completions(args) => ("rblfleet-agent completions", completions::run(&args, &mut stdout)),
        Command::Man(args) => ("rblfleet-agent man", man::run(&args, &mut stdout)),
        Command::Service(args) => ("rblfleet-agent service", service::run(&args, &mut stdout)),
        Command::CheckConfig(args) => ("rblfleet-agent", with_runtime(check_config::run(&args, &mut stdout))),
        // Writes nothing to stdout: no error of its is a closed pipe.
        Command::Run(args) => ("rblfleet-agent", with_runtime(run::run(&args))),
        // Its exit status is its verdict (0, 1, 2), not only success or failure.
        Command::Doctor(args) => return doctor::dispatch(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed stdout (`rblfleet-agent scan … | head`) is not a failure.
        Err(e) if rblfleet_shell::term::is_broken_pipe(e.as_ref()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{prefix}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `work` on a multi-threaded tokio runtime, started only for the
/// commands that need one.
fn with_runtime(work: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(work)
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Ok(Config::load(path)?)
}
