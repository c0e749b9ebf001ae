//! Postfix lines, including what Plesk adds to them (SASL logins on the
//! submission port, the `X-PHP-Originating-Script` header_checks WARN rule,
//! psa-pc-remote milter rejects such as the outgoing-mail limit).
//!
//! The dispatcher hands over any line whose tag is a Postfix program, whatever
//! its `syslog_name` (`postfix/submission/smtpd`, `postfix-203.0.113.5/smtp`):
//! only the daemon (the last path component) matters here.
//!
//! Line shapes (after `program[pid]: `):
//! - `QID: client=name[ip], sasl_method=PLAIN, sasl_username=user` (smtpd)
//! - `QID: uid=N from=<sender>` (pickup)
//! - `QID: warning: header X-PHP-Originating-Script: 10001:mailer.php from local; from=<…> to=<…>`
//! - `QID: milter-reject: END-OF-MESSAGE from name[ip]: 5.7.0 reason; from=<…> to=<…> …`
//! - `QID: from=<sender>, size=N, nrcpt=M (queue active)` / `…, status=expired, returned to sender` (qmgr)
//! - `QID: to=<rcpt>, relay=…, delay=…, delays=…, dsn=X, status=S (reply)` (smtp, lmtp, error, local…)
//! - `QID: sender non-delivery notification: QID2` (bounce), `QID: removed`
//! - `NOQUEUE: reject: RCPT from name[ip]: 554 …; from=<…> to=<…> …`
//! - `warning: name[ip]: SASL LOGIN authentication failed: …`

use super::event::{DeliveryStatus, Event, NoticeKind, RejectSource};
use super::line::LogLine;
use super::util::{
    angle_value, comma_value, find_byte, find_pair, host_and_ip, last_component, leading_number, strip_prefix_ci,
    take_angle,
};
use super::{Outcome, pool};

/// Postfix daemons whose lines carry nothing the agent uses: every line they
/// write that is not one of the shapes above is ignored rather than counted.
const QUIET_DAEMONS: &[&str] = &[
    "anvil",
    "master",
    "scache",
    "tlsmgr",
    "postfix-script",
    "verify",
    "trivial-rewrite",
    "proxymap",
    "tlsproxy",
    "dnsblog",
    "postscreen",
    "sendmail",
    "postdrop",
    "postsuper",
    "postqueue",
    "postlog",
    "postmap",
    "postconf",
    "showq",
    "flush",
    "spawn",
    "policy-spf",
];

/// Known, irrelevant message starts (connection bookkeeping, TLS chatter).
const IGNORED_PREFIXES: &[&str] = &[
    "connect from ",
    "disconnect from ",
    "lost connection after ",
    "timeout after ",
    "too many errors after ",
    "Anonymous TLS connection",
    "Trusted TLS connection",
    "Untrusted TLS connection",
    "Verified TLS connection",
    "SSL_accept error",
    "TLS SNI",
    "improper command pipelining",
    "statistics: ",
    "fatal: ",
    "panic: ",
    "error: ",
    "error ",
    "daemon started",
    "reload ",
    "terminating on signal",
    "connect to ",
    "network_biopair_interop",
    "setting up TLS connection",
    "ehlo=",
];

/// What follows `QID: ` on lines that are known and not needed.
const IGNORED_AFTER_QID: &[&str] = &[
    "message-id=",
    "resent-message-id=",
    "host ",
    "lost connection with ",
    "conversation with ",
    "enabling PIX workarounds",
    "Cannot start TLS",
    "SASL authentication failed",
    "skipped, still being delivered",
    "filter: ",
    "discard: ",
    "hold: ",
    "redirect: ",
    "milter-discard: ",
    "milter-hold: ",
    "info: ",
    "warning: ",
    "replace: ",
    "prepend: ",
    "dsn_",
    "sender delivery status notification",
];

/// Parses one Postfix line into `out`.
pub fn parse(line: &LogLine, out: &mut Vec<Event>) -> Outcome {
    let daemon = last_component(line.program);
    let msg = line.message;
    let ts_ms = line.ts_ms;
    if let Some(rest) = msg.strip_prefix("warning: ") {
        return warning(rest, ts_ms, out);
    }
    if let Some(rest) = msg.strip_prefix("NOQUEUE: ") {
        return match rest.strip_prefix("reject: ") {
            Some(tail) => reject(None, RejectSource::Smtpd, tail, ts_ms, out),
            None => Outcome::Ignored,
        };
    }
    if let Some((qid, rest)) = split_queue_id(msg) {
        let outcome = with_queue_id(qid, rest, ts_ms, out);
        if outcome == Outcome::Unknown && QUIET_DAEMONS.contains(&daemon) {
            return Outcome::Ignored;
        }
        return outcome;
    }
    if IGNORED_PREFIXES.iter().any(|p| msg.starts_with(p)) || QUIET_DAEMONS.contains(&daemon) {
        return Outcome::Ignored;
    }
    Outcome::Unknown
}

/// Splits `QID: rest`. Queue ids are 5+ alphanumerics: short hex (`4AA091855DA0`)
/// or long base-52 ids (`4DgLdQ0nyJz5S3`).
fn split_queue_id(msg: &str) -> Option<(&str, &str)> {
    let end = msg.bytes().take_while(u8::is_ascii_alphanumeric).count();
    if !(5..=20).contains(&end) {
        return None;
    }
    let (qid, rest) = msg.split_at_checked(end)?;
    Some((qid, rest.strip_prefix(": ")?))
}

fn with_queue_id(qid: &str, rest: &str, ts_ms: Option<i64>, out: &mut Vec<Event>) -> Outcome {
    if let Some(v) = rest.strip_prefix("client=") {
        return client(qid, v, ts_ms, out);
    }
    if let Some(v) = rest.strip_prefix("to=") {
        return delivery(qid, v, ts_ms, out);
    }
    if rest.starts_with("from=<") {
        return qmgr(qid, rest, ts_ms, out);
    }
    if let Some(v) = rest.strip_prefix("uid=") {
        let Some((uid, after)) = leading_number::<u32>(v) else { return Outcome::Unknown };
        let from = angle_value(after, "from=<").or_else(|| angle_value(after, "sender=<")).unwrap_or("");
        out.push(Event::Pickup { ts_ms, queue_id: pool::text(qid), uid, from: pool::text(from) });
        return Outcome::Parsed;
    }
    if rest == "removed" {
        out.push(Event::Removed { ts_ms, queue_id: pool::text(qid) });
        return Outcome::Parsed;
    }
    for prefix in ["warning: header ", "info: header ", "hold: header "] {
        if let Some(header) = rest.strip_prefix(prefix) {
            return header_warning(qid, header, ts_ms, out);
        }
    }
    if let Some(tail) = rest.strip_prefix("milter-reject: ") {
        return reject(Some(qid), RejectSource::Milter, tail, ts_ms, out);
    }
    if let Some(tail) = rest.strip_prefix("reject: ") {
        let source = if tail.starts_with("header ") || tail.starts_with("body ") {
            RejectSource::Cleanup
        } else {
            RejectSource::Smtpd
        };
        return reject(Some(qid), source, tail, ts_ms, out);
    }
    if let Some(notice) = bounce_notice(qid, rest, ts_ms) {
        out.push(notice);
        return Outcome::Parsed;
    }
    if IGNORED_AFTER_QID.iter().any(|p| rest.starts_with(p)) {
        return Outcome::Ignored;
    }
    Outcome::Unknown
}

/// `client=name[ip][:port][, sasl_method=M, sasl_username=U][, sasl_sender=S]…`
fn client(qid: &str, v: &str, ts_ms: Option<i64>, out: &mut Vec<Event>) -> Outcome {
    let client = find_pair(v, b',', b' ').map_or(v, |end| &v[..end]);
    let (host, ip) = host_and_ip(client);
    let sasl_user = comma_value(v, ", sasl_username=").filter(|u| !u.is_empty()).map(str::to_string);
    out.push(Event::Client {
        ts_ms,
        queue_id: pool::text(qid),
        client_host: pool::text(host),
        client_ip: ip,
        sasl_user,
    });
    Outcome::Parsed
}

/// qmgr: `from=<s>, size=N, nrcpt=M (queue active)` or `from=<s>, status=expired, returned to sender`.
fn qmgr(qid: &str, rest: &str, ts_ms: Option<i64>, out: &mut Vec<Event>) -> Outcome {
    let Some((from, after)) = rest.strip_prefix("from=").and_then(take_angle) else { return Outcome::Unknown };
    if after.starts_with(", status=expired") {
        out.push(Event::Expired { ts_ms, queue_id: pool::text(qid), from: pool::text(from) });
        return Outcome::Parsed;
    }
    let Some(size) = comma_value(after, ", size=").and_then(|s| s.parse().ok()) else { return Outcome::Unknown };
    let nrcpt = comma_value(after, ", nrcpt=").and_then(|n| leading_number::<u32>(n)).map(|(n, _)| n);
    out.push(Event::Queued { ts_ms, queue_id: pool::text(qid), from: pool::text(from), size: Some(size), nrcpt });
    Outcome::Parsed
}

/// `to=<r>, [orig_to=<o>, ]relay=R, [conn_use=N, ]delay=D, [delays=…, ][dsn=X, ]status=S (reply)`
fn delivery(qid: &str, v: &str, ts_ms: Option<i64>, out: &mut Vec<Event>) -> Outcome {
    let Some((to, mut rest)) = take_angle(v) else { return Outcome::Unknown };
    let (mut relay, mut dsn) = ("", None);
    while let Some(field) = rest.strip_prefix(", ") {
        let Some(eq) = find_byte(field, b'=') else { return Outcome::Unknown };
        let (key, value) = (&field[..eq], &field[eq + 1..]);
        if key == "status" {
            let (word, tail) = match find_byte(value, b' ') {
                Some(sp) => (&value[..sp], &value[sp + 1..]),
                None => (value, ""),
            };
            let status = match word {
                "sent" => DeliveryStatus::Sent,
                "deferred" => DeliveryStatus::Deferred,
                "bounced" => DeliveryStatus::Bounced,
                "expired" => DeliveryStatus::Expired,
                // deliverable / undeliverable(-but-not-cached): address
                // verification probes, not mail anybody sent.
                "deliverable" | "undeliverable" | "undeliverable-but-not-cached" => return Outcome::Ignored,
                _ => return Outcome::Unknown,
            };
            let reply = tail.strip_prefix('(').map_or(tail, |r| r.strip_suffix(')').unwrap_or(r));
            out.push(Event::Delivery {
                ts_ms,
                queue_id: pool::text(qid),
                to: pool::text(to),
                relay: pool::text(relay),
                dsn: dsn.map(pool::text),
                status,
                reply: pool::text(reply),
            });
            return Outcome::Parsed;
        }
        let (value, next) = if value.starts_with('<') {
            match take_angle(value) {
                Some((_, next)) => (value, next),
                None => return Outcome::Unknown,
            }
        } else {
            match find_pair(value, b',', b' ') {
                Some(end) => (&value[..end], &value[end..]),
                None => (value, ""),
            }
        };
        match key {
            "relay" => relay = value,
            "dsn" => dsn = Some(value),
            _ => {}
        }
        rest = next;
    }
    Outcome::Unknown
}

/// cleanup header_checks actions. Only Plesk's `X-PHP-Originating-Script`
/// WARN rule is evidence (uid and script of the PHP mailer); other headers are
/// whatever an admin chose to log.
fn header_warning(qid: &str, header: &str, ts_ms: Option<i64>, out: &mut Vec<Event>) -> Outcome {
    // The header name is compared without slicing at its length: a Subject
    // with a multi-byte character there is no char boundary (issue 11).
    let Some(value) = strip_prefix_ci(header, "x-php-originating-script:") else { return Outcome::Ignored };
    let value = value.trim_start();
    // The value ends where cleanup appends " from <origin>; from=<…> to=<…>".
    let value = match value.rfind("; from=<") {
        Some(env) => value[..env].rfind(" from ").map_or(&value[..env], |o| &value[..o]),
        None => value,
    };
    let (uid, script) = match value.split_once(':') {
        Some((uid, script)) if !uid.is_empty() && uid.bytes().all(|c| c.is_ascii_digit()) => {
            (uid.parse().ok(), script.trim_start())
        }
        _ => (None, value),
    };
    out.push(Event::PhpScript { ts_ms, queue_id: pool::text(qid), script: pool::text(script), uid });
    Outcome::Parsed
}

/// `STAGE from origin: reason; from=<s> to=<r> proto=… helo=<…>` as written by
/// smtpd/postscreen (`RCPT from name[ip]: 554 …`), milters (`END-OF-MESSAGE
/// from localhost[::1]: 5.7.0 …`) and cleanup (`header Subject: … from local;
/// from=<…> to=<…>: 5.7.1 reason`).
fn reject(qid: Option<&str>, source: RejectSource, tail: &str, ts_ms: Option<i64>, out: &mut Vec<Event>) -> Outcome {
    let envelope_at = tail.rfind("; from=<");
    let (head, envelope) = match envelope_at {
        Some(at) => (&tail[..at], &tail[at + 2..]),
        None => (tail, ""),
    };
    let from = angle_value(envelope, "from=<").map(str::to_string);
    let to = angle_value(envelope, "to=<").map(str::to_string);
    let (client_ip, reason) = if source == RejectSource::Cleanup {
        // The reason follows the envelope: "… helo=<x>: 5.7.1 text".
        let reason = envelope.rfind(">: ").map_or("", |at| &envelope[at + 3..]);
        (None, reason)
    } else {
        let origin_start = head.find(" from ").map_or(0, |at| at + 6);
        match head[origin_start..].find(": ") {
            Some(colon) => {
                let origin = &head[origin_start..origin_start + colon];
                (host_and_ip(origin).1, &head[origin_start + colon + 2..])
            }
            None => (None, head),
        }
    };
    if source == RejectSource::Milter && reason.contains("allowed outgoing messages") {
        out.push(Event::OutgoingLimit {
            ts_ms,
            queue_id: qid.map(str::to_string),
            sender: from,
            reason: pool::text(reason),
        });
        return Outcome::Parsed;
    }
    out.push(Event::Rejected {
        ts_ms,
        queue_id: qid.map(str::to_string),
        source,
        reason: pool::text(reason),
        from,
        to,
        client_ip,
    });
    Outcome::Parsed
}

/// The notices of Postfix's `bounce` daemon, as the line starts.
const NOTICES: [(&str, NoticeKind); 5] = [
    ("sender non-delivery notification: ", NoticeKind::NonDelivery),
    ("postmaster non-delivery notification: ", NoticeKind::NonDelivery),
    ("sender delay notification: ", NoticeKind::Delay),
    ("postmaster delay notification: ", NoticeKind::Delay),
    ("sender delivery status notification: ", NoticeKind::Success),
];

/// `sender non-delivery notification: QID2` and its siblings.
///
/// Every queue-id line that is no other shape gets here (a seventh of an
/// outbreak log's lines), so the notices are matched as prefixes: no
/// notice's words hold `" notification: "`, so a line starts with one
/// exactly when cutting at the first `" notification: "` would give it,
/// and a substring searcher cost more to build than the whole match.
pub(super) fn bounce_notice(qid: &str, rest: &str, ts_ms: Option<i64>) -> Option<Event> {
    let (bounce_qid, kind) = NOTICES.iter().find_map(|&(notice, kind)| Some((rest.strip_prefix(notice)?, kind)))?;
    Some(Event::BounceNotice { ts_ms, queue_id: pool::text(qid), bounce_queue_id: pool::text(bounce_qid.trim()), kind })
}

/// `warning:` lines: only SASL failures matter (a password-guessing bot, or a
/// mailbox whose password was changed after it was abused).
fn warning(rest: &str, ts_ms: Option<i64>, out: &mut Vec<Event>) -> Outcome {
    let Some(at) = rest.find(" authentication failed") else { return Outcome::Ignored };
    if !rest[..at].contains(": SASL ") {
        return Outcome::Ignored;
    }
    let client = rest.split(": ").next().unwrap_or("");
    let (_, client_ip) = host_and_ip(client);
    let user = comma_value(rest, ", sasl_username=").filter(|u| !u.is_empty()).map(str::to_string);
    out.push(Event::AuthFailure { ts_ms, user, client_ip });
    Outcome::Parsed
}
