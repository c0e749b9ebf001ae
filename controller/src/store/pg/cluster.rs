//! A throwaway PostgreSQL cluster for tests: `initdb` in a temporary
//! directory, `pg_ctl start` on a free 127.0.0.1 port (Unix sockets in the
//! same directory), one fresh database per test, and everything stopped and
//! removed when the last test holding the cluster drops it.
//!
//! The server binaries come from the distribution's package (Debian keeps
//! them under `/usr/lib/postgresql/<major>/bin`; `RBLFLEET_PG_BIN` points
//! elsewhere). `initdb` and `postgres` refuse to run as root, and tests and
//! CI here run as root: the cluster then runs as an unprivileged user
//! (`postgres` when the package created it, else `nobody`) through
//! `runuser`, the standard util-linux way for root to run a command as
//! another user, with the temporary directory handed to that user.
//!
//! Where none of this works the tests do not fail and do not pass in
//! silence: [`TestDb::create_or_skip`] prints `WARNING: PostgreSQL not
//! available (why); skipping <test>` straight to the terminal (past the test
//! harness's output capture) and the test returns.
//!
//! Durability settings are the server's defaults (fsync on): the store's
//! tests check what an acknowledged write means, so they run on a server
//! configured as in production.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The superuser `initdb` creates; the tests connect as it (trust
/// authentication, on loopback and the private socket directory only).
const SUPERUSER: &str = "rblfleet";

/// How many times a start is retried when the probed free port was taken
/// in between (another test process).
const START_ATTEMPTS: u32 = 3;

/// A running cluster. Stopped (`pg_ctl stop -m fast`) and deleted on drop.
#[derive(Debug)]
pub(crate) struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    run_as: Option<String>,
    port: u16,
}

/// One fresh database on the shared cluster; the cluster lives while any
/// test holds one.
#[derive(Debug)]
pub struct TestDb {
    cluster: Arc<Cluster>,
    pub url: String,
}

/// The cluster the running tests share, if one is up.
static SHARED: Mutex<Weak<Cluster>> = Mutex::new(Weak::new());
static NEXT_DB: AtomicU32 = AtomicU32::new(1);
/// Why the cluster could not start, once known: the other tests skip at
/// once instead of failing the same way again.
static UNAVAILABLE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

impl TestDb {
    /// A new empty database, or `None` after printing the WARNING that
    /// names `test` as skipped.
    pub fn create_or_skip(test: &str) -> Option<TestDb> {
        match TestDb::create() {
            Ok(db) => Some(db),
            Err(why) => {
                // Straight to the file descriptor: `eprintln!` would be
                // captured, and a passing test's output is never shown.
                let _ = writeln!(std::io::stderr(), "WARNING: PostgreSQL not available ({why}); skipping {test}");
                None
            }
        }
    }

    fn create() -> Result<TestDb, String> {
        let cluster = {
            let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
            match shared.upgrade() {
                Some(cluster) => cluster,
                None => {
                    if let Some(why) = UNAVAILABLE.get() {
                        return Err(why.clone());
                    }
                    let cluster = Arc::new(Cluster::start().inspect_err(|why| {
                        let _ = UNAVAILABLE.set(why.clone());
                    })?);
                    *shared = Arc::downgrade(&cluster);
                    cluster
                }
            }
        };
        let name = format!("t{}_{}", std::process::id(), NEXT_DB.fetch_add(1, Ordering::Relaxed));
        let out = Command::new(cluster.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &cluster.port.to_string(), "-U", SUPERUSER, &name])
            .output()
            .map_err(|e| format!("cannot run createdb: {e}"))?;
        if !out.status.success() {
            return Err(format!("createdb failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        let url = format!("postgresql://{SUPERUSER}@127.0.0.1:{}/{name}", cluster.port);
        Ok(TestDb { cluster, url })
    }

    /// Options for `Store::open_postgres` on this database.
    pub fn options(&self) -> crate::store::PgOptions {
        crate::store::PgOptions { url: self.url.clone(), pool_size: 2, password: None }
    }

    /// The server's client programs (pg_dump, pg_restore, pg_amcheck…),
    /// for tests that check what the store tells operators to run.
    pub fn bin(&self) -> &Path {
        &self.cluster.bin
    }

    /// The cluster's port (for tests that connect by other means).
    pub fn port(&self) -> u16 {
        self.cluster.port
    }
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        let bin = server_bin().ok_or("no initdb under /usr/lib/postgresql/*/bin and RBLFLEET_PG_BIN is not set")?;
        let run_as = if running_as_root() { Some(unprivileged_user()?) } else { None };
        let dir = tempfile::Builder::new().prefix("rblfleet-pg-").tempdir().map_err(|e| format!("temp dir: {e}"))?;
        if let Some(user) = &run_as {
            hand_over(dir.path(), user)?;
        }
        let data = dir.path().join("data");
        let mut initdb = command(&bin, "initdb", run_as.as_deref());
        initdb.arg("-D").arg(&data).args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C"]);
        run(initdb, "initdb")?;
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port()?;
            let options = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=200",
                dir.path().display()
            );
            let mut start = command(&bin, "pg_ctl", run_as.as_deref());
            start.arg("-D").arg(&data).arg("-l").arg(dir.path().join("server.log"));
            start.args(["-w", "-t", "60", "-o", &options, "start"]);
            match run(start, "pg_ctl start") {
                Ok(()) => return Ok(Cluster { dir, bin, run_as, port }),
                Err(e) => last = e,
            }
        }
        let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
        Err(format!("{last}; server log: {}", log.trim()))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut stop = command(&self.bin, "pg_ctl", self.run_as.as_deref());
        stop.arg("-D").arg(self.dir.path().join("data")).args(["-w", "-m", "fast", "stop"]);
        if let Err(e) = run(stop, "pg_ctl stop") {
            let _ = writeln!(std::io::stderr(), "WARNING: the test PostgreSQL did not stop: {e}");
        }
    }
}

/// `RBLFLEET_PG_BIN`, else the newest `/usr/lib/postgresql/<major>/bin`
/// that has `initdb`.
fn server_bin() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("RBLFLEET_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").is_file())
        .collect();
    majors.sort();
    majors.pop().map(|(_, bin)| bin)
}

/// The owner of `/proc/self` is the process's effective user.
fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn unprivileged_user() -> Result<String, String> {
    ["postgres", "nobody"]
        .into_iter()
        .find(|u| Command::new("id").arg("-u").arg(u).output().is_ok_and(|o| o.status.success()))
        .map(String::from)
        .ok_or_else(|| "running as root and neither a postgres nor a nobody user exists for initdb".into())
}

/// Gives `dir` to `user`: the server writes its data, log and socket there.
fn hand_over(dir: &Path, user: &str) -> Result<(), String> {
    let mut chown = Command::new("chown");
    chown.arg(format!("{user}:")).arg(dir);
    run(chown, "chown")
}

fn command(bin: &Path, tool: &str, run_as: Option<&str>) -> Command {
    match run_as {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(bin.join(tool));
            c
        }
        None => Command::new(bin.join(tool)),
    }
}

fn run(mut command: Command, what: &str) -> Result<(), String> {
    let out = command.output().map_err(|e| format!("cannot run {what}: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if text.is_empty() {
        text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    }
    Err(format!("{what} failed ({}): {text}", out.status))
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| format!("no free port: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness itself: two databases on one cluster, both reachable,
    /// and the cluster's directory gone once the last one is dropped.
    #[test]
    fn databases_share_a_cluster_that_goes_away_after_the_last() {
        let Some(a) = TestDb::create_or_skip("store::pg::cluster::tests::databases_share_a_cluster") else { return };
        let Some(b) = TestDb::create_or_skip("store::pg::cluster::tests::databases_share_a_cluster") else { return };
        assert_ne!(a.url, b.url);
        let ready = |db: &TestDb| {
            Command::new(db.cluster.bin.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &db.port().to_string()])
                .status()
                .is_ok_and(|s| s.success())
        };
        assert!(ready(&a));
        let dir = a.cluster.dir.path().to_path_buf();
        let port = a.port();
        drop(a);
        drop(b);
        // Another test may still hold the shared cluster; only check the
        // removal when this test held the last reference.
        if SHARED.lock().unwrap_or_else(|p| p.into_inner()).upgrade().is_none() {
            assert!(!dir.exists(), "{} was not removed", dir.display());
            assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the server still listens");
        }
    }
}
