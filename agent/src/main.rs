//! `rblfleet-agent`: the thin binary around the `rblfleet_agent` library.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use rblfleet_agent::client::ControllerClient;
use rblfleet_agent::scan::{ScanOptions, render};
use rblfleet_agent::sources::UserMap;
use rblfleet_agent::{Agent, Config, RunOptions, identity};

const DEFAULT_CONFIG: &str = "/etc/rblfleet/agent.toml";

/// Reports this host's IPs to the rblfleet controller, which checks them
/// against DNS blocklists.
///
/// Reports are kept in a local outbox until the controller acknowledges them,
/// so nothing is lost while the controller is down. Logging follows
/// RBLFLEET_LOG, else RUST_LOG (default "info"), e.g.
/// RBLFLEET_LOG=rblfleet_agent=debug.
#[derive(Debug, Parser)]
#[command(name = "rblfleet-agent", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the agent: send a report every [report] interval until SIGTERM or Ctrl-C.
    Run(ConfigArgs),
    /// Check a config file without sending anything: parse it, load the TLS
    /// files, and print the host id and the effective settings (defaults filled in).
    CheckConfig(ConfigArgs),
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
    Scan(ScanArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to write a completion script for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command with --dir.
    Man {
        /// Write one page per command into DIR (rblfleet-agent.1,
        /// rblfleet-agent-run.1, ...) instead of printing the top page.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// Output of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    /// Totals, blocklist hits and top suspects as text tables.
    Table,
    /// One JSON object (totals, blocklist, sources, stats).
    Json,
}

#[derive(Debug, Args)]
struct ScanArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// The passwd file mapping uids to Plesk subscriptions (home directory
    /// /var/www/vhosts/DOMAIN). Default: /etc/passwd when readable.
    #[arg(long, value_name = "FILE")]
    passwd: Option<PathBuf>,
    /// Sources listed at most (default: all in JSON, 15 in the table).
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    /// Mail log files, read whole and in order.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
}

#[derive(Debug, Args)]
struct ConfigArgs {
    /// The agent's TOML config file (every key: deploy/agent.example.toml).
    #[arg(long, short = 'c', value_name = "FILE", env = "RBLFLEET_AGENT_CONFIG", default_value = DEFAULT_CONFIG)]
    config: PathBuf,
    /// Talk plaintext HTTP/2 to an http:// controller URL on a loopback host
    /// (localhost, 127.0.0.1, ::1), without TLS. For development and tests
    /// only; refused for any other URL. Default: off (mutual TLS).
    #[arg(long)]
    insecure: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    match cli.command {
        Command::Classify => return classify_stdin(),
        Command::Scan(args) => {
            return match scan(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("rblfleet-agent scan: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Completions { shell } => {
            // Into a buffer first: clap_complete panics on a write error
            // such as a closed pipe.
            let (mut command, mut script) = (<Cli as clap::CommandFactory>::command(), Vec::new());
            clap_complete::generate(shell, &mut command, "rblfleet-agent", &mut script);
            return match std::io::stdout().lock().write_all(&script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("rblfleet-agent completions: {e}");
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            };
        }
        Command::Man { dir } => {
            return match man(dir.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("rblfleet-agent man: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        Command::Run(_) | Command::CheckConfig(_) => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("rblfleet-agent: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(&args).await,
            Command::CheckConfig(args) => check_config(&args).await,
            // Handled above, without starting a runtime.
            Command::Classify | Command::Scan(_) | Command::Completions { .. } | Command::Man { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rblfleet-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `classify`: stdin lines to JSON lines; a closed stdout (`| head`) is not an error.
fn classify_stdin() -> ExitCode {
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    match rblfleet_agent::bounce::classify_lines(stdin, stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rblfleet-agent classify: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `scan`: whole files to a summary on stdout; a closed stdout is not an error.
fn scan(args: &ScanArgs) -> anyhow::Result<()> {
    let users = match &args.passwd {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            UserMap::from_passwd(&text)
        }
        None => std::fs::read_to_string("/etc/passwd").map(|t| UserMap::from_passwd(&t)).unwrap_or_default(),
    };
    let options = ScanOptions { users, ..ScanOptions::default() };
    let top = args.top.unwrap_or(usize::MAX);
    let summary = rblfleet_agent::scan::scan_files(&args.files, options, top)?;
    let mut stdout = std::io::BufWriter::new(std::io::stdout().lock());
    let written = match args.format {
        Format::Json => render::json(&summary, &mut stdout),
        Format::Table => render::text(&summary, &mut stdout),
    }
    .and_then(|()| stdout.flush());
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing the summary"),
        _ => Ok(()),
    }
}

/// `man`: the top page to stdout, or one page per command into `dir`
/// (named by clap's display names: rblfleet-agent-check-config.1).
fn man(dir: Option<&Path>) -> anyhow::Result<()> {
    let command = <Cli as clap::CommandFactory>::command();
    let Some(dir) = dir else {
        return clap_mangen::Man::new(command).render(&mut std::io::stdout().lock()).context("writing the page");
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut command = command.disable_help_subcommand(true);
    command.build();
    let mut pending = std::collections::VecDeque::from([command]);
    while let Some(command) = pending.pop_front() {
        pending.extend(command.get_subcommands().filter(|c| !c.is_hide_set()).cloned());
        let page = clap_mangen::Man::new(command);
        let path = dir.join(page.get_filename());
        let mut file = std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        page.render(&mut file).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}

/// RBLFLEET_LOG like the controller; RUST_LOG still works.
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RBLFLEET_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

async fn run(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = load(&args.config)?;
    config.check_transport(args.insecure)?;
    if args.insecure {
        tracing::warn!(
            "--insecure: reports go to the controller UNENCRYPTED and UNAUTHENTICATED; \
             use this only for development against a loopback controller"
        );
    }
    let agent = Agent::open(config, RunOptions { insecure: args.insecure })
        .await
        .with_context(|| format!("starting with {}", args.config.display()))?;
    agent.run(shutdown_signal()).await;
    Ok(())
}

async fn check_config(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = load(&args.config)?;
    config.check_transport(args.insecure)?;
    let host_id = identity::resolve_host_id(&config, args.insecure)?;
    let source = if config.host_id.is_some() {
        "from host_id".to_string()
    } else {
        match &config.controller.cert {
            Some(cert) => format!("from certificate {}", cert.display()),
            None => "from config".to_string(),
        }
    };
    ControllerClient::connect(&config.controller, args.insecure)?;
    let server_name = config.controller.effective_server_name().map_err(anyhow::Error::msg)?;
    println!("config:      {} (ok)", args.config.display());
    println!("host id:     {host_id} ({source})");
    if args.insecure {
        println!("controller:  {} (PLAINTEXT, --insecure)", config.controller.url);
    } else {
        println!("controller:  {} (mutual TLS, verifying name {server_name:?})", config.controller.url);
    }
    println!("\n# effective settings\n{}", toml::to_string_pretty(&config)?);
    Ok(())
}

fn load(path: &Path) -> anyhow::Result<Config> {
    Ok(Config::load(path)?)
}

/// Completes on Ctrl-C or SIGTERM (systemd's stop signal).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}
