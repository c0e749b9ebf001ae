//! The simulated Plesk host whose Postfix lines the benchmarks read: one
//! [`Gen::minute`] writes a busy minute of it.

use std::fmt::Write as _;
use std::io::Write;

use rblfleet_agent::parse::civil_from_days;

use super::outbreak::Outbreak;

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const DOMAINS: [&str; 12] = [
    "gmail.com",
    "yahoo.com",
    "outlook.com",
    "hotmail.com",
    "web.de",
    "gmx.net",
    "orange.fr",
    "icloud.com",
    "aol.com",
    "t-online.de",
    "example.org",
    "example.net",
];
const LOCAL_DOMAINS: [&str; 6] =
    ["shop.example", "bakery.example", "lawyer.example", "club.example", "hotel.example", "agency.example"];
const SENT: &str = "250 2.0.0 OK  1767312000 a640c23a62f3a-ab67623e1basi1234567 - gsmtp";
const ZEN: &str = "554 5.7.1 Service unavailable; Client host [203.0.113.5] blocked using zen.spamhaus.org; \
                   https://www.spamhaus.org/query/ip/203.0.113.5 (in reply to RCPT TO command)";
const TSS04: &str = "421 4.7.0 [TSS04] Messages from 203.0.113.5 temporarily deferred due to unexpected volume or \
                     user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes (in reply to MAIL FROM command)";
const UNKNOWN_USER: &str =
    "550 5.1.1 The email account that you tried to reach does not exist. (in reply to RCPT TO command)";
const TIMEOUT: &str = "connect to mx.example.net[198.51.100.77]:25: Connection timed out";

/// Writes lines of one simulated host.
pub(crate) struct Gen {
    rng: fastrand::Rng,
    queue_id: u64,
    pid: u32,
    /// Seconds since the Unix epoch of the lines being written.
    pub(crate) now: i64,
    line: String,
    /// Set for a compromised host's log (`generate-outbreak`).
    pub(crate) outbreak: Option<Outbreak>,
    /// Remote delivery attempts written, and how many of them failed.
    pub(crate) attempts: u64,
    pub(crate) failed: u64,
}

impl Gen {
    pub(crate) fn new(seed: u64, now: i64) -> Gen {
        Gen {
            rng: fastrand::Rng::with_seed(seed),
            queue_id: 0x4A_0000_0000,
            pid: 1000,
            now,
            line: String::new(),
            outbreak: None,
            attempts: 0,
            failed: 0,
        }
    }

    /// A compromised host: a third of remote deliveries refused, in many wordings.
    pub(crate) fn outbreak(seed: u64, now: i64) -> Gen {
        Gen { outbreak: Some(Outbreak::default()), ..Gen::new(seed, now) }
    }

    fn qid(&mut self) -> String {
        self.queue_id += 1 + self.rng.u64(0..7);
        format!("{:X}", self.queue_id)
    }

    /// Starts a line: `Mon DD HH:MM:SS web01 program[pid]: `.
    fn head(&mut self, program: &str) {
        let days = self.now.div_euclid(86_400);
        let secs = self.now.rem_euclid(86_400);
        let (_, month, day) = civil_from_days(days);
        self.line.clear();
        let pid = self.pid + self.rng.u32(0..50);
        let _ = write!(
            self.line,
            "{} {:>2} {:02}:{:02}:{:02} web01 {program}[{pid}]: ",
            MONTHS[usize::try_from(month - 1).unwrap_or(0)],
            day,
            secs / 3600,
            secs % 3600 / 60,
            secs % 60
        );
    }

    fn emit(&mut self, out: &mut impl Write, program: &str, text: std::fmt::Arguments<'_>) -> std::io::Result<()> {
        self.head(program);
        let _ = self.line.write_fmt(text);
        self.line.push('\n');
        out.write_all(self.line.as_bytes())
    }

    fn ip(&mut self) -> String {
        format!("198.51.{}.{}", self.rng.u8(0..=255), self.rng.u8(1..=254))
    }

    fn remote_domain(&mut self) -> &'static str {
        DOMAINS[self.rng.usize(0..DOMAINS.len())]
    }

    /// One remote delivery attempt; true if it failed temporarily.
    fn deliver(&mut self, out: &mut impl Write, qid: &str, to: &str, fate: Fate) -> std::io::Result<bool> {
        let domain = to.rsplit('@').next().unwrap_or("example.org");
        self.attempts += 1;
        self.failed += u64::from(fate != Fate::Sent);
        if fate == Fate::Refused {
            return self.refuse(out, qid, to, domain);
        }
        let (dsn, status, reply) = match fate {
            Fate::Sent => ("2.0.0", "sent", SENT.to_string()),
            Fate::Unknown => ("5.1.1", "bounced", format!("host mx.{domain}[198.51.100.20] said: {UNKNOWN_USER}")),
            Fate::Listed => ("5.7.1", "bounced", format!("host mx.{domain}[198.51.100.21] said: {ZEN}")),
            Fate::Tss04 => ("4.7.0", "deferred", format!("host mta7.am0.yahoodns.net[98.136.96.74] said: {TSS04}")),
            Fate::Timeout | Fate::Refused => ("4.4.1", "deferred", TIMEOUT.to_string()),
        };
        let relay = if fate == Fate::Timeout { "none".to_string() } else { format!("mx.{domain}[198.51.100.30]:25") };
        self.emit(
            out,
            "postfix/smtp",
            format_args!(
                "{qid}: to=<{to}>, relay={relay}, delay=1.2, delays=0.1/0.01/0.6/0.5, dsn={dsn}, status={status} ({reply})"
            ),
        )?;
        Ok(matches!(fate, Fate::Timeout | Fate::Tss04))
    }

    /// A refused attempt in outbreak mode, from one of the host's sending IPs.
    fn refuse(&mut self, out: &mut impl Write, qid: &str, to: &str, domain: &str) -> std::io::Result<bool> {
        let ip = match self.rng.u8(0..8) {
            0 => format!("2001:db8:25::{:x}", self.rng.u8(2..10)),
            _ => format!("192.0.2.{}", self.rng.u8(10..18)),
        };
        let Some(outbreak) = self.outbreak.as_mut() else { return Ok(false) };
        let r = outbreak.refusal(&mut self.rng, domain, to, &ip);
        let status = if r.temporary { "deferred" } else { "bounced" };
        let delay = f64::from(self.rng.u32(2..90_000)) / 10.0;
        self.emit(
            out,
            "postfix/smtp",
            format_args!(
                "{qid}: to=<{to}>, relay={}, delay={delay}, delays=0.1/0.02/0.4/0.2, dsn={}, status={status} ({})",
                r.relay, r.dsn, r.text
            ),
        )?;
        Ok(r.temporary)
    }

    fn fate(&mut self) -> Fate {
        if self.outbreak.is_some() {
            return if self.rng.u32(0..3) == 0 { Fate::Refused } else { Fate::Sent };
        }
        match self.rng.u32(0..1000) {
            0..15 => Fate::Unknown,
            15..35 => Fate::Timeout,
            35..45 => Fate::Tss04,
            _ => Fate::Sent,
        }
    }

    /// An SMTP session: connect, TLS, the message's lines, disconnect.
    fn submission(&mut self, out: &mut impl Write, user: &str, client_ip: &str, fates: &[Fate]) -> std::io::Result<()> {
        let qid = self.qid();
        self.emit(out, "postfix/submission/smtpd", format_args!("connect from unknown[{client_ip}]"))?;
        self.emit(
            out,
            "postfix/submission/smtpd",
            format_args!("Anonymous TLS connection established from unknown[{client_ip}]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)"),
        )?;
        self.emit(
            out,
            "postfix/submission/smtpd",
            format_args!("{qid}: client=unknown[{client_ip}], sasl_method=LOGIN, sasl_username={user}"),
        )?;
        let msgid = self.rng.u64(..);
        self.emit(out, "postfix/cleanup", format_args!("{qid}: message-id=<{msgid:x}@{}>", domain_of(user)))?;
        let size = self.rng.u32(900..90_000);
        let nrcpt = fates.len();
        self.emit(
            out,
            "postfix/qmgr",
            format_args!("{qid}: from=<{user}>, size={size}, nrcpt={nrcpt} (queue active)"),
        )?;
        self.emit(
            out,
            "postfix/submission/smtpd",
            format_args!(
                "disconnect from unknown[{client_ip}] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8"
            ),
        )?;
        self.recipients(out, &qid, fates)
    }

    fn recipients(&mut self, out: &mut impl Write, qid: &str, fates: &[Fate]) -> std::io::Result<()> {
        let mut bounced = fates.iter().any(|f| matches!(f, Fate::Unknown | Fate::Listed));
        for &fate in fates {
            let to = format!("user{}@{}", self.rng.u32(0..100_000), self.remote_domain());
            let to = if fate == Fate::Tss04 { format!("user{}@yahoo.com", self.rng.u32(0..100_000)) } else { to };
            let mut deferred = self.deliver(out, qid, &to, fate)?;
            bounced |= fate == Fate::Refused && !deferred;
            // Quiet: the retry goes through. Outbreak: it may be refused
            // again, up to three attempts in the log.
            let mut tries = 1;
            while deferred && tries < 3 {
                self.now += 1;
                tries += 1;
                let retry = if self.outbreak.is_some() { self.fate() } else { Fate::Sent };
                deferred = self.deliver(out, qid, &to, retry)?;
                bounced |= retry == Fate::Refused && !deferred;
            }
        }
        if bounced {
            let bounce = self.qid();
            self.emit(out, "postfix/bounce", format_args!("{qid}: sender non-delivery notification: {bounce}"))?;
        }
        self.emit(out, "postfix/qmgr", format_args!("{qid}: removed"))
    }

    /// Mail from the Internet to a local mailbox.
    fn inbound(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        let qid = self.qid();
        let ip = self.ip();
        let local = LOCAL_DOMAINS[self.rng.usize(0..LOCAL_DOMAINS.len())];
        self.emit(out, "postfix/smtpd", format_args!("connect from mail-ej1-f41.google.com[{ip}]"))?;
        self.emit(out, "postfix/smtpd", format_args!("{qid}: client=mail-ej1-f41.google.com[{ip}]"))?;
        let msgid = self.rng.u64(..);
        self.emit(out, "postfix/cleanup", format_args!("{qid}: message-id=<CA+{msgid:x}@mail.gmail.com>"))?;
        self.emit(out, "/usr/lib/plesk-9.0/psa-pc-remote", format_args!("PASS during call 'spf' handler"))?;
        let someone = self.rng.u32(0..9999);
        self.emit(
            out,
            "postfix/qmgr",
            format_args!("{qid}: from=<someone{someone}@gmail.com>, size=5120, nrcpt=1 (queue active)"),
        )?;
        self.emit(
            out,
            "postfix/smtpd",
            format_args!("disconnect from mail-ej1-f41.google.com[{ip}] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5"),
        )?;
        self.emit(
            out,
            "postfix/pipe",
            format_args!("{qid}: to=<info@{local}>, relay=plesk_virtual, delay=0.3, delays=0.1/0/0/0.2, dsn=2.0.0, status=sent (delivered via plesk_virtual service)"),
        )?;
        self.emit(out, "postfix/qmgr", format_args!("{qid}: removed"))
    }

    /// PHP `mail()` or cron through pickup.
    fn pickup(&mut self, out: &mut impl Write, uid: u32, script: Option<&str>, fates: &[Fate]) -> std::io::Result<()> {
        let qid = self.qid();
        let user = format!("sys{uid}");
        self.emit(out, "postfix/pickup", format_args!("{qid}: uid={uid} from=<{user}>"))?;
        let msgid = self.rng.u64(..);
        self.emit(out, "postfix/cleanup", format_args!("{qid}: message-id=<{msgid:x}@web01.example>"))?;
        if let Some(script) = script {
            self.emit(
                out,
                "postfix/cleanup",
                format_args!("{qid}: warning: header X-PHP-Originating-Script: {uid}:{script} from local; from=<{user}@web01.example> to=<x@example.org>"),
            )?;
        }
        self.emit(
            out,
            "postfix/qmgr",
            format_args!("{qid}: from=<{user}@web01.example>, size=2048, nrcpt={} (queue active)", fates.len()),
        )?;
        self.recipients(out, &qid, fates)
    }

    /// Noise between messages: rejects, SASL failures, anvil.
    fn noise(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        let ip = self.ip();
        match self.rng.u32(0..3) {
            0 => self.emit(
                out,
                "postfix/smtpd",
                format_args!("NOQUEUE: reject: RCPT from unknown[{ip}]: 554 5.7.1 <x@shop.example>: Relay access denied; from=<spam@bad.example> to=<x@shop.example> proto=ESMTP helo=<bad>"),
            ),
            1 => self.emit(out, "postfix/smtpd", format_args!("warning: unknown[{ip}]: SASL LOGIN authentication failed: UGFzc3dvcmQ6")),
            _ => self.emit(out, "postfix/smtpd", format_args!("lost connection after AUTH from unknown[{ip}]")),
        }
    }

    /// One simulated minute of a busy host.
    pub(crate) fn minute(&mut self, out: &mut impl Write, minute: u64) -> std::io::Result<()> {
        for i in 0..40 {
            self.now += i % 2;
            // 1,800 mailboxes, each at its office address; one in ten
            // messages from a phone on a mobile network.
            let (n, d) = (self.rng.usize(0..300), self.rng.usize(0..LOCAL_DOMAINS.len()));
            let user = format!("user{n}@{}", LOCAL_DOMAINS[d]);
            let ip = if self.rng.u8(0..10) == 0 {
                format!("198.18.{}.{}", self.rng.u8(0..=255), self.rng.u8(1..=254))
            } else {
                format!("10.{d}.{}.{}", n / 250, 1 + n % 250)
            };
            let n = 1 + usize::from(self.rng.u8(0..3));
            let fates: Vec<Fate> = (0..n).map(|_| self.fate()).collect();
            self.submission(out, &user, &ip, &fates)?;
            self.inbound(out)?;
            if i % 4 == 0 {
                self.noise(out)?;
            }
            if i % 10 == 0 {
                let uid = 10_000 + self.rng.u32(0..40);
                let fate = self.fate();
                self.pickup(out, uid, Some("wp-includes/class-phpmailer.php"), &[fate])?;
            }
        }
        // The suspects, every minute of the first hours.
        if minute < 240 {
            let ip = format!("203.0.113.{}", self.rng.u8(1..=97));
            let fate = if self.rng.u32(0..10) < 4 { Fate::Listed } else { Fate::Sent };
            self.submission(out, "info@bakery.example", &ip, &[fate])?;
            let fate = match self.rng.u32(0..10) {
                0 | 1 => Fate::Unknown,
                2 => Fate::Tss04,
                _ => Fate::Sent,
            };
            self.pickup(out, 10_077, Some("wp-content/uploads/x.php"), &[fate])?;
        }
        for _ in 0..20 {
            let fate = match self.outbreak {
                Some(_) => self.fate(),
                None if self.rng.u32(0..200) == 0 => Fate::Unknown,
                None => Fate::Sent,
            };
            self.submission(out, "news@club.example", "192.0.2.200", &[fate])?;
        }
        if self.outbreak.is_some() {
            // The compromised mailbox: a spam run from ever new client IPs.
            for _ in 0..12 {
                let ip = format!("203.0.113.{}", self.rng.u8(1..=254));
                let n = 3 + self.rng.usize(0..4);
                let fates: Vec<Fate> = (0..n).map(|_| self.fate()).collect();
                self.submission(out, "office@lawyer.example", &ip, &fates)?;
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Sent,
    Unknown,
    Listed,
    Tss04,
    Timeout,
    /// Outbreak mode: a reply drawn from the refusal catalog.
    Refused,
}

fn domain_of(address: &str) -> &str {
    address.rsplit('@').next().unwrap_or(address)
}
