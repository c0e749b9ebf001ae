//! The refusals a compromised host collects: every big receiver's listing
//! refusals, DNSBL rejects from customer MXes, and the ordinary bounces
//! (unknown users, full mailboxes, greylisting, timeouts) around them.
//!
//! Replies are templates in the receivers' documented wordings. `{…}` holes
//! are filled per message: the parts that vary between two refusals of the
//! same wording (our sending IP, the recipient, the receiver's tracking ids,
//! timestamps, queue ids) and the parts that vary between receivers' servers
//! (an MX or EOP node name, a Yahoo MTA, the DNSBL zone), which make distinct
//! wordings as a real log has them.

use std::collections::HashSet;
use std::fmt::Write as _;

/// Holes that vary from message to message (not part of a wording).
const VARYING: [&str; 9] = ["ip", "rcpt", "gid", "ms", "hex", "qid", "num", "ts", "mxip"];

/// Receivers' and filters' own server names, as they appear inside replies.
const EOP: [&str; 8] =
    ["AM4PEPF", "DB5EUR03FT", "BN8NAM12FT", "VI1EUR04FT", "HE1EUR02FT", "CO1NAM11FT", "SN1PEPF", "FR2P281MB"];
const EOP_REGION: [&str; 4] = ["eurprd04", "namprd12", "eurprd07", "deuprd01"];
const YAHOO_DC: [&str; 5] = ["bf1", "gq1", "ne1", "sg3", "ir2"];
const ZONES: [(&str, &str); 16] = [
    ("zen.spamhaus.org", "https://www.spamhaus.org/query/ip/{ip}"),
    ("sbl-xbl.spamhaus.org", "https://www.spamhaus.org/query/ip/{ip}"),
    ("b.barracudacentral.org", "https://www.barracudanetworks.com/reputation/?pr=1&ip={ip}"),
    ("bl.spamcop.net", "Blocked - see https://www.spamcop.net/bl.shtml?{ip}"),
    (
        "dnsbl-1.uceprotect.net",
        "IP {ip} is UCEPROTECT-Level1 listed. See https://www.uceprotect.net/rblcheck.php?ipr={ip}",
    ),
    ("dnsbl-2.uceprotect.net", "Net {ip}/24 is UCEPROTECT-Level2 listed because of spam from your network"),
    ("psbl.surriel.com", "Listed in PSBL, see https://psbl.org/listing?ip={ip}"),
    ("bl.mailspike.net", "Blocked - see https://mailspike.org/iplookup.html?ip={ip}"),
    ("ix.dnsbl.manitu.net", "Your e-mail service was detected by mx.customer.example (NiX Spam) as spamming at {ts}"),
    ("dnsbl.sorbs.net", "Currently Sending Spam See: http://www.sorbs.net/lookup.shtml?{ip}"),
    ("spam.spamrats.com", "SPAMRATS IP Addresses See: https://www.spamrats.com/lookup.php?ip={ip}"),
    ("combined.mail.abusix.zone", "Listed by Abusix Mail Intelligence, see https://lookup.abusix.com/search?q={ip}"),
    ("bl.blocklist.de", "Blocked by blocklist.de, see https://www.blocklist.de/en/view.html?ip={ip}"),
    ("dnsbl.dronebl.org", "see https://dronebl.org/lookup?ip={ip}"),
    ("all.s5h.net", "see http://s5h.net/rbl/?ip={ip}"),
    ("bl.0spam.org", "IP {ip} blocked, see https://0spam.org/"),
];

/// One receiver's refusals: (weight, template). `{srv}` is a server name of
/// that receiver, `{zone}`/`{why}` a DNSBL zone and its reason text.
type Catalog = &'static [(u32, &'static str)];

const GOOGLE: Catalog = &[
    (
        30,
        "550-5.7.1 [{ip}      12] Our system has detected an unusual rate of 550-5.7.1 unsolicited mail originating from your IP address. To protect our 550-5.7.1 users from spam, mail sent from your IP address has been blocked. 550-5.7.1 Please visit 550-5.7.1  https://support.google.com/mail/?p=UnsolicitedIPError 550 5.7.1  to review our Bulk Email Senders Guidelines. {gid} - gsmtp",
    ),
    (
        25,
        "421-4.7.0 [{ip}      15] Our system has detected that this message is 421-4.7.0 suspicious due to the very low reputation of the sending IP address. 421-4.7.0 To protect our users from spam, mail sent from your IP address has 421-4.7.0 been temporarily rate limited. Please visit 421-4.7.0  https://support.google.com/mail/?p=UnsolicitedRateLimitError to 421 4.7.0 review our Bulk Email Senders Guidelines. {gid} - gsmtp",
    ),
    (
        15,
        "550-5.7.1 [{ip}      12] Our system has detected that this message is 550-5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail, 550-5.7.1 this message has been blocked. Please visit 550-5.7.1  https://support.google.com/mail/?p=UnsolicitedMessageError 550 5.7.1  for more information. {gid} - gsmtp",
    ),
    (
        12,
        "550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. Learn more at 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser {gid} - gsmtp",
    ),
    (
        4,
        "452-4.2.2 The recipient's inbox is out of storage space. Please direct the 452-4.2.2 recipient to 452 4.2.2  https://support.google.com/mail/?p=OverQuotaTemp {gid} - gsmtp",
    ),
    (
        4,
        "450-4.2.1 The user you are trying to contact is receiving mail too quickly. Please resend your message at a later time. If the user is able to receive mail at that time, your message will be delivered. 450 4.2.1 https://support.google.com/mail/?p=ReceivingRate {gid} - gsmtp",
    ),
    (
        5,
        "421-4.7.26 This mail has been rate limited because it is unauthenticated. Gmail 421-4.7.26 requires all senders to authenticate with either SPF or DKIM. 421-4.7.26 Authentication results: DKIM = did not pass 421-4.7.26 SPF [bakery.example] with ip: [{ip}] = did not pass 421 4.7.26  https://support.google.com/mail/answer/81126#authentication {gid} - gsmtp",
    ),
    (
        3,
        "550-5.7.1 [{ip}] The IP you're using to send mail is not authorized to 550-5.7.1 send email directly to our servers. Please use the SMTP relay at your 550-5.7.1 service provider instead. Learn more at 550 5.7.1  https://support.google.com/mail/?p=NotAuthorizedError {gid} - gsmtp",
    ),
];

const MICROSOFT: Catalog = &[
    (
        30,
        "550 5.7.1 Unfortunately, messages from [{ip}] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. [{srv} {ts} {hex}]",
    ),
    (
        15,
        "550 5.7.1 Unfortunately, messages from [{ip}] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3140). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. [{srv} {ts} {hex}]",
    ),
    (
        15,
        "550 5.7.606 Access denied, banned sending IP [{ip}]. To request removal from this list please visit https://sender.office.com/ and follow the directions. For more information please go to  http://go.microsoft.com/fwlink/?LinkID=526655 AS(1430) [{srv} {ts} {hex}]",
    ),
    (
        10,
        "451 4.7.650 The mail server [{ip}] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775) [{srv} {ts} {hex}]",
    ),
    (
        5,
        "550 5.7.708 Access denied, traffic not accepted from this IP. For more information please go to http://go.microsoft.com/fwlink/?LinkId=526653 AS(7230) [{srv} {ts} {hex}]",
    ),
    (12, "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [{srv} {ts} {hex}]"),
    (5, "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [{srv} {ts} {hex}]"),
    (
        4,
        "452 4.2.2 The recipient's mailbox is full and can't accept messages now. Please try resending later, or contact the recipient directly. [{srv} {ts} {hex}]",
    ),
    (4, "421 4.7.0 Server busy. Please try again later from [{ip}]. (AS{num}) [{srv} {ts} {hex}]"),
];

const YAHOO: Catalog = &[
    (
        25,
        "421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    ),
    (
        15,
        "553 5.7.1 [BL21] Connections will not be accepted from {ip}, because the ip is in Spamhaus's list; see https://postmaster.yahooinc.com/error-codes",
    ),
    (
        8,
        "553 5.7.1 [BL23] Connections not accepted from IP addresses on Spamhaus XBL; see https://postmaster.yahooinc.com/error-codes",
    ),
    (
        8,
        "421 4.7.1 [TSS09] All messages from {ip} will be permanently deferred; Retrying will NOT succeed. See https://postmaster.yahooinc.com/error-codes",
    ),
    (6, "554 5.7.9 Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes"),
    (
        14,
        "554 delivery error: dd This user doesn't have a yahoo.com account ({rcpt}) [-5] - mta{srv}.mail.{dc}.yahoo.com",
    ),
    (
        5,
        "554 delivery error: dd Sorry, your message to {rcpt} cannot be delivered. This mailbox is disabled (554.30). - mta{srv}.mail.{dc}.yahoo.com",
    ),
    (4, "452 4.2.2 Mailbox quota exceeded for {rcpt} - mta{srv}.mail.{dc}.yahoo.com"),
];

const GMX: Catalog = &[
    (
        30,
        "554-{host} ({srv}) Nemesis ESMTP Service not available 554-No SMTP service 554-IP address is block listed. 554 For explanation visit https://postmaster.{host}/en/case?c=r0601&i=ip&v={ip}&r={hex}",
    ),
    (
        10,
        "554-{host} ({srv}) Nemesis ESMTP Service not available 554-No SMTP service 554-Bad DNS PTR resource record. 554 For explanation visit https://postmaster.{host}/en/case?c=r0601&i=ip&v={ip}&r={hex}",
    ),
    (15, "550 Requested action not taken: mailbox unavailable"),
    (6, "452 4.2.2 Mailbox full, please try again later"),
    (
        5,
        "421-{host} ({srv}) Nemesis ESMTP Service not available 421-Service unavailable 421-Reject due to policy restrictions. 421 For explanation visit https://postmaster.{host}/en/case?c=t0302&i=ip&v={ip}&r={hex}",
    ),
];

const TONLINE: Catalog = &[
    (
        30,
        "554 IP={ip} - A problem occurred. (Ask your postmaster for help or to contact tosa@rx.t-online.de to clarify.) (BL)",
    ),
    (
        10,
        "421 IP={ip} - Too many messages. (Ask your postmaster for help or to contact tosa@rx.t-online.de to clarify.) (RL)",
    ),
    (15, "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown"),
    (5, "452 4.2.2 <{rcpt}>: Mailbox quota exceeded"),
];

const ORANGE: Catalog = &[
    (
        25,
        "550 {srv} ME Adresse IP source bloquee pour incident de spam. Client host blocked for spamming issues. OFR006_102 Ref http://csi.cloudmark.com/reset-request/?ip={ip} [102]",
    ),
    (
        10,
        "421 {srv} ME Trop de connexions, veuillez verifier votre configuration. Too many connections, slow down. OFR005_104 [104]",
    ),
    (10, "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"),
    (5, "552 5.2.2 Boite du destinataire pleine. Recipient mailbox full. OFR_417 [417]"),
];

const APPLE: Catalog = &[
    (
        20,
        "554 5.7.1 [CS01] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137",
    ),
    (
        10,
        "550 5.7.1 Mail from IP {ip} was rejected due to listing in Spamhaus SBL. For details please see http://www.spamhaus.org/query/bl?ip={ip}",
    ),
    (8, "554 5.7.1 [HM08] Message rejected due to local policy. Please visit https://support.apple.com/en-us/HT204137"),
    (12, "550 5.1.1 <{rcpt}>: user does not exist"),
    (4, "552 5.2.2 <{rcpt}>: user is over quota"),
];

/// Customer domains behind their own Postfix, Exim, appliances or filters.
const CUSTOMER: Catalog = &[
    (30, "554 5.7.1 Service unavailable; Client host [{ip}] blocked using {zone}; {why}"),
    (10, "550 5.7.1 Rejected: {ip} listed at {zone}"),
    (8, "550-[{ip}] is in an RBL: {zone}, {why} 550 rejected RCPT <{rcpt}>"),
    (
        6,
        "554 5.7.1 Service unavailable; Client host [{ip}] blocked using Barracuda Reputation; https://www.barracudanetworks.com/reputation/?r=1&ip={ip}",
    ),
    (5, "554 Blocked - see https://ipcheck.proofpoint.com/?ip={ip}"),
    (
        4,
        "550 5.7.1 Service unavailable; Client host [{ip}] blocked using Trend Micro RBL+. Please see http://www.mail-abuse.com/cgi-bin/lookup?ip_address={ip}",
    ),
    (4, "554 Email rejected due to security policies - https://community.mimecast.com/docs/DOC-1369#554 [{hex}.{srv}]"),
    (
        4,
        "550 #5.7.1 Your access to submit messages to this e-mail system has been rejected. (IP {ip} listed by SenderBase, sbrs -4.3) ID:{hex}",
    ),
    (14, "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in virtual mailbox table"),
    (8, "550 5.1.1 <{rcpt}>: Recipient address rejected: User unknown in local recipient table"),
    (4, "550-Verification failed for <{rcpt}> 550-No Such User Here 550 Sender verify failed"),
    (4, "552 5.2.2 <{rcpt}>: Recipient address rejected: Mailbox full"),
    (
        8,
        "450 4.2.0 <{rcpt}>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/{domain}.html",
    ),
    (5, "451 4.7.1 <{rcpt}>: Recipient address rejected: Greylisting in action, please come back in {num} seconds"),
    (3, "450 4.7.1 Client host rejected: cannot find your reverse hostname, [{ip}]"),
    (3, "421 4.7.0 {srv} Error: too many connections from {ip}"),
];

/// Failures with no reply at all.
const NO_REPLY: [&str; 5] = [
    "connect to {mx}[{mxip}]:25: Connection timed out",
    "connect to {mx}[{mxip}]:25: Connection refused",
    "lost connection with {mx}[{mxip}] while receiving the initial server greeting",
    "conversation with {mx}[{mxip}] timed out while sending end of data -- message may be sent more than once",
    "Host or domain name not found. Name service error for name={domain} type=MX: Host not found, try again",
];

/// One refused delivery attempt, ready for a Postfix `smtp` line.
pub(crate) struct Refusal {
    pub(crate) dsn: String,
    pub(crate) temporary: bool,
    pub(crate) relay: String,
    /// The status text in parentheses: `host X[ip] said: …` or a no-reply text.
    pub(crate) text: String,
}

/// Draws refusals and remembers which wordings it used.
#[derive(Default)]
pub(crate) struct Outbreak {
    wordings: HashSet<String>,
    pub(crate) refusals: u64,
}

impl Outbreak {
    /// Distinct wordings written so far (replies with their varying parts blanked).
    pub(crate) fn wordings(&self) -> usize {
        self.wordings.len()
    }

    /// A refusal of mail to `rcpt` at `domain`, from our sending IP `ip`.
    pub(crate) fn refusal(&mut self, rng: &mut fastrand::Rng, domain: &str, rcpt: &str, ip: &str) -> Refusal {
        self.refusals += 1;
        let (mx, catalog, host) = match domain {
            "gmail.com" => ("gmail-smtp-in.l.google.com", GOOGLE, ""),
            "outlook.com" => ("outlook-com.olc.protection.outlook.com", MICROSOFT, ""),
            "hotmail.com" => ("hotmail-com.olc.protection.outlook.com", MICROSOFT, ""),
            "yahoo.com" => ("mta7.am0.yahoodns.net", YAHOO, ""),
            "aol.com" => ("mx-aol.mail.gm0.yahoodns.net", YAHOO, ""),
            "web.de" => ("mx-ha03.web.de", GMX, "web.de"),
            "gmx.net" => ("mx00.emig.gmx.net", GMX, "gmx.net"),
            "t-online.de" => ("mx00.t-online.de", TONLINE, ""),
            "orange.fr" => ("smtp-in.orange.fr", ORANGE, ""),
            "icloud.com" => ("mx01.mail.icloud.com", APPLE, ""),
            _ => ("mx.customer.example", CUSTOMER, ""),
        };
        let mxip = format!("198.51.100.{}", rng.u8(1..=254));
        // One in eight refusals is no reply at all.
        if rng.u8(0..8) == 0 {
            let template = NO_REPLY[rng.usize(0..NO_REPLY.len())];
            let text = self.fill(rng, template, &[("mx", mx), ("mxip", &mxip), ("domain", domain)]);
            return Refusal { dsn: "4.4.1".into(), temporary: true, relay: "none".into(), text };
        }
        let total: u32 = catalog.iter().map(|(w, _)| w).sum();
        let mut pick = rng.u32(0..total);
        let template = catalog
            .iter()
            .find_map(|&(weight, template)| {
                if pick < weight {
                    return Some(template);
                }
                pick -= weight;
                None
            })
            .unwrap_or(catalog[0].1);
        let srv = server_name(rng, catalog);
        let (zone, why) = ZONES[rng.usize(0..ZONES.len())];
        let dc = YAHOO_DC[rng.usize(0..YAHOO_DC.len())];
        let holes =
            [("ip", ip), ("rcpt", rcpt), ("srv", &srv), ("zone", zone), ("dc", dc), ("host", host), ("domain", domain)];
        // `why` has holes of its own.
        let template = template.replace("{why}", why);
        let reply = self.fill(rng, &template, &holes);
        let temporary = reply.starts_with('4');
        let dsn = enhanced(&reply).unwrap_or(if temporary { "4.0.0" } else { "5.0.0" }).to_string();
        let relay = format!("{mx}[{mxip}]:25");
        let command =
            if reply.contains("Nemesis") || reply.contains("IP=") { "initial greeting" } else { "RCPT TO command" };
        let text = if command == "initial greeting" {
            format!("host {mx}[{mxip}] refused to talk to me: {reply}")
        } else {
            format!("host {mx}[{mxip}] said: {reply} (in reply to {command})")
        };
        Refusal { dsn, temporary, relay, text }
    }

    /// Fills the holes of `template`: `named` values first, then generated
    /// ids; records the wording with the varying holes blanked.
    fn fill(&mut self, rng: &mut fastrand::Rng, template: &str, named: &[(&str, &str)]) -> String {
        let (mut out, mut wording) = (String::with_capacity(template.len() + 64), String::new());
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| open + c) else { break };
            out.push_str(&rest[..open]);
            wording.push_str(&rest[..open]);
            let name = &rest[open + 1..close];
            let value = match named.iter().find(|(n, _)| *n == name) {
                Some((_, v)) => (*v).to_string(),
                None => generated(rng, name),
            };
            if VARYING.contains(&name) {
                wording.push('#');
            } else {
                wording.push_str(&value);
            }
            out.push_str(&value);
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        wording.push_str(rest);
        self.wordings.insert(wording);
        out
    }
}

/// A receiver's server name, from a small pool per receiver (a real
/// receiver answers from a few dozen nodes, each name in its replies).
fn server_name(rng: &mut fastrand::Rng, catalog: Catalog) -> String {
    let n = rng.u32(0..24);
    if std::ptr::eq(catalog, MICROSOFT) {
        let node = EOP[n as usize % EOP.len()];
        let region = EOP_REGION[n as usize % EOP_REGION.len()];
        format!("{node}{:04X}.{region}.prod.protection.outlook.com", 0x27A5 + n * 97)
    } else if std::ptr::eq(catalog, GMX) {
        format!("mxgmx{:03}", 100 + n)
    } else if std::ptr::eq(catalog, ORANGE) {
        format!("mwinf5c{n:02}")
    } else if std::ptr::eq(catalog, CUSTOMER) {
        format!("eu-smtp-{}.mimecast.example", n % 4)
    } else {
        format!("{}", 1000 + n * 37)
    }
}

/// A value for a hole that varies per message.
fn generated(rng: &mut fastrand::Rng, name: &str) -> String {
    let mut s = String::new();
    let hex = |rng: &mut fastrand::Rng, s: &mut String, n: usize| {
        (0..n).for_each(|_| s.push(char::from(b"0123456789ABCDEF"[rng.usize(0..16)])));
    };
    match name {
        // Gmail's per-reply tracking id: `d75a77b69052e-3a0b9f0a1b2si1234567qtb.44`.
        "gid" => {
            hex(rng, &mut s, 13);
            s.make_ascii_lowercase();
            s.push('-');
            let _ = write!(s, "{:x}si{}", rng.u64(1 << 40..1 << 44), rng.u32(10_000..99_999_999));
            (0..3).for_each(|_| s.push(rng.lowercase()));
            let _ = write!(s, ".{}", rng.u16(1..400));
        }
        // Microsoft's timestamp and correlation id: `2026-03-03T09:14:22.231Z 08DC3B0A1F2E4D55`.
        "ts" => {
            let _ = write!(
                s,
                "2026-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
                rng.u8(1..=12),
                rng.u8(1..=28),
                rng.u8(0..24),
                rng.u8(0..60),
                rng.u8(0..60),
                rng.u16(0..1000)
            );
        }
        "hex" => {
            s.push_str("08DC");
            hex(rng, &mut s, 12);
        }
        "num" => {
            let _ = write!(s, "{}", rng.u32(30..900));
        }
        _ => s.push('?'),
    }
    s
}

/// The enhanced status code after the reply code, if any (`5.7.1`).
fn enhanced(reply: &str) -> Option<&str> {
    let rest = reply.get(4..)?;
    let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let code = &rest[..end];
    (code.matches('.').count() == 2).then_some(code)
}
