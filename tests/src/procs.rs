//! The real binaries as child processes, for tests that must kill them.
//!
//! An in-process controller cannot be `kill -9`ed without killing the test,
//! and a crash is exactly what the soak tests are about. These helpers find
//! the `rblfleet` and `rblfleet-agent` executables cargo built next to the
//! test binary, run them with their output in a log file, and make sure no
//! child outlives the test: [`Proc`] kills its process when dropped, also
//! while a failed assertion unwinds.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::Pki;

/// The executable `name` (e.g. "rblfleet"): `$env_var` when set, else the
/// one cargo built in the target directory of the running test
/// (`target/debug/deps/soak-HASH` → `target/debug/rblfleet`).
///
/// Integration tests of this crate get no `CARGO_BIN_EXE_*` for other
/// packages' binaries; `cargo test --workspace` builds them anyway (their
/// packages have integration tests), a targeted `cargo test -p` does not.
pub fn binary(name: &str, env_var: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os(env_var) {
        let path = PathBuf::from(path);
        if !path.is_file() {
            bail!("{env_var}={} is not a file", path.display());
        }
        return Ok(path);
    }
    let exe = std::env::current_exe().context("cannot locate the running test binary")?;
    let mut dir = exe.parent().context("the test binary has no directory")?;
    if dir.file_name() == Some(OsStr::new("deps")) {
        dir = dir.parent().context("target/*/deps has no parent")?;
    }
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.is_file() {
        bail!(
            "{} not found: this test runs the real `{name}` binary; build it first with \
             `cargo build --workspace --bins` (or set {env_var} to its path)",
            path.display()
        );
    }
    warn_if_older(&path, &exe);
    Ok(path)
}

/// A targeted `cargo test -p rblfleet-tests` rebuilds the test, not the
/// binaries: a binary older than the test may predate the code under test.
/// Only a warning, since one `cargo test --workspace` links both in any order.
fn warn_if_older(bin: &Path, test: &Path) {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let (Some(bin_time), Some(test_time)) = (modified(bin), modified(test))
        && let Ok(age) = test_time.duration_since(bin_time)
        && age > Duration::from_secs(60)
    {
        eprintln!(
            "warning: {} is {}s older than this test binary; if its code changed since, run \
             `cargo build --workspace --bins`",
            bin.display(),
            age.as_secs()
        );
    }
}

/// A port on 127.0.0.1 that was free a moment ago. A process restarted on
/// the same port must know it in advance, so port 0 will not do.
pub fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free port on 127.0.0.1")
}

/// A child process whose stdout and stderr are appended to a log file.
/// Dropping it kills the process (SIGKILL) and reaps it.
#[derive(Debug)]
pub struct Proc {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    /// Starts `program args`, appending its output to `log`.
    pub fn spawn<S: AsRef<OsStr>>(name: &str, program: &Path, args: &[S], log: &Path) -> anyhow::Result<Proc> {
        let open = || -> std::io::Result<File> { OpenOptions::new().create(true).append(true).open(log) };
        let out = open().with_context(|| format!("cannot open {}", log.display()))?;
        let err = open().with_context(|| format!("cannot open {}", log.display()))?;
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("cannot start {name} ({})", program.display()))?;
        Ok(Proc { name: name.to_string(), child: Some(child), log: log.to_path_buf() })
    }

    /// The process id, while the process is ours.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The exit status if the process has ended (without waiting).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGKILL, then reap: the process is gone when this returns.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            // An error means it already exited; wait() reaps it either way.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM and wait up to `grace` for a clean exit; SIGKILL after that.
    pub fn terminate(&mut self, grace: Duration) -> anyhow::Result<ExitStatus> {
        let Some(child) = self.child.as_mut() else { bail!("{} is not running", self.name) };
        let status =
            Command::new("kill").args(["-TERM", &child.id().to_string()]).status().context("cannot run kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {} ({}) failed: {status}", child.id(), self.name);
        }
        let start = Instant::now();
        while start.elapsed() < grace {
            if let Some(status) = child.try_wait().context("waiting for the child")? {
                self.child = None;
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
        bail!("{} did not stop within {grace:?} of SIGTERM; killed it\n{}", self.name, self.log_tail(20))
    }

    /// The last `n` lines of the process's log.
    pub fn log_tail(&self, n: usize) -> String {
        log_tail(&self.log, n)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The last `n` lines of a log file, for failure messages.
pub fn log_tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    format!("--- last lines of {} ---\n{}", path.display(), lines[lines.len().saturating_sub(n)..].join("\n"))
}

/// Copies `dir` to /tmp/soak-failures/LABEL-UNIXMS for a post-mortem and
/// returns where it went.
pub fn preserve(dir: &Path, label: &str) -> anyhow::Result<PathBuf> {
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
    let dest = std::env::temp_dir().join("soak-failures").join(format!("{label}-{stamp}"));
    copy_dir(dir, &dest).with_context(|| format!("copying {} to {}", dir.display(), dest.display()))?;
    Ok(dest)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// `rblfleet serve` as a child process on fixed loopback ports, so that it
/// can be killed and restarted on the same data directory and addresses.
/// Blocklist checks and the metrics listener are off.
#[derive(Debug)]
pub struct ControllerProc {
    bin: PathBuf,
    config: PathBuf,
    pub data_dir: PathBuf,
    pub agent_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    log: PathBuf,
    proc: Option<Proc>,
}

impl ControllerProc {
    /// Writes the configuration under `dir` (data in `dir/data`, log in
    /// `dir/controller.log`); does not start anything yet.
    pub fn new(pki: &Pki, dir: &Path) -> anyhow::Result<ControllerProc> {
        let bin = binary("rblfleet", "RBLFLEET_BIN")?;
        std::fs::create_dir_all(dir)?;
        let data_dir = dir.join("data");
        let agent_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let admin_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let config = dir.join("controller.toml");
        let toml = format!(
            "data_dir = {data:?}\n\
             [agent_api]\nlisten = \"{agent_addr}\"\n\
             [admin_api]\nlisten = \"{admin_addr}\"\n\
             [tls]\nca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\n\
             [store]\ncache_mib = 16\n\
             [dnsbl]\nenabled = false\n\
             [metrics]\nenabled = false\n",
            data = data_dir.display().to_string(),
            ca = pki.ca_cert().display().to_string(),
            cert = pki.dir.join("controller.crt").display().to_string(),
            key = pki.dir.join("controller.key").display().to_string(),
        );
        std::fs::write(&config, toml).with_context(|| format!("writing {}", config.display()))?;
        Ok(ControllerProc {
            bin,
            config,
            data_dir,
            agent_addr,
            admin_addr,
            log: dir.join("controller.log"),
            proc: None,
        })
    }

    /// Starts the controller and waits until both APIs accept connections
    /// (the store is open by then). Returns how long that took. If it exits
    /// instead, the error holds its last log lines.
    pub async fn start(&mut self, deadline: Duration) -> anyhow::Result<Duration> {
        if self.proc.is_some() {
            bail!("the controller is already running");
        }
        let args = [OsStr::new("serve"), OsStr::new("--config"), self.config.as_os_str()];
        let mut proc = Proc::spawn("rblfleet serve", &self.bin, &args, &self.log)?;
        let start = Instant::now();
        loop {
            if let Some(status) = proc.exited() {
                bail!("rblfleet serve exited during start-up ({status})\n{}", proc.log_tail(30));
            }
            if connects(self.agent_addr) && connects(self.admin_addr) {
                self.proc = Some(proc);
                return Ok(start.elapsed());
            }
            if start.elapsed() > deadline {
                bail!("rblfleet serve did not listen within {deadline:?}\n{}", proc.log_tail(30));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGKILL: no shutdown code runs, like a power cut for the process.
    pub fn kill9(&mut self) {
        if let Some(mut proc) = self.proc.take() {
            proc.kill9();
        }
    }

    /// SIGTERM (a clean shutdown, which must succeed) and wait for the exit.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut proc) = self.proc.take() else { bail!("the controller is not running") };
        let status = proc.terminate(Duration::from_secs(30))?;
        if !status.success() {
            bail!("rblfleet serve exited with {status} on SIGTERM\n{}", proc.log_tail(30));
        }
        Ok(())
    }

    /// `rblfleet verify --data-dir DATA` (the store's consistency check,
    /// offline, so only while the controller is down). Err holds its output.
    pub fn verify(&self) -> anyhow::Result<()> {
        if self.proc.is_some() {
            bail!("verify needs the controller stopped (it holds the store)");
        }
        let out = Command::new(&self.bin)
            .args([OsStr::new("verify"), OsStr::new("--data-dir"), self.data_dir.as_os_str()])
            .output()
            .context("cannot run rblfleet verify")?;
        if !out.status.success() {
            bail!(
                "rblfleet verify --data-dir {}: {}\n{}{}",
                self.data_dir.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// Whether the process is still alive (it may have crashed on its own).
    pub fn running(&mut self) -> bool {
        self.proc.as_mut().is_some_and(|p| p.exited().is_none())
    }

    pub fn agent_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.agent_addr.port())
    }

    pub fn admin_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_addr.port())
    }

    /// The last lines of the controller's log (all its runs).
    pub fn log_tail(&self, n: usize) -> String {
        log_tail(&self.log, n)
    }

    /// Runs an `rblfleet` client command against it (in this process) and
    /// returns stdout.
    pub async fn cli(&self, args: &[&str]) -> anyhow::Result<String> {
        let mut argv: Vec<String> = vec!["rblfleet".into()];
        argv.extend(args.iter().map(|a| a.to_string()));
        argv.extend(["--controller".to_string(), self.admin_url()]);
        let mut out = Vec::new();
        rblfleet_controller::cli::run_args(argv, &mut out).await?;
        Ok(String::from_utf8(out)?)
    }
}

fn connects(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}
