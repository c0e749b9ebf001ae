//! One load run: connect every agent, let them report on schedule, sample
//! the controller meanwhile, and sum up.

use rblfleet_shell::term::error_chain;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rblfleet_proto::v1::agent_service_client::AgentServiceClient;
use rblfleet_tests::generate::Fleet;
use serde::Serialize;
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::agent::{self, Shared};
use crate::pki;
use crate::sample::{self, Sample};
use crate::schedule::Load;
use crate::stats::{Counters, Latencies, Percentiles};

/// Everything a run needs besides the fleet.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// The controller's agent API, `https://127.0.0.1:7443`.
    pub url: String,
    /// The name the controller's certificate is checked against.
    pub tls_name: String,
    /// CA directory: `ca.crt` and `agents/HOST.{crt,key}` (see [`pki`]).
    pub pki: PathBuf,
    pub load: Load,
    pub duration: Duration,
    /// After `duration`, how long agents keep resending unacknowledged reports.
    pub drain: Duration,
    pub seed: u64,
    pub epoch: u64,
    /// TLS handshakes in flight at once while connecting.
    pub connect_concurrency: usize,
    /// Deadline of one report RPC.
    pub rpc_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub sample_every: Duration,
    pub controller_pid: Option<u32>,
    /// The controller's data, sampled for its size.
    pub data: Option<sample::DataSize>,
    /// Print connection progress on stderr.
    pub progress: bool,
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot read {path}: {cause}")]
    Read { path: PathBuf, cause: std::io::Error },
    #[error("agent {host}: cannot connect to {url}: {reason}")]
    Connect { host: String, url: String, reason: String },
    #[error("the fleet is empty: --agents must be at least 1")]
    NoAgents,
    /// Not `#[from]`: the message prints it, so it must be no error source.
    #[error("an agent task failed: {0}")]
    Task(tokio::task::JoinError),
}

impl From<tokio::task::JoinError> for RunError {
    fn from(cause: tokio::task::JoinError) -> Self {
        RunError::Task(cause)
    }
}

/// The figures of a run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub agents: usize,
    pub load: String,
    /// Reports per second offered by the schedule.
    pub offered_per_s: f64,
    pub duration_s: f64,
    /// Time to set up every agent's TLS connection (before the load started).
    pub connect_s: f64,
    pub generated: u64,
    pub acked: u64,
    /// Acks during the run (the drain excluded); `acks_per_s` is this over `duration_s`.
    pub acked_in_window: u64,
    pub acks_per_s: f64,
    pub duplicates: u64,
    pub rejected: u64,
    pub unacked: u64,
    pub retries: u64,
    pub errors: BTreeMap<String, u64>,
    /// From each report's due time to its ack: what an agent waits, queueing and retries included.
    pub latency_ms: Percentiles,
    /// One successful RPC, send to ack.
    pub rpc_latency_ms: Percentiles,
    pub timeline: Vec<Sample>,
    /// Problems sampling the controller (it exited, the directory vanished).
    pub warnings: Vec<String>,
}

impl Summary {
    /// True when every generated report was acknowledged and nothing failed.
    pub fn lossless(&self) -> bool {
        self.acked == self.generated && self.rejected == 0 && self.unacked == 0
    }
}

/// Connects one agent per host of `fleet` and runs the load.
pub async fn run(config: &LoadConfig, fleet: Arc<Fleet>) -> Result<Summary, RunError> {
    if fleet.is_empty() {
        return Err(RunError::NoAgents);
    }
    let connect_started = Instant::now();
    let clients = connect_all(config, &fleet).await?;
    let connect_s = connect_started.elapsed().as_secs_f64();

    let start = Instant::now() + Duration::from_millis(100);
    let start_wall_ms = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis())
        .unwrap_or(i64::MAX)
        + 100;
    let shared = Arc::new(Shared {
        fleet: fleet.clone(),
        counters: Counters::default(),
        load: config.load,
        seed: config.seed,
        epoch: config.epoch,
        start,
        start_wall_ms,
        duration: config.duration,
        drain: config.drain,
        backoff_initial: config.backoff_initial,
        backoff_max: config.backoff_max,
    });
    let (stop, stopped) = watch::channel(false);
    let sampler = tokio::spawn(sample_loop(shared.clone(), config.clone(), stopped));
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(index, client)| tokio::spawn(agent::run(shared.clone(), index, client)))
        .collect();
    let mut latencies = Latencies::default();
    let mut unacked = 0;
    for task in tasks {
        let outcome = task.await?;
        latencies.merge(outcome.latencies);
        unacked += outcome.unacked;
    }
    let _ = stop.send(true);
    let (timeline, warnings) = sampler.await?;

    let c = &shared.counters;
    let acked_in_window = Counters::get(&c.acked_in_window);
    Ok(Summary {
        agents: fleet.len(),
        load: config.load.describe(),
        offered_per_s: config.load.offered_per_second(fleet.len()),
        duration_s: config.duration.as_secs_f64(),
        connect_s,
        generated: Counters::get(&c.generated),
        acked: Counters::get(&c.acked),
        acked_in_window,
        acks_per_s: acked_in_window as f64 / config.duration.as_secs_f64().max(1e-9),
        duplicates: Counters::get(&c.duplicates),
        rejected: Counters::get(&c.rejected),
        unacked,
        retries: Counters::get(&c.retries),
        errors: c.errors(),
        latency_ms: Percentiles::of(&mut latencies.from_due),
        rpc_latency_ms: Percentiles::of(&mut latencies.rpc),
        timeline,
        warnings,
    })
}

/// One mTLS channel (one HTTP/2 connection) per agent, handshakes bounded.
async fn connect_all(config: &LoadConfig, fleet: &Fleet) -> Result<Vec<AgentServiceClient<Channel>>, RunError> {
    let read = |path: PathBuf| std::fs::read(&path).map_err(|cause| RunError::Read { path, cause });
    let ca = Certificate::from_pem(read(config.pki.join("ca.crt"))?);
    let gate = Arc::new(Semaphore::new(config.connect_concurrency.max(1)));
    let mut tasks = Vec::with_capacity(fleet.len());
    for index in 0..fleet.len() {
        let host = fleet.host_id(index).to_string();
        let (cert, key) = pki::agent_files(&config.pki, &host);
        let tls = ClientTlsConfig::new()
            .ca_certificate(ca.clone())
            .identity(Identity::from_pem(read(cert)?, read(key)?))
            .domain_name(config.tls_name.clone());
        let (url, gate, timeout) = (config.url.clone(), gate.clone(), config.rpc_timeout);
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await;
            let fail = |reason: String| RunError::Connect { host: host.clone(), url: url.clone(), reason };
            let endpoint = Endpoint::from_shared(url.clone())
                .and_then(|e| e.tls_config(tls))
                .map_err(|e| fail(error_chain(&e)))?
                .timeout(timeout)
                .connect_timeout(Duration::from_secs(30));
            let channel = endpoint.connect().await.map_err(|e| fail(error_chain(&e)))?;
            Ok::<_, RunError>(AgentServiceClient::new(channel))
        }));
    }
    let mut clients = Vec::with_capacity(tasks.len());
    for (done, task) in tasks.into_iter().enumerate() {
        clients.push(task.await??);
        if config.progress && (done + 1) % 1000 == 0 {
            eprintln!("  {} agents connected", done + 1);
        }
    }
    Ok(clients)
}

/// Samples counters and the controller every `sample_every` until stopped,
/// then once more.
async fn sample_loop(
    shared: Arc<Shared>,
    config: LoadConfig,
    mut stopped: watch::Receiver<bool>,
) -> (Vec<Sample>, Vec<String>) {
    let mut timeline = Vec::new();
    let mut warnings = Vec::new();
    let mut previous = (shared.start, 0u64);
    tokio::time::sleep_until(shared.start).await;
    loop {
        let sample = take_sample(&shared, &config, &mut previous, &mut warnings).await;
        timeline.push(sample);
        tokio::select! {
            _ = tokio::time::sleep(config.sample_every) => {}
            _ = stopped.wait_for(|s| *s) => break,
        }
    }
    timeline.push(take_sample(&shared, &config, &mut previous, &mut warnings).await);
    (timeline, warnings)
}

async fn take_sample(
    shared: &Shared,
    config: &LoadConfig,
    previous: &mut (Instant, u64),
    warnings: &mut Vec<String>,
) -> Sample {
    let c = &shared.counters;
    let now = Instant::now();
    let acked = Counters::get(&c.acked);
    let generated = Counters::get(&c.generated);
    let window = (now - previous.0).as_secs_f64();
    let acks_per_s = if window > 0.0 { (acked - previous.1) as f64 / window } else { 0.0 };
    *previous = (now, acked);
    let (pid, data) = (config.controller_pid, config.data.clone());
    let measured = tokio::task::spawn_blocking(move || (pid.map(sample::rss_kib), data.map(|d| d.bytes()))).await;
    let (rss, data) = measured.unwrap_or((None, None));
    let mut keep = |r: Option<Result<u64, sample::SampleError>>| match r {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            let text = e.to_string();
            if !warnings.contains(&text) {
                warnings.push(text);
            }
            None
        }
        None => None,
    };
    let rss_kib = keep(rss);
    let data_bytes = keep(data);
    Sample {
        t_s: (now.saturating_duration_since(shared.start)).as_secs_f64(),
        generated,
        acked,
        acks_per_s,
        backlog: generated.saturating_sub(acked + Counters::get(&c.rejected)),
        retries: Counters::get(&c.retries),
        errors: c.error_total(),
        rss_kib,
        data_bytes,
    }
}
