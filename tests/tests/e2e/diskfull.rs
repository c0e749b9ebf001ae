//! A controller whose disk fills: ingest is refused with a reason naming the
//! reserve (RESOURCE_EXHAUSTED with a retry hint), nothing stored changes,
//! the store still opens and verifies, and ingest resumes when space returns.
//!
//! The real full disk is a 16 MiB tmpfs mounted for the test. That needs
//! root; where mounting is impossible the test fails, unless
//! RBLFLEET_SKIP_MOUNT_TESTS=1 says to skip it (it prints why).

use std::path::{Path, PathBuf};
use std::process::Command;

use rblfleet_controller::daemon::build_catalog;
use rblfleet_controller::server::{self, RETRY_PUSHBACK_KEY, Running};
use rblfleet_controller::store::{Store, StoreOptions, verify_dir};
use rblfleet_proto::v1::agent_service_client::AgentServiceClient;
use rblfleet_tests::{Pki, controller_config, raw_agent_client, valid_report};
use tonic::Code;
use tonic::transport::Channel;

const HOST: &str = "web01.example";
const MIB: u64 = 1024 * 1024;

/// A controller whose store handle the test keeps, to move the reserve.
async fn start(pki: &Pki, data: &Path) -> (Store, Running) {
    let config = controller_config(pki, data, 0, false);
    let store = Store::open(data, &StoreOptions { cache_bytes: 4 * MIB, ..StoreOptions::default() }).unwrap();
    let catalog = build_catalog(&config).unwrap();
    let running = server::start(&config, store.clone(), None, catalog, false).await.unwrap();
    (store, running)
}

async fn agent(pki: &Pki, running: &Running) -> AgentServiceClient<Channel> {
    let (cert, key) = pki.agent(HOST);
    let url = format!("https://127.0.0.1:{}", running.agent_addr.port());
    raw_agent_client(&url, &pki.ca_cert(), Some((&cert, &key))).await.unwrap()
}

/// Asserts the refusal a full disk must produce and returns its message.
fn assert_disk_full(status: &tonic::Status) -> String {
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let message = status.message().to_string();
    assert!(message.contains("store.min_free_mib") || message.contains("no space left"), "{message}");
    assert!(status.metadata().get(RETRY_PUSHBACK_KEY).is_some(), "no retry hint: {status:?}");
    message
}

#[tokio::test]
async fn ingest_is_refused_below_the_reserve_and_resumes_when_it_is_met() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let data = tmp.path().join("data");
    let (store, running) = start(&pki, &data).await;
    let mut client = agent(&pki, &running).await;
    for seq in 1..=3 {
        client.report(valid_report(HOST, 1, seq)).await.unwrap();
    }
    let before = store.get_host(HOST).unwrap().unwrap().0;

    // More reserve than the disk has free: the disk is "full" for the controller.
    let free = store.space_status().unwrap().free_bytes;
    store.set_min_free(free + 1024 * MIB);
    let status = client.report(valid_report(HOST, 1, 4)).await.unwrap_err();
    let message = assert_disk_full(&status);
    assert!(message.contains(&data.display().to_string()), "the reason names the data directory: {message}");
    assert_eq!(store.get_host(HOST).unwrap().unwrap().0, before, "a refused report changed the store");
    assert_eq!(store.host_reports(HOST).unwrap().len(), 3);

    // Space "returns": the same report is accepted, nothing was lost.
    store.set_min_free(MIB);
    let ack = client.report(valid_report(HOST, 1, 4)).await.unwrap().into_inner();
    assert!(!ack.duplicate);
    let seqs: Vec<u64> = store.host_reports(HOST).unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    assert!(store.verify().unwrap().is_clean());
    running.shutdown().await.unwrap();
}

/// A tmpfs mounted on a temporary directory, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts `size_mib` of tmpfs, or explains why it cannot (and whether
    /// the caller may skip).
    fn mount(size_mib: u64) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(dir.path())
            .output();
        let why = match output {
            Ok(o) if o.status.success() => return Some(Tmpfs { dir }),
            Ok(o) => format!("`mount -t tmpfs` failed: {}", String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => format!("cannot run mount: {e}"),
        };
        if std::env::var("RBLFLEET_SKIP_MOUNT_TESTS").as_deref() == Ok("1") {
            eprintln!("SKIPPED the real full-disk test: {why} (RBLFLEET_SKIP_MOUNT_TESTS=1)");
            return None;
        }
        panic!(
            "the real full-disk test needs to mount a tmpfs (run as root): {why}. Set RBLFLEET_SKIP_MOUNT_TESTS=1 to skip it knowingly"
        );
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Fills the filesystem of `dir` until `leave` bytes are free (0: until
/// the OS refuses), returning the ballast file.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    use std::io::Write;
    let path = dir.join("ballast");
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
    let block = vec![0xA5u8; 64 * 1024];
    loop {
        let free = fs_free(dir);
        if free <= leave {
            break;
        }
        let n = (free - leave).min(block.len() as u64) as usize;
        if file.write_all(&block[..n]).is_err() {
            break;
        }
    }
    let _ = file.sync_all();
    path
}

fn fs_free(dir: &Path) -> u64 {
    let out = Command::new("df").args(["-B1", "--output=avail"]).arg(dir).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().nth(1).unwrap().trim().parse().unwrap()
}

#[tokio::test]
async fn a_really_full_disk_refuses_ingest_corrupts_nothing_and_recovers() {
    let Some(tmpfs) = Tmpfs::mount(16) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let data = tmpfs.path().join("data");
    let (store, running) = start(&pki, &data).await;
    store.set_min_free(4 * MIB);
    let mut client = agent(&pki, &running).await;
    let mut acked = Vec::new();
    for seq in 1..=5 {
        client.report(valid_report(HOST, 1, seq)).await.unwrap();
        acked.push(seq);
    }

    // Below the reserve: refused before sled writes anything.
    let ballast = fill(tmpfs.path(), 2 * MIB);
    let _ = store.space_status().unwrap(); // a fresh probe, not one cached before the ballast
    let status = client.report(valid_report(HOST, 1, 6)).await.unwrap_err();
    assert_disk_full(&status);
    assert_eq!(store.host_reports(HOST).unwrap().len(), 5);

    // Space returns: the agent's retry of the same report is accepted.
    std::fs::remove_file(&ballast).unwrap();
    let _ = store.space_status().unwrap();
    client.report(valid_report(HOST, 1, 6)).await.unwrap();
    acked.push(6);

    // No reserve at all: the OS itself runs out of space under sled. The
    // report is refused (never acknowledged).
    store.set_min_free(0);
    let ballast = fill(tmpfs.path(), 0);
    let mut refused = None;
    for seq in 7..=40 {
        let report = valid_report(HOST, 1, seq);
        match client.report(report.clone()).await {
            Ok(_) => acked.push(seq),
            Err(status) => {
                assert_disk_full(&status);
                refused = Some(report);
                break;
            }
        }
    }
    let refused = refused.expect("sled kept accepting reports on a full disk");
    // Space returns; the agent resends the very same report from its outbox.
    // sled refuses every write after the OS refused one (until the store is
    // reopened), so this is refused too; an acknowledgement here would have
    // to mean the report is on disk, which the restart below checks.
    std::fs::remove_file(&ballast).unwrap();
    let resend = client.report(refused.clone()).await;
    eprintln!("resend after space returned: {resend:?}");
    if resend.is_ok() {
        acked.push(refused.seq);
    }
    running.shutdown().await.unwrap();
    drop(store);

    // The store opens, passes its consistency check, and holds every
    // acknowledged report exactly once.
    let report = verify_dir(&data).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    let store = Store::open(&data, &StoreOptions::default()).unwrap();
    let seqs: Vec<u64> = store.host_reports(HOST).unwrap().iter().map(|r| r.seq).collect();
    for seq in &acked {
        assert!(seqs.contains(seq), "acknowledged report {seq} lost; stored {seqs:?}");
    }
    drop(store);

    // A controller restarted on the recovered disk takes reports again.
    let (store, running) = start(&pki, &data).await;
    store.set_min_free(4 * MIB);
    let mut client = agent(&pki, &running).await;
    let next = store.get_host(HOST).unwrap().unwrap().0.last_seq + 1;
    client.report(valid_report(HOST, 1, next)).await.unwrap();
    running.shutdown().await.unwrap();
}
