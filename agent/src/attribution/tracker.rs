//! Joining the lines of one message, in bounded memory.
//!
//! A message's sources are spread over several lines written before its
//! deliveries: Postfix smtpd's `client=… sasl_username=`, pickup's `uid=`,
//! cleanup's `X-PHP-Originating-Script` warning and qmgr's `from=`, all under
//! one queue id; qmail's `info msg M … uid U` followed by `starting delivery
//! D: msg M` and `delivery D: …`; MailEnable's message file name on the
//! SMTP-IN `MAIL` row and the SMTP-OU rows. The tracker remembers, per
//! message in flight, who sent it ([`Origin`]) and which recipients were
//! already counted, and hands every outgoing delivery attempt to the
//! [`Aggregator`] with that origin.
//!
//! Only outgoing deliveries count: a delivery to a local mailbox (relay
//! `local`, `virtual`, `dovecot`, a unix socket, a loopback content filter,
//! qmail `to local`) says nothing about the host's sending reputation, and
//! an inbound message only becomes a source's message when it is forwarded.
//!
//! Messages leave the tracker on their last line (`removed`, `end msg`, a
//! milter reject); at most `max_messages` are kept, the oldest evicted
//! first. Deliveries of a message whose first lines were not seen (evicted,
//! or read before the agent started) still count in the totals and the
//! evidence, and are counted as unattributed.

use std::collections::HashSet;
use std::sync::Arc;

use rblfleet_proto::v1::SourceKind;

use super::aggregate::{Aggregator, Attempt, Origin, SourceKey};
use super::bounded::BoundedMap;
use super::distinct::hash_lowercase;
use super::passwd::UserMap;
use crate::parse::util::parse_addr;
use crate::parse::{DeliveryStatus, Event};

/// Default [`Tracker`] bound. A message in flight costs about 400 bytes
/// (measured: its queue id, sources, recipients seen and the map's own
/// overhead), so 10 MB if every slot is used — a deferred queue of 25,000
/// messages, or a log whose `removed` lines are missing. Normally messages
/// leave within seconds and a few hundred are in flight.
pub const DEFAULT_MAX_MESSAGES: usize = 25_000;

/// Counters of the tracker's own bookkeeping.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerStats {
    /// Messages whose lines were joined.
    pub messages: u64,
    /// Messages forgotten before their last line, to stay within the bound.
    pub evicted: u64,
    /// Outgoing deliveries of messages whose first lines were not seen.
    pub unattributed: u64,
    /// Deliveries to local mailboxes, not counted.
    pub local_deliveries: u64,
}

/// Recipients already counted for one message: a short list, a set beyond.
#[derive(Debug, Default)]
struct Recipients {
    few: Vec<u64>,
    #[allow(clippy::box_collection, reason = "8 bytes instead of 48 in every message; rarely allocated")]
    many: Option<Box<HashSet<u64>>>,
}

impl Recipients {
    const FEW: usize = 16;

    fn insert(&mut self, hash: u64) -> bool {
        if let Some(set) = &mut self.many {
            return set.insert(hash);
        }
        if self.few.contains(&hash) {
            return false;
        }
        if self.few.len() < Self::FEW {
            self.few.push(hash);
        } else {
            let mut set: HashSet<u64> = std::mem::take(&mut self.few).into_iter().collect();
            set.insert(hash);
            self.many = Some(Box::new(set));
        }
        true
    }
}

#[derive(Debug, Default)]
struct Message {
    origin: Origin,
    /// Whether an outgoing delivery already counted this message.
    counted: bool,
    recipients: Recipients,
}

/// Sources kept per message. A message has one to four (login, uid, script,
/// sender); one whose lines name thousands (a script adding as many
/// `X-PHP-Originating-Script` headers, a queue id reused without its
/// `removed` line) would otherwise grow without bound, each addition a
/// linear search: found by the fuzzer (issue 11).
const MAX_SOURCES: usize = 8;

impl Message {
    fn add(&mut self, key: SourceKey) {
        if self.origin.keys.len() < MAX_SOURCES && !self.origin.keys.contains(&key) {
            // Messages have one to four sources; no room for more.
            self.origin.keys.reserve_exact(1);
            self.origin.keys.push(key);
        }
    }

    fn has_kind(&self, kind: SourceKind) -> bool {
        self.origin.keys.iter().any(|k| k.kind == kind)
    }
}

/// A qmail delivery between `starting delivery` and its result.
#[derive(Debug)]
struct QmailDelivery {
    msg: u64,
    to: String,
    remote: bool,
}

/// Joins events per message; see the module documentation.
#[derive(Debug)]
pub struct Tracker {
    messages: BoundedMap<Arc<str>, Message>,
    qmail_messages: BoundedMap<u64, Message>,
    qmail_deliveries: BoundedMap<u64, QmailDelivery>,
    users: UserMap,
    stats: TrackerStats,
}

impl Tracker {
    /// A tracker keeping at most `max_messages` messages (per MTA family)
    /// in flight, resolving qmail's own users with `users`.
    pub fn new(max_messages: usize, users: UserMap) -> Self {
        Tracker {
            messages: BoundedMap::new(max_messages),
            qmail_messages: BoundedMap::new(max_messages),
            qmail_deliveries: BoundedMap::new(max_messages),
            users,
            stats: TrackerStats::default(),
        }
    }

    /// The users the tracker resolves uids with.
    pub fn users(&self) -> &UserMap {
        &self.users
    }

    /// Replaces the users (the passwd file changed).
    pub fn set_users(&mut self, users: UserMap) {
        self.users = users;
    }

    /// Counters since creation.
    pub fn stats(&self) -> TrackerStats {
        self.stats
    }

    /// Messages currently in flight.
    pub fn in_flight(&self) -> usize {
        self.messages.len() + self.qmail_messages.len()
    }

    /// Takes one event into account. Events are borrowed: the tracker copies
    /// only what it keeps (a new message's queue id and sources), so a
    /// scan's parsing thread, which allocated the events, also frees them.
    pub fn event(&mut self, event: &Event, agg: &mut Aggregator) {
        match event {
            Event::Client { queue_id, client_ip, sasl_user, .. } => {
                let Some(msg) = self.message(queue_id) else { return };
                msg.origin.client_ip = client_ip.or(msg.origin.client_ip);
                if let Some(user) = sasl_user {
                    msg.add(SourceKey { kind: SourceKind::SaslUser, id: user.clone(), uid: None });
                }
            }
            Event::Pickup { queue_id, uid, .. } => {
                let Some(msg) = self.message(queue_id) else { return };
                msg.add(SourceKey { kind: SourceKind::LocalUser, id: uid.to_string(), uid: Some(*uid) });
            }
            Event::PhpScript { queue_id, script, uid, .. } => {
                let Some(msg) = self.message(queue_id) else { return };
                let uid = uid.or_else(|| msg.origin.keys.iter().find(|k| k.kind == SourceKind::LocalUser)?.uid);
                msg.add(SourceKey { kind: SourceKind::Script, id: script.clone(), uid });
            }
            Event::Queued { queue_id, from, .. } => {
                let Some(msg) = self.message(queue_id) else { return };
                if !msg.has_kind(SourceKind::Sender) {
                    msg.add(sender_key(from));
                }
            }
            Event::Delivery { ts_ms, queue_id, to, relay, status, reply, .. } => {
                if !is_outbound(relay) {
                    self.stats.local_deliveries += 1;
                    return;
                }
                let msg = self.messages.get_mut(queue_id.as_str());
                deliver(msg, &mut self.stats, agg, *ts_ms, to, *status, reply);
            }
            Event::Removed { queue_id, .. } => {
                self.messages.remove(queue_id.as_str());
            }
            Event::OutgoingLimit { ts_ms, queue_id, sender, .. } => {
                let mut keys = queue_id
                    .as_deref()
                    .and_then(|q| self.messages.remove(q))
                    .map(|m| m.origin.keys)
                    .unwrap_or_default();
                if let Some(sender) = sender
                    && !keys.iter().any(|k| k.kind == SourceKind::Sender)
                {
                    keys.push(sender_key(sender));
                }
                agg.limit_hit(*ts_ms, &keys);
            }
            Event::SmtpAuth { ts_ms, user, client_ip } => agg.login(*ts_ms, user, *client_ip),
            Event::QmailMessage { msg, from, uid, .. } => {
                let mut message = Message::default();
                if !self.users.get(*uid).is_some_and(|u| is_mta_user(&u.name)) {
                    message.add(SourceKey { kind: SourceKind::LocalUser, id: uid.to_string(), uid: Some(*uid) });
                }
                message.add(sender_key(from));
                self.stats.messages += 1;
                self.stats.evicted += self.qmail_messages.insert(*msg, message) as u64;
            }
            Event::QmailStart { delivery, msg, remote, to, .. } => {
                // Delivery numbers are reused; an unfinished one is simply replaced.
                self.qmail_deliveries.insert(*delivery, QmailDelivery { msg: *msg, to: to.clone(), remote: *remote });
            }
            Event::QmailDelivery { ts_ms, delivery, status, reply } => {
                let started = self.qmail_deliveries.remove(delivery);
                let remote = started.as_ref().map_or_else(|| looks_remote(reply), |d| d.remote);
                if !remote {
                    self.stats.local_deliveries += 1;
                    return;
                }
                let (msg, to) = match started {
                    Some(d) => (self.qmail_messages.get_mut(&d.msg), d.to),
                    None => (None, String::new()),
                };
                deliver(msg, &mut self.stats, agg, *ts_ms, &to, *status, reply);
            }
            Event::QmailEnd { msg, .. } => {
                self.qmail_messages.remove(msg);
            }
            Event::Expired { .. }
            | Event::BounceNotice { .. }
            | Event::Rejected { .. }
            | Event::HandlerVerdict { .. }
            | Event::AuthFailure { .. }
            | Event::QmailBounce { .. }
            | Event::QmailHandler { .. } => {}
        }
    }

    /// The message under a Postfix queue id or MailEnable message file,
    /// created when new (always `Some`; see [`BoundedMap::get_or_insert_with`]).
    fn message(&mut self, queue_id: &str) -> Option<&mut Message> {
        let (msg, inserted, evicted) = self.messages.get_or_insert_with(queue_id, Message::default);
        self.stats.messages += u64::from(inserted);
        self.stats.evicted += evicted as u64;
        msg
    }
}

/// Accounts one outgoing attempt against `msg` (None: unattributed).
fn deliver(
    msg: Option<&mut Message>,
    stats: &mut TrackerStats,
    agg: &mut Aggregator,
    ts_ms: Option<i64>,
    to: &str,
    status: DeliveryStatus,
    reply: &str,
) {
    let mut attempt = Attempt { ts_ms, to, status, reply, new_message: false, new_recipient: false };
    match msg {
        Some(msg) => {
            attempt.new_message = !msg.counted;
            msg.counted = true;
            attempt.new_recipient = !to.is_empty() && msg.recipients.insert(hash_lowercase(to));
            agg.delivery(&attempt, Some(&msg.origin));
        }
        None => {
            stats.unattributed += 1;
            agg.delivery(&attempt, None);
        }
    }
}

/// The envelope sender as a source; the null sender (bounces, DSNs) is `<>`.
fn sender_key(from: &str) -> SourceKey {
    let id = if from.is_empty() { "<>".to_string() } else { from.to_string() };
    SourceKey { kind: SourceKind::Sender, id, uid: None }
}

/// Whether a Postfix `relay=` (or a MailEnable remote IP) is another host:
/// `none` (not reached yet) and non-loopback addresses are; transports
/// without an address (`local`, `virtual`, `dovecot`), unix sockets
/// (`host[private/dovecot-lmtp]`) and loopback filters are not.
///
/// Runs on every delivery line: a relay with a `[` cannot parse as a bare
/// address, so that parse is only tried without one (and the brackets are
/// found with short loops; relays are a few dozen bytes).
pub fn is_outbound(relay: &str) -> bool {
    if relay.is_empty() || relay == "none" {
        return true;
    }
    let b = relay.as_bytes();
    let Some(open) = b.iter().position(|&c| c == b'[') else {
        return parse_addr(relay).is_some_and(|ip| !ip.is_loopback());
    };
    match b.iter().rposition(|&c| c == b']') {
        Some(close) if open < close => parse_addr(&relay[open + 1..close]).is_some_and(|ip| !ip.is_loopback()),
        _ => false,
    }
}

/// For a qmail result whose `starting delivery` line was not seen: whether
/// the report is qmail-remote's.
fn looks_remote(reply: &str) -> bool {
    ["Remote host said", "accepted message", "SMTP connection", "Connected to", "Giving up on", "CNAME lookup"]
        .iter()
        .any(|m| reply.contains(m))
}

/// qmail's own system users (qmail-smtpd runs as qmaild: a message it
/// queued came from the network, not from a local user).
fn is_mta_user(name: &str) -> bool {
    name.starts_with("qmail") || matches!(name, "alias" | "popuser" | "mhandlers-user" | "postfix")
}

#[cfg(test)]
mod tests;
