//! `--spawn-controller`: run `rblfleet serve` as a child process with a
//! generated configuration, so one command reproduces a figure.
//!
//! A separate process, not an in-process server: its RSS is then the
//! controller's alone, and the load generator's own CPU use is visible apart
//! from it in `top`.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process};

use crate::pki;

/// How to configure the spawned controller.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    /// The `rblfleet` binary.
    pub binary: PathBuf,
    /// The CA directory (`pki::ensure_ca(.., true)` has run).
    pub pki: PathBuf,
    /// Where the config, the log and the data directory go; a temporary
    /// directory (removed afterwards) when None.
    pub work_dir: Option<PathBuf>,
    /// Check blocklists against this resolver ("IP:PORT"); None: checks off.
    pub dnsbl_nameserver: Option<String>,
    /// `[retention]` raw, rollups and prune_every, when not the defaults.
    pub retention_raw: Option<Duration>,
    pub retention_rollups: Option<Duration>,
    pub prune_every: Option<Duration>,
    /// `[store] cache_mib`, when not the default.
    pub cache_mib: Option<u64>,
    /// `[store] max_pending_reports`, when not the default.
    pub max_pending: Option<usize>,
    /// `[store] backend = "postgres"` with this URL (the password reaches
    /// the controller as RBLFLEET_PG_PASSWORD in its environment).
    pub store_url: Option<String>,
    /// `[store] pool_size`, when not the default.
    pub pool_size: Option<usize>,
}

/// Why the controller could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error(
        "no controller binary at {0}: build it (`cargo build --release -p rblfleet-controller`) or pass --rblfleet-bin"
    )]
    NoBinary(PathBuf),
    #[error("{what} {path}: {cause}")]
    Io { what: &'static str, path: PathBuf, cause: std::io::Error },
    #[error("the controller exited during start-up ({status}); its log {log}:\n{tail}")]
    Exited { status: String, log: PathBuf, tail: String },
    #[error("the controller did not listen on {addr} within {secs} s; its log: {log}")]
    NotReady { addr: SocketAddr, secs: u64, log: PathBuf },
}

/// A running controller process; killed when dropped.
#[derive(Debug)]
pub struct Spawned {
    child: Child,
    pub pid: u32,
    pub agent_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    pub log: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl Spawned {
    pub fn agent_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.agent_addr.port())
    }

    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_addr.port())
    }

    /// SIGTERM and a wait (sled flushes on a clean shutdown), SIGKILL after 20 s.
    pub fn stop(mut self) -> Result<(), SpawnError> {
        let io = |cause| SpawnError::Io { what: "stopping the controller", path: self.config.clone(), cause };
        if let Some(pid) = i32::try_from(self.pid).ok().and_then(Pid::from_raw) {
            let _ = kill_process(pid, Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().map_err(io)?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill().map_err(io)?;
        self.child.wait().map_err(io)?;
        Ok(())
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Where `rblfleet` is by default: next to this executable.
pub fn default_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    exe.parent().unwrap_or(Path::new(".")).join("rblfleet")
}

/// Writes the config and starts `rblfleet serve`; returns once the agent API accepts connections.
pub fn start(options: &SpawnOptions) -> Result<Spawned, SpawnError> {
    if !options.binary.is_file() {
        return Err(SpawnError::NoBinary(options.binary.clone()));
    }
    let (temp, work) = match &options.work_dir {
        Some(dir) => (None, dir.clone()),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("rblfleet-loadgen-")
                .tempdir()
                .map_err(|cause| SpawnError::Io { what: "creating", path: std::env::temp_dir(), cause })?;
            let path = temp.path().to_path_buf();
            (Some(temp), path)
        }
    };
    std::fs::create_dir_all(&work).map_err(|cause| SpawnError::Io { what: "creating", path: work.clone(), cause })?;
    let agent_addr = free_port(&work)?;
    let admin_addr = free_port(&work)?;
    let data_dir = work.join("data");
    let config = work.join("controller.toml");
    let text = config_toml(options, &data_dir, agent_addr, admin_addr);
    std::fs::write(&config, text).map_err(|cause| SpawnError::Io { what: "writing", path: config.clone(), cause })?;
    let log = work.join("controller.log");
    let log_file = File::create(&log).map_err(|cause| SpawnError::Io { what: "creating", path: log.clone(), cause })?;
    let log_err = log_file.try_clone().map_err(|cause| SpawnError::Io { what: "opening", path: log.clone(), cause })?;
    let child = Command::new(&options.binary)
        .args(["serve", "--config"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .map_err(|cause| SpawnError::Io { what: "starting", path: options.binary.clone(), cause })?;
    let pid = child.id();
    let mut spawned = Spawned { child, pid, agent_addr, admin_addr, data_dir, config, log, _temp: temp };
    wait_ready(&mut spawned, Duration::from_secs(60))?;
    Ok(spawned)
}

/// The controller config: loopback ports, the CA's files, checks per options.
pub fn config_toml(options: &SpawnOptions, data_dir: &Path, agent: SocketAddr, admin: SocketAddr) -> String {
    let q = |p: &Path| format!("{:?}", p.display().to_string());
    let (cert, key) = pki::controller_files(&options.pki);
    let mut text = format!(
        "data_dir = {}\n\n[agent_api]\nlisten = \"{agent}\"\n\n[admin_api]\nlisten = \"{admin}\"\n\n\
         [tls]\nca = {}\ncert = {}\nkey = {}\n",
        q(data_dir),
        q(&options.pki.join("ca.crt")),
        q(&cert),
        q(&key),
    );
    // Metrics on a port of the system's choosing: runs side by side never collide.
    text.push_str("\n[metrics]\nlisten = \"127.0.0.1:0\"\n");
    if options.cache_mib.is_some()
        || options.max_pending.is_some()
        || options.store_url.is_some()
        || options.pool_size.is_some()
    {
        text.push_str("\n[store]\n");
    }
    if let Some(url) = &options.store_url {
        text.push_str(&format!("backend = \"postgres\"\nurl = {url:?}\n"));
    }
    if let Some(n) = options.pool_size {
        text.push_str(&format!("pool_size = {n}\n"));
    }
    if let Some(mib) = options.cache_mib {
        text.push_str(&format!("cache_mib = {mib}\n"));
    }
    if let Some(n) = options.max_pending {
        text.push_str(&format!("max_pending_reports = {n}\n"));
    }
    match &options.dnsbl_nameserver {
        Some(ns) => text.push_str(&format!("\n[dnsbl]\nenabled = true\nnameservers = [{ns:?}]\n")),
        None => text.push_str("\n[dnsbl]\nenabled = false\n"),
    }
    let retention =
        [("raw", options.retention_raw), ("rollups", options.retention_rollups), ("prune_every", options.prune_every)];
    if retention.iter().any(|(_, d)| d.is_some()) {
        text.push_str("\n[retention]\n");
        for (key, value) in retention {
            if let Some(d) = value {
                text.push_str(&format!("{key} = \"{}\"\n", humantime::format_duration(d)));
            }
        }
    }
    text
}

/// A free loopback port (bound, then released for the controller).
fn free_port(work: &Path) -> Result<SocketAddr, SpawnError> {
    let io = |cause| SpawnError::Io { what: "finding a free port for", path: work.to_path_buf(), cause };
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(io)?;
    listener.local_addr().map_err(io)
}

fn wait_ready(spawned: &mut Spawned, within: Duration) -> Result<(), SpawnError> {
    let deadline = Instant::now() + within;
    loop {
        if let Ok(Some(status)) = spawned.child.try_wait() {
            let text = std::fs::read_to_string(&spawned.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            let tail = tail.into_iter().rev().collect::<Vec<_>>().join("\n");
            return Err(SpawnError::Exited { status: status.to_string(), log: spawned.log.clone(), tail });
        }
        if TcpStream::connect_timeout(&spawned.agent_addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(SpawnError::NotReady {
                addr: spawned.agent_addr,
                secs: within.as_secs(),
                log: spawned.log.clone(),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use rblfleet_controller::config::Config;

    /// The generated config is one the controller accepts, with what was asked.
    #[test]
    fn generated_config_loads_in_the_controller() {
        let dir = tempfile::tempdir().unwrap();
        let pki_dir = dir.path().join("pki");
        pki::ensure_ca(&pki_dir, true).unwrap();
        let options = SpawnOptions {
            pki: pki_dir,
            retention_raw: Some(Duration::from_secs(600)),
            prune_every: Some(Duration::from_secs(30)),
            cache_mib: Some(32),
            max_pending: Some(64),
            ..SpawnOptions::default()
        };
        let (agent, admin) = ("127.0.0.1:17443".parse().unwrap(), "127.0.0.1:17444".parse().unwrap());
        let path = dir.path().join("c.toml");
        std::fs::write(&path, config_toml(&options, &dir.path().join("data"), agent, admin)).unwrap();
        let config = Config::load(&path, false).unwrap();
        assert_eq!((config.agent_api.listen, config.admin_api.listen), (agent, admin));
        assert!(!config.dnsbl.enabled);
        assert_eq!(config.retention.raw, Duration::from_secs(600));
        assert_eq!(config.retention.prune_every, Duration::from_secs(30));
        assert_eq!((config.store.cache_mib, config.store.max_pending_reports), (32, 64));

        let options = SpawnOptions {
            dnsbl_nameserver: Some("127.0.0.1:5353".into()),
            store_url: Some("postgresql://rblfleet@127.0.0.1:54329/bench".into()),
            pool_size: Some(16),
            ..options
        };
        std::fs::write(&path, config_toml(&options, &dir.path().join("data"), agent, admin)).unwrap();
        let config = Config::load(&path, false).unwrap();
        assert!(config.dnsbl.enabled);
        assert_eq!(config.dnsbl.nameservers, vec!["127.0.0.1:5353".to_string()]);
        assert_eq!(config.store.backend, rblfleet_controller::config::StoreBackend::Postgres);
        assert_eq!(config.store.url.as_deref(), Some("postgresql://rblfleet@127.0.0.1:54329/bench"));
        assert_eq!((config.store.pool_size, config.store.max_pending_reports), (16, 64));
    }

    #[test]
    fn a_missing_binary_is_explained() {
        let options = SpawnOptions { binary: PathBuf::from("/nonexistent/rblfleet"), ..SpawnOptions::default() };
        let err = start(&options).unwrap_err();
        assert!(err.to_string().contains("cargo build --release -p rblfleet-controller"), "{err}");
    }
}
