//! Plesk's own programs on Postfix hosts.
//!
//! - `psa-pc-remote` (the milter running Plesk's mail handlers; its syslog tag
//!   is its full path, e.g. `/usr/lib64/plesk-9.0/psa-pc-remote`):
//!   `PASS during call 'spf' handler`, `REJECT during call 'limit-out' handler`
//!   (the outgoing-mail limit), `Error during 'grey' handler`. The sender of a
//!   refused message is only in the cleanup `milter-reject` line that follows
//!   (see `postfix.rs`, which turns it into `Event::OutgoingLimit`).
//! - `plesk_saslauthd` (the SASL backend for Postfix):
//!   `failed mail authentication attempt for user 'u@example.com' (password len=10)`.

use super::Outcome;
use super::event::{Event, Verdict};
use super::line::LogLine;

/// Parses a psa-pc-remote line.
///
/// The verdict word is matched as the line's start: no word holds
/// `" during "`, so a line starts with `WORD during ` exactly when cutting
/// at its first `" during "` would give that word, and a substring
/// searcher cost more to build than the match (a line per message).
pub fn parse_pc_remote(line: &LogLine, out: &mut Vec<Event>) -> Outcome {
    const WORDS: [(&str, Verdict); 7] = [
        ("PASS during ", Verdict::Pass),
        ("SKIP during ", Verdict::Skip),
        ("REJECT during ", Verdict::Reject),
        ("DEFER during ", Verdict::Defer),
        ("STOP during ", Verdict::Stop),
        ("Error during ", Verdict::Error),
        ("ERROR during ", Verdict::Error),
    ];
    let msg = line.message;
    let Some((rest, verdict)) = WORDS.iter().find_map(|&(word, verdict)| Some((msg.strip_prefix(word)?, verdict)))
    else {
        return if !msg.contains(" during ") && (msg.starts_with("handlers_stderr: ") || msg.starts_with("_mh_fork()")) {
            Outcome::Ignored
        } else {
            Outcome::Unknown
        };
    };
    let rest = rest.strip_prefix("call ").unwrap_or(rest);
    let Some(handler) = rest.strip_prefix('\'').and_then(|r| r.split_once('\'')).map(|(h, _)| h) else {
        return Outcome::Unknown;
    };
    out.push(Event::HandlerVerdict { ts_ms: line.ts_ms, pid: line.pid, handler: handler.to_string(), verdict });
    Outcome::Parsed
}

/// Parses a plesk_saslauthd line.
pub fn parse_saslauthd(line: &LogLine, out: &mut Vec<Event>) -> Outcome {
    const FAILED: &str = "failed mail authentication attempt for user '";
    let Some(at) = line.message.find(FAILED) else {
        // Start-up chatter and "No such user '…' in mail authorization
        // database", which is always followed by the "failed" line.
        return Outcome::Ignored;
    };
    let user = line.message[at + FAILED.len()..].split('\'').next().unwrap_or("");
    out.push(Event::AuthFailure {
        ts_ms: line.ts_ms,
        user: (!user.is_empty()).then(|| user.to_string()),
        client_ip: None,
    });
    Outcome::Parsed
}
