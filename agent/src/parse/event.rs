//! What the parsers find in mail-log lines, independent of the MTA that wrote
//! them.
//!
//! Events are facts about one line, nothing more: the Postfix queue id, the
//! qmail message and delivery numbers and the MailEnable message file name are
//! exposed as the log writes them, and joining the lines of one message is
//! left to the `sources` aggregator. Every event carries the line's time
//! (`ts_ms`, milliseconds since the Unix epoch, `None` when the line had no
//! usable timestamp).

use std::net::IpAddr;

/// How one delivery attempt to one recipient ended, as the MTA logged it.
///
/// This is the MTA's own verdict: a remote 5xx greeting is logged by Postfix
/// as `Deferred`, which is why the bounce classifier reads the reply instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Accepted by the next hop.
    Sent,
    /// Will be retried.
    Deferred,
    /// Given up on; a non-delivery notification follows.
    Bounced,
    /// Given up on because the message stayed in the queue too long.
    Expired,
}

/// Which notification Postfix's `bounce` daemon generated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// "non-delivery notification": the message bounced.
    NonDelivery,
    /// "delay notification": the message is still being retried.
    Delay,
    /// "delivery status notification": a success DSN the sender asked for.
    Success,
}

/// Which part of the MTA refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectSource {
    /// smtpd or postscreen during the SMTP dialogue (`reject: RCPT from …`).
    Smtpd,
    /// cleanup's header/body checks (`reject: header …`).
    Cleanup,
    /// A milter, e.g. Plesk's psa-pc-remote (`milter-reject: …`).
    Milter,
}

/// A Plesk mail handler's verdict (psa-pc-remote: `PASS during call 'spf' handler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// The handler let the message through.
    Pass,
    /// The handler did not apply to this message.
    Skip,
    /// The handler refused the message.
    Reject,
    /// The handler asked for a retry later.
    Defer,
    /// The handler stopped further processing.
    Stop,
    /// The handler failed (`Error during 'grey' handler`).
    Error,
}

/// Which envelope address a qmail handler line names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnvelopeField {
    /// `from=…`
    From,
    /// `to=…`
    To,
}

/// One fact found in one log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message entered through SMTP (Postfix smtpd `client=…`, MailEnable
    /// SMTP-IN `MAIL`). `sasl_user` is the authenticated login, the strongest
    /// evidence of who sent it.
    Client {
        ts_ms: Option<i64>,
        queue_id: String,
        client_host: String,
        client_ip: Option<IpAddr>,
        sasl_user: Option<String>,
    },
    /// A message was submitted locally (sendmail, PHP `mail()`, cron): `uid`
    /// is the submitting Unix user, on Plesk the subscription's system user.
    Pickup { ts_ms: Option<i64>, queue_id: String, uid: u32, from: String },
    /// A PHP script submitted the message (`X-PHP-Originating-Script: uid:file`,
    /// logged by a Plesk header_checks WARN rule).
    PhpScript { ts_ms: Option<i64>, queue_id: String, script: String, uid: Option<u32> },
    /// The queue manager took the message (`from=…, size=…, nrcpt=…`), or
    /// MailEnable accepted `MAIL FROM` (no size or count known then).
    Queued { ts_ms: Option<i64>, queue_id: String, from: String, size: Option<u64>, nrcpt: Option<u32> },
    /// One delivery attempt to one recipient. `reply` is the text inside the
    /// parentheses of a Postfix line (the remote reply or the local reason);
    /// `to` is empty when the log line does not name the recipient.
    Delivery {
        ts_ms: Option<i64>,
        queue_id: String,
        to: String,
        relay: String,
        dsn: Option<String>,
        status: DeliveryStatus,
        reply: String,
    },
    /// Postfix gave up on a message that stayed queued too long
    /// (`from=<…>, status=expired, returned to sender`).
    Expired { ts_ms: Option<i64>, queue_id: String, from: String },
    /// Postfix generated a notification for `queue_id` as `bounce_queue_id`.
    BounceNotice { ts_ms: Option<i64>, queue_id: String, bounce_queue_id: String, kind: NoticeKind },
    /// The message left the queue.
    Removed { ts_ms: Option<i64>, queue_id: String },
    /// A message or recipient was refused locally. `queue_id` is `None` for
    /// `NOQUEUE` rejects.
    Rejected {
        ts_ms: Option<i64>,
        queue_id: Option<String>,
        source: RejectSource,
        reason: String,
        from: Option<String>,
        to: Option<String>,
        client_ip: Option<IpAddr>,
    },
    /// A psa-pc-remote handler verdict (`REJECT during call 'limit-out' handler`).
    HandlerVerdict { ts_ms: Option<i64>, pid: Option<u32>, handler: String, verdict: Verdict },
    /// Plesk's outgoing-mail control refused a message: the milter reject
    /// that follows a `limit-out` REJECT names the sender (mailbox; the
    /// domain is its right-hand side).
    OutgoingLimit { ts_ms: Option<i64>, queue_id: Option<String>, sender: Option<String>, reason: String },
    /// A failed SMTP AUTH: Postfix smtpd gives the client IP (and the login
    /// when known), plesk_saslauthd and MailEnable give the login.
    AuthFailure { ts_ms: Option<i64>, user: Option<String>, client_ip: Option<IpAddr> },
    /// A successful SMTP AUTH outside Postfix (qmail smtp_auth, MailEnable).
    SmtpAuth { ts_ms: Option<i64>, user: String, client_ip: Option<IpAddr> },
    /// qmail `info msg M: bytes B from <S> qp P uid U`.
    QmailMessage { ts_ms: Option<i64>, msg: u64, bytes: u64, from: String, qp: u32, uid: u32 },
    /// qmail `starting delivery D: msg M to remote|local R`: ties delivery
    /// number `D` to message `M`.
    QmailStart { ts_ms: Option<i64>, delivery: u64, msg: u64, remote: bool, to: String },
    /// qmail `delivery D: success|failure|deferral: report`, with the
    /// report's `_` and `/` escaping undone.
    QmailDelivery { ts_ms: Option<i64>, delivery: u64, status: DeliveryStatus, reply: String },
    /// qmail `bounce msg M qp P`: qmail is bouncing message M.
    QmailBounce { ts_ms: Option<i64>, msg: u64, qp: u32 },
    /// qmail `end msg M`: the message left the queue.
    QmailEnd { ts_ms: Option<i64>, msg: u64 },
    /// Plesk's qmail handlers (`qmail-remote-handlers[pid]: from=…`): the
    /// envelope as the handler saw it, tied to other lines only by pid and time.
    QmailHandler { ts_ms: Option<i64>, pid: Option<u32>, remote: bool, field: EnvelopeField, address: String },
}

impl Event {
    /// The time of the line this event came from.
    pub fn ts_ms(&self) -> Option<i64> {
        match self {
            Event::Client { ts_ms, .. }
            | Event::Pickup { ts_ms, .. }
            | Event::PhpScript { ts_ms, .. }
            | Event::Queued { ts_ms, .. }
            | Event::Delivery { ts_ms, .. }
            | Event::Expired { ts_ms, .. }
            | Event::BounceNotice { ts_ms, .. }
            | Event::Removed { ts_ms, .. }
            | Event::Rejected { ts_ms, .. }
            | Event::HandlerVerdict { ts_ms, .. }
            | Event::OutgoingLimit { ts_ms, .. }
            | Event::AuthFailure { ts_ms, .. }
            | Event::SmtpAuth { ts_ms, .. }
            | Event::QmailMessage { ts_ms, .. }
            | Event::QmailStart { ts_ms, .. }
            | Event::QmailDelivery { ts_ms, .. }
            | Event::QmailBounce { ts_ms, .. }
            | Event::QmailEnd { ts_ms, .. }
            | Event::QmailHandler { ts_ms, .. } => *ts_ms,
        }
    }

    /// Calls `f` on every string the event owns (for the scan's buffer
    /// recycling, `pool`); no field is left out, so nothing is missed when
    /// a variant gains one.
    pub fn for_each_string(&mut self, mut f: impl FnMut(&mut String)) {
        let opt = |s: &mut Option<String>, f: &mut dyn FnMut(&mut String)| {
            if let Some(s) = s {
                f(s);
            }
        };
        match self {
            Event::Client { queue_id, client_host, sasl_user, .. } => {
                f(queue_id);
                f(client_host);
                opt(sasl_user, &mut f);
            }
            Event::Pickup { queue_id, from, .. }
            | Event::Queued { queue_id, from, .. }
            | Event::Expired { queue_id, from, .. } => {
                f(queue_id);
                f(from);
            }
            Event::PhpScript { queue_id, script, .. } => {
                f(queue_id);
                f(script);
            }
            Event::Delivery { queue_id, to, relay, dsn, reply, .. } => {
                f(queue_id);
                f(to);
                f(relay);
                opt(dsn, &mut f);
                f(reply);
            }
            Event::BounceNotice { queue_id, bounce_queue_id, .. } => {
                f(queue_id);
                f(bounce_queue_id);
            }
            Event::Removed { queue_id, .. } => f(queue_id),
            Event::Rejected { queue_id, reason, from, to, .. } => {
                opt(queue_id, &mut f);
                f(reason);
                opt(from, &mut f);
                opt(to, &mut f);
            }
            Event::HandlerVerdict { handler, .. } => f(handler),
            Event::OutgoingLimit { queue_id, sender, reason, .. } => {
                opt(queue_id, &mut f);
                opt(sender, &mut f);
                f(reason);
            }
            Event::AuthFailure { user, .. } => opt(user, &mut f),
            Event::SmtpAuth { user, .. } => f(user),
            Event::QmailMessage { from, .. } => f(from),
            Event::QmailStart { to, .. } => f(to),
            Event::QmailDelivery { reply, .. } => f(reply),
            Event::QmailHandler { address, .. } => f(address),
            Event::QmailBounce { .. } | Event::QmailEnd { .. } => {}
        }
    }
}
