//! Getting the remote server's reply out of whatever the caller has: a bare
//! reply, a whole Postfix or qmail log line, a DSN `Diagnostic-Code:` line.
//!
//! Classification must read the receiver's words, not the MTA's: Postfix logs
//! a 5xx greeting as `status=deferred`, so the reply is cut out of the line
//! and its own code decides whether the failure is temporary.

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::LazyLock;

use regex::Regex;

use crate::smtp::{enhanced_code, reply_code, unescape_report};
use crate::text::{self, Marker};

/// A reply's SMTP codes, borrowed from the reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ReplyCodes<'a> {
    /// The three-digit reply code (`550`).
    pub basic: Option<u16>,
    /// The enhanced status code (`5.7.1`), also qmail's `(#5.1.1)`.
    pub enhanced: Option<&'a str>,
}

impl ReplyCodes<'_> {
    /// 4xx (or 4.x.x) is temporary, 5xx permanent; the basic code wins because
    /// it is what the sending MTA acts on.
    pub fn temporary(&self) -> Option<bool> {
        match self.basic.map(|c| c / 100) {
            Some(4) => return Some(true),
            Some(5) => return Some(false),
            _ => {}
        }
        match self.enhanced.and_then(|e| e.bytes().next()) {
            Some(b'4') => Some(true),
            Some(b'5') => Some(false),
            _ => None,
        }
    }
}

// The markers of the reply's framings (see [`text::Marker`]).
const EXIM: Marker = Marker::new("SMTP error from remote mail");
const SAID: Marker = Marker::new(" said: ");
const REFUSED: Marker = Marker::new("refused to talk to me: ");
const STATUS: Marker = Marker::new(", status=");
const OPEN: Marker = Marker::new(" (");
const REJECT: Marker = Marker::new("reject: ");
const DELIVERY: Marker = Marker::new("delivery ");

/// Cuts the reply out of `text`. Tried in order: a qmail `delivery N:
/// failure|deferral|success:` report ("Remote host said: …" inside it), the
/// text after Postfix's `said: ` or `refused to talk to me: `, a DSN
/// `Diagnostic-Code: smtp; …`, the parenthesised text after `status=…`, the
/// reply in a Postfix `reject:` line; else the whole text.
pub(crate) fn extract_reply(text: &str) -> Cow<'_, str> {
    let text = text.trim();
    if let Some(report) = qmail_report(text) {
        let unescaped = unescape_report(report);
        let reply = match unescaped.find("Remote host said: ") {
            Some(at) => {
                let said = &unescaped[at + "Remote host said: ".len()..];
                let end = ["Giving up on", "I'm not going to try again"]
                    .iter()
                    .filter_map(|m| said.find(m))
                    .min()
                    .unwrap_or(said.len());
                said[..end].trim().to_string()
            }
            None => unescaped,
        };
        return Cow::Owned(reply);
    }
    // Exim: "SMTP error from remote mail server after RCPT TO:<x>: 550 …"
    // (or "…mailer after RCPT TO: <x>: host NAME [IP]: 550 …").
    if let Some(at) = text::find_marker(text, &EXIM)
        && let Some(start) = first_reply_code(&text[at..])
    {
        return Cow::Borrowed(text[at + start..].trim());
    }
    for marker in [SAID, REFUSED] {
        if let Some(at) = text::find_marker(text, &marker) {
            return Cow::Borrowed(strip_postfix_tail(&text[at + marker.len()..]));
        }
    }
    if let Some(at) = find_ascii_ci(text, "diagnostic-code:") {
        let rest = text[at + "diagnostic-code:".len()..].trim_start();
        let rest = rest.split_once(';').map_or(rest, |(_, r)| r);
        return Cow::Borrowed(rest.trim());
    }
    if let Some(at) = text::find_marker(text, &STATUS)
        && let Some(open) = text::find_marker(&text[at..], &OPEN)
    {
        return Cow::Borrowed(strip_postfix_tail(&text[at + open + 2..]));
    }
    if let Some(at) = text::find_marker(text, &REJECT)
        && let Some(start) = first_reply_code(&text[at..])
    {
        let reply = &text[at + start..];
        return Cow::Borrowed(reply.rfind("; from=<").map_or(reply, |end| &reply[..end]));
    }
    let bare = text.strip_prefix("smtp;").or_else(|| text.strip_prefix("SMTP;")).unwrap_or(text);
    // Other MTAs' and mail clients' framings put the reply after their own
    // words ("…, host: mx.example (192.0.2.1) reason: 550 …", "host mx
    // [192.0.2.1]: 550 …", "permanent: 5.7.1 …"): the reply starts at its
    // first code. Without one, the whole text is the reply.
    match first_reply_code(bare) {
        Some(start) if start > 0 => Cow::Borrowed(bare[start..].trim()),
        _ => Cow::Borrowed(bare.trim()),
    }
}

/// The report of a qmail `delivery N: failure|deferral|success: REPORT` line.
fn qmail_report(text: &str) -> Option<&str> {
    let marker = DELIVERY;
    let mut from = 0;
    while let Some(at) = text::find_marker_from(text, &marker, from) {
        from = at + marker.len();
        if let Some(report) = qmail_report_at(&text[from..]) {
            return Some(report);
        }
    }
    None
}

/// The report after one `delivery ` of [`qmail_report`]: `N: failure: REPORT`.
fn qmail_report_at(rest: &str) -> Option<&str> {
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let rest = rest.get(digits..)?.strip_prefix(": ").filter(|_| digits > 0)?;
    ["failure: ", "deferral: ", "success: "].iter().find_map(|w| rest.strip_prefix(w))
}

/// Drops Postfix's `(in reply to … command)` and the closing parenthesis of
/// the status text.
fn strip_postfix_tail(s: &str) -> &str {
    let s = s.trim_end();
    let s = s.strip_suffix(')').unwrap_or(s);
    let s = match text::rfind(s, " (in reply to ") {
        Some(at) => &s[..at],
        None => s,
    };
    s.trim_end_matches(')').trim()
}

/// Offset of the first `4xx `/`5xx ` reply code (or, in milter rejects, a
/// bare `5.7.1 ` enhanced code) that starts a word in `s`.
fn first_reply_code(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(3)).find(|&i| {
        let word_start = i == 0 || b[i - 1] == b' ';
        let basic = matches!(b[i], b'4' | b'5')
            && b[i + 1].is_ascii_digit()
            && b[i + 2].is_ascii_digit()
            && matches!(b.get(i + 3), Some(b' ' | b'-'));
        word_start && (basic || (matches!(b[i], b'4' | b'5') && s.get(i..).and_then(enhanced_code).is_some()))
    })
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack.as_bytes().windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Continuation codes of a flattened multi-line reply (`550-5.7.1 `, `554-`)
/// after its start: removed so that sentences read whole again.
static CONTINUATION: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"\s(?:<<<\s+)?[245]\d\d-(?:[245]\.\d{1,3}\.\d{1,3}\s+)?|\s(?:<<<\s+)?[245]\d\d\s[245]\.\d{1,3}\.\d{1,3}\s+",
    )
    .ok()
});

/// Whether `CONTINUATION` can match: a transcript's `<<<`, or a space and a
/// reply code (`[245]dd`) followed by `-` or a space (a byte >= 0x80 counts
/// as a space: it may be part of a Unicode one). Most replies are one line,
/// and this check costs a fraction of the regex search it saves.
fn may_continue(reply: &str) -> bool {
    let space = |c: u8| c.is_ascii_whitespace() || c >= 0x80;
    text::find(reply, "<<<").is_some() || {
        // From each 2, 4 or 5 (memchr's search), not from every byte.
        let b = reply.as_bytes();
        memchr::memchr3_iter(b'2', b'4', b'5', b).any(|at| {
            at > 0
                && b.get(at + 3).is_some_and(|&c| c == b'-' || space(c))
                && space(b[at - 1])
                && b[at + 1].is_ascii_digit()
                && b[at + 2].is_ascii_digit()
        })
    }
}

/// Reads the codes at the start of the reply and returns them with the reply
/// text made single-line (continuation codes removed; most replies are one
/// line and come back borrowed).
pub(crate) fn codes_and_text(reply: &str) -> (ReplyCodes<'_>, Cow<'_, str>) {
    // `<<< ` marks received lines in sendmail's and Exim's transcripts.
    let reply = reply.trim_start_matches(['#', ' ', '<']);
    let mut codes = ReplyCodes::default();
    let mut rest = reply;
    if let Some(code) = reply_code(rest) {
        codes.basic = Some(code);
        rest = rest.get(3..).unwrap_or("").trim_start_matches(['-', ' ']);
    }
    if let Some(enhanced) = enhanced_code(rest) {
        codes.enhanced = Some(enhanced);
    } else if let Some(at) = text::find(reply, "(#") {
        codes.enhanced = enhanced_code(&reply[at + 2..]);
    }
    let flat = match CONTINUATION.as_ref() {
        Some(re) if may_continue(reply) => re.replace_all(reply, " "),
        _ => Cow::Borrowed(reply),
    };
    (codes, flat)
}

/// The first IP address the reply names, skipping Postfix's `name[ip]`
/// (the remote host itself, not what it says about us) and loopback or
/// unspecified addresses (DNSBL return codes, placeholders).
pub(crate) fn first_named_ip(text: &str) -> Option<IpAddr> {
    let b = text.as_bytes();
    let is_token = |c: u8| BYTES[usize::from(c)] & IP_CHAR != 0;
    // Candidates are maximal runs of token bytes not glued to what precedes
    // them, and an address has a `.` or a `:`: so only the runs around
    // those bytes (memchr's search) are looked at, left to right, each once.
    let mut done = 0;
    while let Some(found) = memchr::memchr2(b'.', b':', b.get(done..).unwrap_or_default()) {
        let at = done + found;
        let start = at - b[done..at].iter().rev().take_while(|&&c| is_token(c)).count();
        let mut end = at;
        let (mut dots, mut colons) = (0, 0);
        while let Some(&c) = b.get(end).filter(|&&c| is_token(c)) {
            dots += usize::from(c == b'.');
            colons += usize::from(c == b':');
            end += 1;
        }
        done = end;
        // The run may have begun before `done` only if it was looked at already.
        if start > 0 && BYTES[usize::from(b[start - 1])] & GLUED != 0 {
            continue;
        }
        // Most runs have too few dots and colons for `parse_candidate` to take.
        if dots < 3 && colons < 2 {
            continue;
        }
        // `start` and `end` sit next to ASCII token bytes, so both are char boundaries.
        let token = text.get(start..end).unwrap_or("").trim_end_matches(['.', ':']);
        if let Some(ip) = parse_candidate(token)
            && !is_remote_host(b, start)
        {
            return Some(ip);
        }
    }
    None
}

/// [`BYTES`] bit: a byte of an IP literal's token (hex digits, `:`, `.`).
const IP_CHAR: u8 = 1;
/// [`BYTES`] bit: a byte after which a token is the tail of a word or a
/// number, not an address of its own (ASCII alphanumerics, `.`, `:`).
const GLUED: u8 = 2;

/// Each byte's bits: a table lookup per byte of every reply instead of a
/// chain of comparisons.
static BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let byte = c as u8;
        if byte.is_ascii_hexdigit() || byte == b':' || byte == b'.' {
            table[c] |= IP_CHAR;
        }
        if byte.is_ascii_alphanumeric() || byte == b'.' || byte == b':' {
            table[c] |= GLUED;
        }
        c += 1;
    }
    table
};

fn parse_candidate(token: &str) -> Option<IpAddr> {
    let ip: IpAddr = if token.contains(':') {
        if token.matches(':').count() < 2 {
            return None;
        }
        token.parse().ok()?
    } else {
        if token.matches('.').count() != 3 {
            return None;
        }
        IpAddr::V4(token.parse::<Ipv4Addr>().ok()?)
    };
    (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
}

/// Whether the address starting at `at` is written `name[ip]` with a DNS name
/// (or `unknown`) glued to the bracket, i.e. Postfix naming a host.
fn is_remote_host(b: &[u8], at: usize) -> bool {
    if at == 0 || b[at - 1] != b'[' {
        return false;
    }
    let name_end = at - 1;
    let name_start = b[..name_end]
        .iter()
        .rposition(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-')))
        .map_or(0, |p| p + 1);
    let name = &b[name_start..name_end];
    !name.is_empty() && (name.contains(&b'.') || name == b"unknown")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// `may_continue` as a window over every byte (what the memchr search
    /// must agree with).
    fn may_continue_by_windows(reply: &str) -> bool {
        let space = |c: u8| c.is_ascii_whitespace() || c >= 0x80;
        reply.contains("<<<")
            || reply.as_bytes().windows(5).any(|w| {
                space(w[0])
                    && matches!(w[1], b'2' | b'4' | b'5')
                    && w[2].is_ascii_digit()
                    && w[3].is_ascii_digit()
                    && (w[4] == b'-' || space(w[4]))
            })
    }

    /// `first_named_ip` parsing every token (what skipping tokens with too
    /// few dots and colons must agree with).
    fn first_named_ip_every_token(text: &str) -> Option<IpAddr> {
        let b = text.as_bytes();
        let is_token = |c: u8| c.is_ascii_hexdigit() || c == b':' || c == b'.';
        let mut i = 0;
        while i < b.len() {
            if !is_token(b[i]) || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.' || b[i - 1] == b':'))
            {
                i += 1;
                continue;
            }
            let end = i + b[i..].iter().take_while(|&&c| is_token(c)).count();
            let token = text.get(i..end).unwrap_or("").trim_end_matches(['.', ':']);
            if let Some(ip) = parse_candidate(token)
                && !is_remote_host(b, i)
            {
                return Some(ip);
            }
            i = end.max(i + 1);
        }
        None
    }

    /// `first_named_ip` as it was: every byte visited, tokens with too few
    /// dots and colons skipped (what the memchr search must agree with).
    fn first_named_ip_by_bytes(text: &str) -> Option<IpAddr> {
        let b = text.as_bytes();
        let is_token = |c: u8| BYTES[usize::from(c)] & IP_CHAR != 0;
        let mut i = 0;
        while i < b.len() {
            if !is_token(b[i]) || (i > 0 && BYTES[usize::from(b[i - 1])] & GLUED != 0) {
                i += 1;
                continue;
            }
            let (mut end, mut dots, mut colons) = (i, 0, 0);
            while let Some(&c) = b.get(end).filter(|&&c| is_token(c)) {
                dots += usize::from(c == b'.');
                colons += usize::from(c == b':');
                end += 1;
            }
            if dots < 3 && colons < 2 {
                i = end.max(i + 1);
                continue;
            }
            let token = text.get(i..end).unwrap_or("").trim_end_matches(['.', ':']);
            if let Some(ip) = parse_candidate(token)
                && !is_remote_host(b, i)
            {
                return Some(ip);
            }
            i = end.max(i + 1);
        }
        None
    }

    proptest! {
        #[test]
        fn continuation_check_agrees_with_the_window_scan(text in "[245 \\-0-9a<é\t]{0,60}") {
            prop_assert_eq!(may_continue(&text), may_continue_by_windows(&text));
        }

        #[test]
        fn named_ip_agrees_with_parsing_every_token(text in "[0-9a-f.: \\[\\]xz]{0,60}") {
            prop_assert_eq!(first_named_ip(&text), first_named_ip_every_token(&text));
        }

        #[test]
        fn named_ip_agrees_with_the_byte_loop(text in "([0-9.:]{1,8}|[a-fxz .\\[\\]é]|1\\.2\\.3\\.4|::1|2001:db8::7){0,14}") {
            prop_assert_eq!(first_named_ip(&text), first_named_ip_by_bytes(&text));
            prop_assert_eq!(first_named_ip(&text), first_named_ip_every_token(&text));
        }
    }

    #[test]
    fn named_ips_and_continuations_in_real_replies() {
        let reply = "host mx.example[198.51.100.5] said: 554 5.7.1 Client host [192.0.2.12] blocked using bl.example";
        assert_eq!(first_named_ip(reply), Some("192.0.2.12".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert_eq!(first_named_ip("deadbeef cafe 2001:db8::7 ok"), "2001:db8::7".parse().ok());
        assert!(may_continue("550-5.7.1 first line 550-5.7.1 second"));
        assert!(!may_continue("550 5.7.1 one line only"));
    }
}
