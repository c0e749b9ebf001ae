//! Attribution: who sent the outgoing mail, and how it was received.
//!
//! The parsers turn lines into [`Event`](crate::parse::Event)s; the
//! [`Tracker`] joins the events of one message (bounded memory) and hands
//! every outgoing delivery attempt, with the message's sources, to the
//! [`Aggregator`], which keeps the delivery totals, the blocklist evidence
//! and per-source figures, and ranks the sources by [`suspicion`]. A message
//! counts for each of its sources: a webmail message for its SASL user and
//! its envelope sender, a PHP `mail()` for the subscription's system user,
//! the script and the sender.
//!
//! The agent keeps one tracker for its whole life (messages span report
//! periods) and takes a fresh aggregator every period; `scan` uses one of
//! each for a whole log. Nothing here does I/O: the passwd file that maps
//! uids to Plesk subscriptions ([`UserMap`]) is read by the caller.

pub mod aggregate;
mod bounded;
pub mod distinct;
pub mod evidence;
pub mod passwd;
pub mod receivers;
pub mod suspicion;
pub mod tracker;

pub use aggregate::{Aggregator, Attempt, Limits, Origin, RankedSource, SourceKey};
pub use passwd::UserMap;
pub use suspicion::{Figures, Suspicion};
pub use tracker::{DEFAULT_MAX_MESSAGES, Tracker, TrackerStats};

use rblfleet_proto::v1::SourceKind;

/// The lowercase name of a source kind, as `scan` prints it.
pub fn kind_name(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::SaslUser => "sasl_user",
        SourceKind::LocalUser => "local_user",
        SourceKind::Script => "script",
        SourceKind::Sender => "sender",
        SourceKind::Unspecified => "unspecified",
    }
}

/// `s` made safe to report: control characters (tabs excepted) become `?`,
/// and it is cut at a character boundary to at most `max_bytes`. Log text is
/// whatever a client sent; the controller refuses a whole report for one
/// unprintable or overlong field.
pub fn printable(s: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max_bytes));
    for c in s.chars() {
        let c = if c.is_control() && c != '\t' { '?' } else { c };
        if out.len() + c.len_utf8() > max_bytes {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn printable_replaces_controls_and_cuts_at_a_char_boundary() {
        assert_eq!(super::printable("a\tb\u{1b}[31mc", 100), "a\tb?[31mc");
        assert_eq!(super::printable("ééé", 5), "éé");
    }
}
