//! What the agent reads on this host besides the logs: the queue tool, the
//! passwd file that maps users to Plesk subscriptions, and its own outbox.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use rblfleet_proto::v1::{HostReport, MtaKind};

use super::Check;
use crate::attribution::passwd::{UserMap, VHOSTS_DIR};
use crate::collect::queue::{self, MtaSetting, QueueConfig};
use crate::config::OutboxConfig;
use crate::store::outbox::{Outbox, OutboxError};

/// A waiting report older than this means reports do not get through.
const STALE_MS: i64 = 3_600_000;

/// The queue collector the agent would use, run once.
pub fn queue(config: &QueueConfig) -> Check {
    const NAME: &str = "queue";
    let (mta, collector) = queue::detect(config);
    let Some(mut collector) = collector else {
        return if config.mta == MtaSetting::None {
            Check::ok(NAME, "not reported (queue.mta = \"none\")")
        } else {
            Check::warning(
                NAME,
                format!(
                    "no MTA found: no {} in PATH or the sbin directories, no {}",
                    config.postqueue.display(),
                    config.qmail_qstat.display()
                ),
                "set queue.mta and the tool's path (queue.postqueue, queue.qmail_qstat), or queue.mta = \"none\"",
            )
        };
    };
    let mta = mta_name(mta);
    let mut report = HostReport::default();
    match collector.collect(&mut report) {
        Ok(()) => {
            let total = report.queue.as_ref().map_or(0, |q| q.total);
            Check::ok(NAME, format!("{mta}: the queue tool runs ({total} messages queued)"))
        }
        Err(e) if report.queue.is_some() => Check::warning(
            NAME,
            format!("{mta}: partial: {e}"),
            "fix the queue tool's path or permissions (queue.postqueue, queue.qmail_qstat); the counts lack senders",
        ),
        Err(e) => Check::failure(
            NAME,
            format!("{mta}: {e}"),
            "install the MTA's queue tool or correct its path (queue.postqueue, queue.qmail_qstat, queue.mailenable_root)",
        ),
    }
}

fn mta_name(mta: MtaKind) -> &'static str {
    match mta {
        MtaKind::Postfix => "Postfix",
        MtaKind::Qmail => "qmail",
        MtaKind::Mailenable => "MailEnable",
        _ => "no MTA",
    }
}

/// The passwd file and how many of its users map to a subscription.
pub fn passwd(path: &Path) -> Check {
    const NAME: &str = "passwd";
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            return Check::warning(
                NAME,
                format!("cannot read {}: {e}; PHP and local mail are not tied to subscriptions", path.display()),
                "correct sources.passwd (default /etc/passwd)",
            );
        }
    };
    let users = UserMap::from_passwd(&text);
    let uids: Vec<u32> = text.lines().filter_map(|l| l.split(':').nth(2)?.parse().ok()).collect();
    let subscriptions = uids.iter().filter(|uid| users.subscription(**uid).is_some()).count();
    let detail = format!("{}: {} users, {subscriptions} with a Plesk subscription home", path.display(), users.len());
    if subscriptions == 0 && Path::new(VHOSTS_DIR).is_dir() {
        Check::warning(
            NAME,
            format!("{detail}, yet {VHOSTS_DIR} exists"),
            "point sources.passwd at the file holding the subscriptions' users (NSS or a chroot copy?)",
        )
    } else {
        Check::ok(NAME, detail)
    }
}

/// The outbox: how many reports wait, and since when. The running agent
/// holds its lock; then only that is said (the agent reports the figures).
pub fn outbox(config: &OutboxConfig) -> Check {
    const NAME: &str = "outbox";
    let dir = &config.dir;
    if !dir.join("db").is_file() {
        return Check::ok(NAME, format!("{}: none yet (the agent creates it at its first report)", dir.display()));
    }
    if let Some(why) = foreign_owner(&dir.join("db")) {
        return Check::warning(
            NAME,
            format!("{}: not read: {why}", dir.display()),
            "run the doctor as the agent's user: sudo -u rblfleet-agent rblfleet-agent doctor",
        );
    }
    let outbox = match Outbox::open(dir, config.max_reports) {
        Ok(outbox) => outbox,
        Err(OutboxError::Locked { .. }) => {
            return Check::ok(NAME, format!("{}: in use by the running agent", dir.display()));
        }
        Err(e) => {
            return Check::failure(
                NAME,
                e.to_string(),
                "stop the agent, move the directory aside, start it again (a new epoch; waiting reports are lost)",
            );
        }
    };
    let waiting = outbox.len();
    let oldest = outbox.peek_oldest().ok().flatten().map(|r| r.period_end_ms);
    let dropped = outbox.dropped().unwrap_or(0);
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let age = oldest.map(|t| (now - t).max(0));
    let mut detail = format!("{}: {waiting} reports waiting (at most {})", dir.display(), config.max_reports);
    if let Some(age) = age {
        detail.push_str(&format!(
            ", oldest from {} ago",
            humantime::format_duration(std::time::Duration::from_secs((age / 1000) as u64))
        ));
    }
    if dropped > 0 {
        detail.push_str(&format!(", {dropped} dropped because it was full"));
    }
    let fix = "make the controller row pass; the agent then sends what waits, oldest first";
    if waiting >= config.max_reports.saturating_mul(9) / 10 {
        Check::failure(NAME, format!("{detail}: nearly full, the oldest reports are being dropped"), fix)
    } else if age.is_some_and(|a| a > STALE_MS) || dropped > 0 {
        Check::warning(NAME, format!("{detail}: reports are not getting through"), fix)
    } else {
        Check::ok(NAME, detail)
    }
}

/// Why opening the outbox as this user could harm it: sled writes on open,
/// and files it creates as root would lock the agent's own user out.
#[cfg(unix)]
fn foreign_owner(db: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's user (Linux; elsewhere the check is skipped).
    let me = std::fs::metadata("/proc/self").ok()?.uid();
    let owner = std::fs::metadata(db).ok()?.uid();
    (me != owner).then(|| {
        format!("it belongs to uid {owner}, this is uid {me}; opening it could leave files the agent cannot write")
    })
}

#[cfg(not(unix))]
fn foreign_owner(_db: &Path) -> Option<String> {
    None
}
