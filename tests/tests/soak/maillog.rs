//! A growing Postfix mail log that gets rotated, and a copy of every line
//! ever written to it, in order, for the offline `scan` to compare with.

use std::fmt::Write as _;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use rblfleet_agent::parse::civil_from_days;

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DOMAINS: [&str; 6] = ["gmail.com", "yahoo.com", "outlook.com", "web.de", "example.org", "example.net"];
const SENT: &str = "250 2.0.0 OK  1767312000 a640c23a62f3a-ab67623e1basi1234567 - gsmtp";
const ZEN: &str = "554 5.7.1 Service unavailable; Client host [203.0.113.10] blocked using zen.spamhaus.org; \
                   https://www.spamhaus.org/query/ip/203.0.113.10 (in reply to RCPT TO command)";
const UNKNOWN_USER: &str =
    "550 5.1.1 The email account that you tried to reach does not exist. (in reply to RCPT TO command)";
const TIMEOUT: &str = "connect to mx.example.net[198.51.100.77]:25: Connection timed out";

/// How logrotate moved the log aside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// `maillog` → `maillog.1`, a new empty `maillog` (logrotate's `create`).
    Rename,
    /// `maillog` copied to `maillog.1`, then truncated in place.
    CopyTruncate,
}

/// One host's mail log.
#[derive(Debug)]
pub struct MailLog {
    path: PathBuf,
    all: PathBuf,
    rng: fastrand::Rng,
    queue_id: u64,
    host: String,
    buf: String,
    lines: u64,
}

impl MailLog {
    /// Creates an empty `dir/maillog` (and the copy `dir/all-lines`).
    pub fn create(dir: &Path, host: &str, seed: u64) -> std::io::Result<MailLog> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("maillog");
        let all = dir.join("all-lines");
        std::fs::write(&path, "")?;
        std::fs::write(&all, "")?;
        let host = host.split('.').next().unwrap_or(host).to_string();
        let queue_id = 0x4A_0000_0000 + seed % 0x1000_0000;
        let rng = fastrand::Rng::with_seed(seed);
        Ok(MailLog { path, all, rng, queue_id, host, buf: String::new(), lines: 0 })
    }

    /// The log file the agent follows.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every line written so far, in order, across rotations.
    pub fn all_lines(&self) -> &Path {
        &self.all
    }

    /// Lines written so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Appends the lines of `messages` outgoing messages (and some noise)
    /// to the log and to the copy, each with one write of whole lines, as
    /// syslog does.
    pub fn append(&mut self, messages: usize) -> std::io::Result<()> {
        self.buf.clear();
        for _ in 0..messages {
            self.message();
        }
        for path in [&self.path, &self.all] {
            OpenOptions::new().append(true).open(path)?.write_all(self.buf.as_bytes())?;
        }
        Ok(())
    }

    /// Rotates the log; the previous `maillog.1` is overwritten (the caller
    /// made sure the agent had read it: see the follower's documented limit).
    pub fn rotate(&mut self, how: Rotation) -> std::io::Result<()> {
        let rotated = self.path.with_extension("1");
        match how {
            Rotation::Rename => {
                std::fs::rename(&self.path, &rotated)?;
                std::fs::write(&self.path, "")?;
            }
            Rotation::CopyTruncate => {
                std::fs::copy(&self.path, &rotated)?;
                OpenOptions::new().write(true).open(&self.path)?.set_len(0)?;
            }
        }
        Ok(())
    }

    /// One message from a PHP script through pickup, delivered to one or two
    /// remote recipients with a random fate.
    fn message(&mut self) {
        self.queue_id += 1 + self.rng.u64(0..7);
        let qid = format!("{:X}", self.queue_id);
        let uid = 10_000 + self.rng.u32(0..20);
        self.line("postfix/pickup", &format!("{qid}: uid={uid} from=<sys{uid}>"));
        let msgid = self.rng.u64(..);
        self.line("postfix/cleanup", &format!("{qid}: message-id=<{msgid:x}@{}.example>", self.host));
        let nrcpt = self.rng.usize(1..=2);
        let size = self.rng.u32(900..90_000);
        self.line(
            "postfix/qmgr",
            &format!("{qid}: from=<sys{uid}@{}.example>, size={size}, nrcpt={nrcpt} (queue active)", self.host),
        );
        for _ in 0..nrcpt {
            self.delivery(&qid);
        }
        if self.rng.u8(0..10) == 0 {
            self.line("postfix/anvil", "statistics: max connection rate 1/60s for (smtp:192.0.2.4) at Jun  3 10:40:57");
        }
        self.line("postfix/qmgr", &format!("{qid}: removed"));
    }

    fn delivery(&mut self, qid: &str) {
        let domain = DOMAINS[self.rng.usize(0..DOMAINS.len())];
        let to = format!("user{}@{domain}", self.rng.u32(0..100_000));
        let (dsn, status, reply) = match self.rng.u32(0..100) {
            0..8 => ("5.1.1", "bounced", format!("host mx.{domain}[198.51.100.20] said: {UNKNOWN_USER}")),
            8..14 => ("5.7.1", "bounced", format!("host mx.{domain}[198.51.100.21] said: {ZEN}")),
            14..22 => ("4.4.1", "deferred", TIMEOUT.to_string()),
            _ => ("2.0.0", "sent", SENT.to_string()),
        };
        let relay = if status == "deferred" { "none".to_string() } else { format!("mx.{domain}[198.51.100.30]:25") };
        self.line(
            "postfix/smtp",
            &format!(
                "{qid}: to=<{to}>, relay={relay}, delay=1.2, delays=0.1/0.01/0.6/0.5, dsn={dsn}, status={status} ({reply})"
            ),
        );
    }

    /// `Mon DD HH:MM:SS host program[pid]: text`, stamped now (UTC).
    fn line(&mut self, program: &str, text: &str) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
        let now = i64::try_from(now).unwrap_or(0);
        let (_, month, day) = civil_from_days(now.div_euclid(86_400));
        let secs = now.rem_euclid(86_400);
        let pid = 1000 + self.rng.u32(0..50);
        let _ = writeln!(
            self.buf,
            "{} {day:>2} {:02}:{:02}:{:02} {} {program}[{pid}]: {text}",
            MONTHS[usize::try_from(month).unwrap_or(1).saturating_sub(1) % 12],
            secs / 3600,
            secs % 3600 / 60,
            secs % 60,
            self.host,
        );
        self.lines += 1;
    }
}
