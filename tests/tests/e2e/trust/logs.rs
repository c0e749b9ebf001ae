//! The two mail logs of the trust test, as Postfix writes them: a healthy
//! host whose bounces are all ordinary (no listing among them), and a
//! spamming host refused by blocklists. Each bounce shape is a real reply
//! wording; the counts are returned so the test can hold the controller to
//! them.

use std::fmt::Write as _;
use std::path::Path;

use rblfleet_agent::parse::civil_from_days;

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const SENT: &str = "250 2.0.0 OK  1767312000 a640c23a62f3a-ab67623e1basi1234567 - gsmtp";

/// One kind of delivery outcome: recipient domain, relay, dsn, status and
/// the reply (`{to}` is replaced by the recipient; `relay` "none" for no
/// connection).
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    domain: &'static str,
    /// Recipient local part; numbered (`user17`) when empty.
    local: &'static str,
    relay: &'static str,
    dsn: &'static str,
    status: &'static str,
    reply: &'static str,
}

const T_ONLINE: &str = "mx00.t-online.de[194.25.134.8]";
const GMAIL: &str = "gmail-smtp-in.l.google.com[142.250.27.26]";
const OUTLOOK: &str = "outlook-com.olc.protection.outlook.com[52.101.68.0]";
const YAHOO: &str = "mta7.am0.yahoodns.net[98.136.96.74]";
const GMX: &str = "mx00.emig.gmx.net[212.227.15.9]";
const BARRACUDA: &str = "mx.customer.example.barracudanetworks.com[198.51.100.9]";

/// Ordinary bounces, none of them a listing, at the big receivers, a
/// Barracuda-filtered customer and list operators' own mailboxes.
pub const HEALTHY: &[Shape] = &[
    Shape {
        domain: "t-online.de",
        local: "",
        relay: T_ONLINE,
        dsn: "5.1.1",
        status: "bounced",
        reply: "host mx00.t-online.de[194.25.134.8] said: 550 5.1.1 <{to}>: Recipient address rejected: User unknown (in reply to RCPT TO command)",
    },
    Shape {
        domain: "t-online.de",
        local: "",
        relay: T_ONLINE,
        dsn: "5.2.2",
        status: "bounced",
        reply: "host mx00.t-online.de[194.25.134.8] said: 552 5.2.2 <{to}>: Mailbox full (in reply to RCPT TO command)",
    },
    Shape {
        domain: "t-online.de",
        local: "",
        relay: "none",
        dsn: "4.4.1",
        status: "deferred",
        reply: "connect to mx00.t-online.de[194.25.134.8]:25: Connection timed out",
    },
    Shape {
        domain: "gmail.com",
        local: "",
        relay: GMAIL,
        dsn: "5.1.1",
        status: "bounced",
        reply: "host gmail-smtp-in.l.google.com[142.250.27.26] said: 550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. For more information, go to 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a640c23a62f3a-ab67623e1basi1234567 - gsmtp (in reply to RCPT TO command)",
    },
    Shape {
        domain: "gmail.com",
        local: "",
        relay: GMAIL,
        dsn: "4.2.2",
        status: "deferred",
        reply: "host gmail-smtp-in.l.google.com[142.250.27.26] said: 452-4.2.2 The recipient's inbox is out of storage space. Please direct the 452-4.2.2 recipient to 452 4.2.2  https://support.google.com/mail/?p=OverQuotaTemp a640c23a62f3a-ab67623e1basi1234567 - gsmtp (in reply to RCPT TO command)",
    },
    Shape {
        domain: "outlook.com",
        local: "",
        relay: OUTLOOK,
        dsn: "5.5.0",
        status: "bounced",
        reply: "host outlook-com.olc.protection.outlook.com[52.101.68.0] said: 550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302) [AM0PR02MB1234.eurprd02.prod.outlook.com] (in reply to RCPT TO command)",
    },
    Shape {
        domain: "hotmail.com",
        local: "",
        relay: OUTLOOK,
        dsn: "5.2.2",
        status: "bounced",
        reply: "host outlook-com.olc.protection.outlook.com[52.101.68.0] said: 552 5.2.2 STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuotaExceeded; Failed to process message due to a permanent exception with message [BeginDiagnosticData]Cannot open mailbox. (in reply to end of DATA command)",
    },
    Shape {
        domain: "yahoo.com",
        local: "",
        relay: YAHOO,
        dsn: "5.0.0",
        status: "bounced",
        reply: "host mta7.am0.yahoodns.net[98.136.96.74] said: 554 delivery error: dd This user doesn't have a yahoo.com account ({to}) [0] - mta4012.mail.gq1.yahoo.com (in reply to end of DATA command)",
    },
    Shape {
        domain: "gmx.net",
        local: "",
        relay: GMX,
        dsn: "4.7.1",
        status: "deferred",
        reply: "host mx00.emig.gmx.net[212.227.15.9] said: 450 4.7.1 <{to}>: Recipient address rejected: Greylisted, please try again later (in reply to RCPT TO command)",
    },
    Shape {
        domain: "gmx.net",
        local: "",
        relay: GMX,
        dsn: "5.0.0",
        status: "bounced",
        reply: "host mx00.emig.gmx.net[212.227.15.9] said: 550 Requested action not taken: mailbox unavailable (in reply to RCPT TO command)",
    },
    Shape {
        domain: "customer.example",
        local: "",
        relay: BARRACUDA,
        dsn: "5.1.1",
        status: "bounced",
        reply: "host mx.customer.example.barracudanetworks.com[198.51.100.9] said: 550 5.1.1 <{to}>: Recipient address rejected: User unknown (in reply to RCPT TO command)",
    },
    Shape {
        domain: "spamhaus.example",
        local: "abuse",
        relay: "mx.spamhaus.example[198.51.100.40]",
        dsn: "5.1.1",
        status: "bounced",
        reply: "host mx.spamhaus.example[198.51.100.40] said: 550 5.1.1 <{to}>: Recipient address rejected: User unknown in local recipient table (in reply to RCPT TO command)",
    },
    Shape {
        domain: "spamcop.example",
        local: "spamcop",
        relay: "mx.spamcop.example[198.51.100.41]",
        dsn: "5.2.2",
        status: "bounced",
        reply: "host mx.spamcop.example[198.51.100.41] said: 552 5.2.2 <{to}>: Mailbox full, quota exceeded (in reply to RCPT TO command)",
    },
];

/// Refusals that say the sending IP (203.0.113.66) is listed: the shapes
/// the agent's own spam generators use, and T-Online's and Microsoft's.
pub const SPAM: &[Shape] = &[
    Shape {
        domain: "outlook.com",
        local: "",
        relay: OUTLOOK,
        dsn: "5.7.1",
        status: "bounced",
        reply: "host outlook-com.olc.protection.outlook.com[52.101.68.0] said: 550 5.7.1 Unfortunately, messages from [203.0.113.66] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. [AM0PR02MB1234.eurprd02.prod.outlook.com] (in reply to MAIL FROM command)",
    },
    Shape {
        domain: "t-online.de",
        local: "",
        relay: T_ONLINE,
        dsn: "5.7.1",
        status: "bounced",
        reply: "host mx00.t-online.de[194.25.134.8] said: 554 IP=203.0.113.66 - A problem occurred. (Ask your postmaster for help or to contact tosa@rx.t-online.de to clarify.) (BL) (in reply to MAIL FROM command)",
    },
    Shape {
        domain: "yahoo.com",
        local: "",
        relay: YAHOO,
        dsn: "4.7.0",
        status: "deferred",
        reply: "host mta7.am0.yahoodns.net[98.136.96.74] said: 421 4.7.0 [TSS04] Messages from 203.0.113.66 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes (in reply to MAIL FROM command)",
    },
    Shape {
        domain: "example.net",
        local: "",
        relay: "mx.example.net[198.51.100.21]",
        dsn: "5.7.1",
        status: "bounced",
        reply: "host mx.example.net[198.51.100.21] said: 554 5.7.1 Service unavailable; Client host [203.0.113.66] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/203.0.113.66 (in reply to RCPT TO command)",
    },
];

impl Shape {
    /// Postfix's `status=`: sent, deferred or bounced.
    pub fn status(&self) -> &'static str {
        self.status
    }
}

/// The reply of `shape` to recipient `to`, as the log shows it.
fn reply(shape: &Shape, to: &str) -> String {
    shape.reply.replace("{to}", to)
}

/// Writes a Postfix log to `path`: `per_shape` messages for each of `shapes`
/// and `sent` delivered ones, interleaved, one recipient each, sent by PHP
/// scripts of two system users. Stamped now (UTC).
pub fn write(path: &Path, host: &str, shapes: &[Shape], per_shape: usize, sent: usize) -> std::io::Result<()> {
    let mut log = Log { host, out: String::new(), queue_id: 0x5B_0000_0000, n: 0 };
    let total = shapes.len() * per_shape + sent;
    for i in 0..total {
        // Shapes in turn, a delivered message after each round.
        let round = shapes.len() + 1;
        let shape = shapes.get(i % round).filter(|_| i / round < per_shape);
        log.message(shape);
    }
    std::fs::write(path, log.out)
}

struct Log<'a> {
    host: &'a str,
    out: String,
    queue_id: u64,
    n: u32,
}

impl Log<'_> {
    fn message(&mut self, shape: Option<&Shape>) {
        self.queue_id += 3;
        self.n += 1;
        let qid = format!("{:X}", self.queue_id);
        let uid = 10_000 + self.n % 2;
        let domain = shape.map_or("example.org", |s| s.domain);
        let local = match shape.map(|s| s.local) {
            Some(l) if !l.is_empty() => l.to_string(),
            _ => format!("user{}", self.n),
        };
        let to = format!("{local}@{domain}");
        self.line("postfix/pickup", &format!("{qid}: uid={uid} from=<sys{uid}>"));
        self.line("postfix/cleanup", &format!("{qid}: message-id=<{:x}.{}@{}>", self.queue_id, self.n, self.host));
        self.line("postfix/qmgr", &format!("{qid}: from=<sys{uid}@{}>, size=4321, nrcpt=1 (queue active)", self.host));
        let (relay, dsn, status, reply) = match shape {
            Some(s) => (s.relay.to_string(), s.dsn, s.status, reply(s, &to)),
            None => (format!("mx.{domain}[198.51.100.30]:25"), "2.0.0", "sent", SENT.to_string()),
        };
        let relay = if relay == "none" || relay.ends_with(":25") { relay } else { format!("{relay}:25") };
        self.line(
            "postfix/smtp",
            &format!(
                "{qid}: to=<{to}>, relay={relay}, delay=1.2, delays=0.1/0.01/0.6/0.5, dsn={dsn}, status={status} ({reply})"
            ),
        );
        if status == "bounced" {
            self.line("postfix/bounce", &format!("{qid}: sender non-delivery notification: {:X}", self.queue_id + 1));
        }
        if status != "deferred" {
            self.line("postfix/qmgr", &format!("{qid}: removed"));
        }
    }

    /// `Mon DD HH:MM:SS host program[pid]: text`, stamped now (UTC).
    fn line(&mut self, program: &str, text: &str) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let now = i64::try_from(now).unwrap();
        let (_, month, day) = civil_from_days(now.div_euclid(86_400));
        let secs = now.rem_euclid(86_400);
        let short = self.host.split('.').next().unwrap_or(self.host);
        let _ = writeln!(
            self.out,
            "{} {day:>2} {:02}:{:02}:{:02} {short} {program}[{}]: {text}",
            MONTHS[usize::try_from(month - 1).unwrap()],
            secs / 3600,
            secs % 3600 / 60,
            secs % 60,
            1000 + self.n % 50,
        );
    }
}
