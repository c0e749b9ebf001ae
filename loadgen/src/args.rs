//! Command-line options.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::schedule::Load;

/// Simulates N rblfleet agents, each with its own certificate and mTLS
/// connection, and measures what the controller acknowledges and what it
/// costs. See loadgen/README.md for the command behind each figure.
#[derive(Debug, Clone, Parser)]
#[command(name = "rblfleet-loadgen", version)]
pub struct Args {
    /// Simulated agents (hosts), each with its own certificate and connection.
    #[arg(long, default_value_t = 100)]
    pub agents: usize,
    /// Each agent reports at this interval (±10% jitter, starts spread over one interval).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION", conflicts_with = "rate")]
    pub interval: Option<Duration>,
    /// Instead of --interval: R reports per second in total, spread evenly over the agents (open loop).
    #[arg(long, value_name = "R")]
    pub rate: Option<f64>,
    /// How long reports are generated.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub duration: Duration,
    /// After --duration, how long agents keep resending what is not acknowledged yet.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub drain: Duration,
    /// Seed of the simulated fleet (hosts, IPs, senders) and of the schedule.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The agents' spool epoch (default: the current Unix time, newer than any earlier run's).
    #[arg(long)]
    pub epoch: Option<u64>,

    /// The controller's agent API. Not needed with --spawn-controller.
    #[arg(long, value_name = "URL", required_unless_present = "spawn_controller")]
    pub controller: Option<String>,
    /// The name the controller's certificate must carry.
    #[arg(long, default_value = "localhost")]
    pub tls_name: String,
    /// CA directory with ca.crt and ca.key; agent certificates are issued
    /// into DIR/agents once and reused. With --spawn-controller a CA is
    /// created here if missing. Default: $TMPDIR/rblfleet-loadgen-pki.
    #[arg(long, value_name = "DIR")]
    pub pki: Option<PathBuf>,
    /// TLS handshakes in flight at once while the agents connect.
    #[arg(long, default_value_t = 64)]
    pub connect_concurrency: usize,
    /// Deadline of one report RPC.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub rpc_timeout: Duration,
    /// Backoff after a refusal without a retry hint: first ceiling...
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub retry_initial: Duration,
    /// ...and largest ceiling (the agent's defaults are 1s and 5m).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub retry_max: Duration,

    /// Sample the controller's RSS and data directory this often.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub sample_every: Duration,
    /// The controller's process id, for its RSS (set by --spawn-controller).
    #[arg(long, value_name = "PID")]
    pub controller_pid: Option<u32>,
    /// The controller's data directory, for its size (set by --spawn-controller).
    #[arg(long, value_name = "DIR", conflicts_with = "store_url")]
    pub data_dir: Option<PathBuf>,
    /// The controller's PostgreSQL database (`postgresql://USER@HOST:PORT/DB`,
    /// password in RBLFLEET_PG_PASSWORD): with --spawn-controller the
    /// controller stores there (`[store] backend = "postgres"`), and the
    /// size sampled is `pg_database_size` instead of a data directory's.
    #[arg(long, value_name = "URL")]
    pub store_url: Option<String>,

    /// Start `rblfleet serve` with a generated config on loopback and measure it.
    #[arg(long)]
    pub spawn_controller: bool,
    /// The rblfleet binary to spawn (default: next to this executable).
    #[arg(long, value_name = "FILE")]
    pub rblfleet_bin: Option<PathBuf>,
    /// Keep the spawned controller's config, log and data here (default: a temporary directory, removed).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Spawned controller: check blocklists against this resolver (IP:PORT); default: checks off.
    #[arg(long, value_name = "ADDR")]
    pub dnsbl_nameserver: Option<String>,
    /// Spawned controller: [retention] raw (for compressed-time runs).
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub retention_raw: Option<Duration>,
    /// Spawned controller: [retention] rollups.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub retention_rollups: Option<Duration>,
    /// Spawned controller: [retention] prune_every.
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub prune_every: Option<Duration>,
    /// Spawned controller: [store] cache_mib.
    #[arg(long, value_name = "MIB")]
    pub cache_mib: Option<u64>,
    /// Spawned controller: [store] max_pending_reports (the shedding threshold).
    #[arg(long, value_name = "N")]
    pub max_pending: Option<usize>,
    /// Spawned controller with --store-url: [store] pool_size.
    #[arg(long, value_name = "N")]
    pub pool_size: Option<usize>,

    /// Output: a table for people, or JSON for scripts.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write the timeline (one row per sample) as CSV.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
}

impl Args {
    /// The offered load; --interval 60s when neither is given.
    pub fn load(&self) -> Result<Load, String> {
        match (self.interval, self.rate) {
            (_, Some(rate)) if !(rate.is_finite() && rate > 0.0) => Err(format!("--rate {rate}: must be above 0")),
            (_, Some(per_second)) => Ok(Load::Rate { per_second }),
            (Some(every), None) if every.is_zero() => Err("--interval must be above 0".into()),
            (every, None) => Ok(Load::Interval { every: every.unwrap_or(Duration::from_secs(60)), jitter: 0.1 }),
        }
    }

    pub fn pki_dir(&self) -> PathBuf {
        self.pki.clone().unwrap_or_else(|| std::env::temp_dir().join("rblfleet-loadgen-pki"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("rblfleet-loadgen").chain(args.iter().copied()))
    }

    #[test]
    fn load_modes_and_their_errors() {
        let a = parse(&["--spawn-controller", "--agents", "200", "--rate", "1000", "--duration", "20s"]).unwrap();
        assert_eq!(a.load().unwrap(), Load::Rate { per_second: 1000.0 });
        assert_eq!(a.duration, Duration::from_secs(20));
        let a = parse(&["--controller", "https://127.0.0.1:7443", "--interval", "30s"]).unwrap();
        assert_eq!(a.load().unwrap(), Load::Interval { every: Duration::from_secs(30), jitter: 0.1 });
        let a = parse(&["--spawn-controller"]).unwrap();
        assert_eq!(a.load().unwrap(), Load::Interval { every: Duration::from_secs(60), jitter: 0.1 });
        assert!(parse(&["--spawn-controller", "--rate", "0"]).unwrap().load().unwrap_err().contains("--rate"));
        assert!(parse(&["--spawn-controller", "--rate", "5", "--interval", "1s"]).is_err(), "conflicting modes");
        let err = parse(&["--agents", "5"]).unwrap_err().to_string();
        assert!(err.contains("--controller"), "{err}");
    }
}
