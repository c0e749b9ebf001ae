//! qmail as Plesk ships it.
//!
//! qmail-send logs through splogger (`qmail: 1591785771.138809 starting
//! delivery …`) or multilog (`@4000000061… delivery 5: …`); the stamp inside
//! the message is more precise than syslog's and carries the year, so it wins.
//! Line shapes (qmail-send.c, qsutil.c):
//! - `new msg M`, `status: local l/L remote r/R` (ignored)
//! - `info msg M: bytes B from <S> qp P uid U`
//! - `starting delivery D: msg M to remote|local R`
//! - `delivery D: success|failure|deferral: REPORT` (REPORT escaped: `\n` → `/`,
//!   space and other unprintables → `_`)
//! - `bounce msg M qp P`, `end msg M`
//!
//! Plesk adds `qmail-remote-handlers[pid]: from=…` / `to=…` and
//! `smtp_auth: SMTP user U : logged in from name [ip]`.

use super::Outcome;
use super::event::{DeliveryStatus, EnvelopeField, Event};
use super::line::LogLine;
use super::time::parse_qmail_stamp;
use super::util::{leading_number, parse_ip};

/// Parses one line from a qmail program (or a bare splogger/multilog line,
/// passed with program `qmail`).
pub fn parse(line: &LogLine, out: &mut Vec<Event>) -> Outcome {
    let program = line.program.rsplit('/').next().unwrap_or(line.program);
    match program {
        "qmail" | "qmail-send" => send(line, out),
        "qmail-remote-handlers" | "qmail-local-handlers" => handler(line, program == "qmail-remote-handlers", out),
        "smtp_auth" => smtp_auth(line, out),
        "qmail-queue-handlers" | "relaylock" | "qmail-smtpd" | "qmail-remote" | "qmail-local" | "splogger" => {
            Outcome::Ignored
        }
        _ => Outcome::Unknown,
    }
}

fn send(line: &LogLine, out: &mut Vec<Event>) -> Outcome {
    let (ts_ms, msg) =
        match parse_qmail_stamp(line.message).and_then(|(ms, used)| Some((ms, line.message.get(used..)?))) {
            Some((ms, rest)) => (Some(ms), rest),
            None => (line.ts_ms, line.message),
        };
    if let Some(rest) = msg.strip_prefix("info msg ") {
        return info(rest, ts_ms, out).unwrap_or(Outcome::Unknown);
    }
    if let Some(rest) = msg.strip_prefix("starting delivery ") {
        return start(rest, ts_ms, out).unwrap_or(Outcome::Unknown);
    }
    if let Some(rest) = msg.strip_prefix("delivery ") {
        return delivery(rest, ts_ms, out).unwrap_or(Outcome::Unknown);
    }
    if let Some(rest) = msg.strip_prefix("end msg ") {
        let Some((msg, _)) = leading_number(rest) else { return Outcome::Unknown };
        out.push(Event::QmailEnd { ts_ms, msg });
        return Outcome::Parsed;
    }
    if let Some(rest) = msg.strip_prefix("bounce msg ") {
        let Some((msg, after)) = leading_number(rest) else { return Outcome::Unknown };
        let qp = after.strip_prefix(" qp ").and_then(leading_number).map_or(0, |(qp, _)| qp);
        out.push(Event::QmailBounce { ts_ms, msg, qp });
        return Outcome::Parsed;
    }
    const QUIET: &[&str] = &[
        "new msg ",
        "status: ",
        "triple bounce: ",
        "rblsmtpd: ",
        "alert: ",
        "warning: ",
        "running",
        "exiting",
        "cannot ",
        "unable to ",
    ];
    if QUIET.iter().any(|p| msg.starts_with(p)) { Outcome::Ignored } else { Outcome::Unknown }
}

/// `M: bytes B from <S> qp P uid U`
fn info(rest: &str, ts_ms: Option<i64>, out: &mut Vec<Event>) -> Option<Outcome> {
    let (msg, rest) = leading_number(rest)?;
    let (bytes, rest) = leading_number(rest.strip_prefix(": bytes ")?)?;
    let rest = rest.strip_prefix(" from <")?;
    let close = rest.rfind("> qp ")?;
    let from = &rest[..close];
    let (qp, rest) = leading_number(&rest[close + 5..])?;
    let (uid, _) = leading_number(rest.strip_prefix(" uid ")?)?;
    out.push(Event::QmailMessage { ts_ms, msg, bytes, from: from.to_string(), qp, uid });
    Some(Outcome::Parsed)
}

/// `D: msg M to remote|local R`
fn start(rest: &str, ts_ms: Option<i64>, out: &mut Vec<Event>) -> Option<Outcome> {
    let (delivery, rest) = leading_number(rest)?;
    let (msg, rest) = leading_number(rest.strip_prefix(": msg ")?)?;
    let (remote, to) = if let Some(to) = rest.strip_prefix(" to remote ") {
        (true, to)
    } else {
        (false, rest.strip_prefix(" to local ")?)
    };
    out.push(Event::QmailStart { ts_ms, delivery, msg, remote, to: to.to_string() });
    Some(Outcome::Parsed)
}

/// `D: success|failure|deferral: REPORT`
fn delivery(rest: &str, ts_ms: Option<i64>, out: &mut Vec<Event>) -> Option<Outcome> {
    let (delivery, rest) = leading_number(rest)?;
    let (word, report) = rest.strip_prefix(": ")?.split_once(": ").unwrap_or((rest.get(2..)?, ""));
    let reply = unescape_report(report);
    let status = match word {
        "success" => DeliveryStatus::Sent,
        "deferral" => DeliveryStatus::Deferred,
        "failure" if reply.contains("I'm not going to try again") => DeliveryStatus::Expired,
        "failure" => DeliveryStatus::Bounced,
        _ => return None,
    };
    out.push(Event::QmailDelivery { ts_ms, delivery, status, reply });
    Some(Outcome::Parsed)
}

pub(crate) use rblfleet_bounce::smtp::unescape_report;

/// `from=a@b` / `to=a@b` from Plesk's qmail handlers.
fn handler(line: &LogLine, remote: bool, out: &mut Vec<Event>) -> Outcome {
    let (field, address) = if let Some(a) = line.message.strip_prefix("from=") {
        (EnvelopeField::From, a)
    } else if let Some(a) = line.message.strip_prefix("to=") {
        (EnvelopeField::To, a)
    } else {
        return Outcome::Ignored;
    };
    out.push(Event::QmailHandler {
        ts_ms: line.ts_ms,
        pid: line.pid,
        remote,
        field,
        address: address.trim().to_string(),
    });
    Outcome::Parsed
}

/// `SMTP user U : logged in from name [ip]`, also the older form with the
/// mailbox path before "logged in" and a doubled `smtp_auth: ` prefix.
fn smtp_auth(line: &LogLine, out: &mut Vec<Event>) -> Outcome {
    let msg = line.message.strip_prefix("smtp_auth: ").unwrap_or(line.message);
    let Some(rest) = msg.strip_prefix("SMTP user ") else { return Outcome::Ignored };
    let Some(at) = rest.find(" logged in from ") else { return Outcome::Unknown };
    let user = rest[..at].split(" :").next().unwrap_or("").trim();
    let from = &rest[at + " logged in from ".len()..];
    let client_ip = from.rfind('[').and_then(|open| {
        let inner = &from[open + 1..];
        inner.find(']').and_then(|close| parse_ip(&inner[..close]))
    });
    if user.is_empty() {
        return Outcome::Unknown;
    }
    out.push(Event::SmtpAuth { ts_ms: line.ts_ms, user: user.to_string(), client_ip });
    Outcome::Parsed
}
