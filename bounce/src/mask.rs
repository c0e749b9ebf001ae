//! What in a reply is a name rather than a statement, and what varies from
//! one message to the next.
//!
//! Two maskings, for two reasons:
//! - [`mask_addresses`]: an e-mail address says who the mail was for, never
//!   why it was refused. `<abuse@spamhaus.example>: User unknown` is a
//!   recipient refusal, so addresses are blanked before any wording is
//!   matched (issue 12: names are not evidence).
//! - [`cache_key`]: the parts that differ between two otherwise identical
//!   replies (addresses, IP literals, long numbers such as queue ids and
//!   timestamps), so that one verdict serves a whole outbreak of the same
//!   refusal.
//!
//! Both work on bytes and only cut at ASCII positions, so no input can make
//! them slice inside a character.

use std::borrow::Cow;
use std::fmt::Write as _;

use super::reply::ReplyCodes;
use super::text;

/// What an address is replaced with.
const ADDRESS: &str = "<address>";

/// Characters of an address's local part (RFC 5322 atext, the usual subset).
fn is_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'=' | b'-' | b'\'' | b'/' | b'!' | b'~')
}

/// Characters of an address's domain.
fn is_domain(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-')
}

/// Replaces every `local@domain` (with its angle brackets, if any) by
/// `<address>`.
pub(crate) fn mask_addresses(text: &str) -> Cow<'_, str> {
    let b = text.as_bytes();
    if !b.contains(&b'@') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    // From one `@` to the next (memchr), not byte by byte.
    while let Some(next) = memchr::memchr(b'@', b.get(i..).unwrap_or_default()) {
        i += next;
        // Never back into what an earlier address already replaced
        // (`<a@b.example@c.example>`: the second `@` has no local part left).
        let start = i - b[copied..i].iter().rev().take_while(|&&c| is_local(c)).count();
        let end = i + 1 + b[i + 1..].iter().take_while(|&&c| is_domain(c)).count();
        // A domain needs a dot; a trailing dot ends the sentence, not the name.
        let mut end = end;
        while end > i + 1 && b[end - 1] == b'.' {
            end -= 1;
        }
        if start == i || !b[i + 1..end].contains(&b'.') {
            i += 1;
            continue;
        }
        let (start, end) = if start > 0 && b[start - 1] == b'<' && b.get(end) == Some(&b'>') {
            (start - 1, end + 1)
        } else {
            (start, end)
        };
        out.push_str(&text[copied..start]);
        out.push_str(ADDRESS);
        copied = end;
        i = end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// Where a [`cache_key`] blanked something: byte ranges of the masked reply.
pub(crate) type Slots = Vec<(usize, usize)>;

/// The reply with what varies between messages blanked, written to `key`:
/// IP literals, runs of five or more digits not right after a letter, and long tokens that mix digits
/// and letters (receivers' tracking ids, timestamps, hex correlation ids)
/// become `#`, and where each was is pushed to `slots`. Shorter numbers stay,
/// because they are what codes are made of (`S3150`, `TSS04`, `5.7.606`), and
/// so does anything `kept` says to keep: the table's needles that would
/// themselves be blanked (`AS(201806281)`), asked about only where something
/// would be blanked. The table's
/// needles are matched on the key's text, never inside a blanked part: an id
/// or an IP literal is not a word, and so two replies with one key always
/// have the same candidate rows and named providers. The reply's codes lead
/// the key; the returned offset is where the reply's text starts in it.
/// Expects a text whose addresses are already masked.
pub(crate) fn cache_key(
    masked: &str,
    kept: impl Fn(usize, usize) -> bool,
    codes: &ReplyCodes,
    key: &mut String,
    slots: &mut Slots,
) -> usize {
    key.clear();
    slots.clear();
    if let Some(basic) = codes.basic {
        // Reply codes are three digits: written by hand, `write!` cost a
        // few hundred instructions of formatting machinery per reply.
        if (100..1000).contains(&basic) {
            for d in [basic / 100, basic / 10 % 10, basic % 10] {
                key.push(char::from(b'0' + d as u8));
            }
        } else {
            let _ = write!(key, "{basic}");
        }
    }
    key.push('|');
    key.push_str(codes.enhanced.unwrap_or(""));
    key.push('|');
    let text_start = key.len();
    let b = masked.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        // Tokens without a digit (most words) have nothing to blank: one
        // pass finds a token's end and whether it holds a digit.
        if CLASS[usize::from(b[i])] & ID == 0 {
            i += 1;
            continue;
        }
        let mut token_end = i;
        let mut seen = 0;
        while let Some(&c) = b.get(token_end) {
            let class = CLASS[usize::from(c)];
            if class & ID == 0 {
                break;
            }
            seen |= class;
            token_end += 1;
        }
        if seen & DIGIT == 0 {
            i = token_end;
            continue;
        }
        // A whole token first: an id, or an id before the dots of a kept name.
        let mut at = i;
        if let Some((start, end)) = id_in(b, i, token_end, &kept) {
            key.push_str(&masked[copied..start]);
            key.push('#');
            slots.push((start, end));
            (copied, at) = (end, end);
        }
        // Then IP literals and long numbers inside it.
        while at < token_end {
            let c = b[at];
            let prev = if at == 0 { b' ' } else { b[at - 1] };
            let starts_token = !(prev.is_ascii_alphanumeric() || matches!(prev, b'.' | b':'));
            let len = if starts_token && (c.is_ascii_hexdigit() || c == b':') {
                b[at..].iter().take_while(|&&c| c.is_ascii_hexdigit() || matches!(c, b'.' | b':')).count()
            } else {
                0
            };
            let digits = b[at..].iter().take_while(|c| c.is_ascii_digit()).count();
            let end = if len > 0 && looks_like_ip(&masked[at..at + len]) && !kept(at, at + len) {
                at + len
            } else if digits >= 5 && !prev.is_ascii_alphabetic() && !kept(at, at + digits) {
                at + digits
            } else {
                // Skip the whole run of digits, so its tail is not taken for a new one.
                at += digits.max(1);
                continue;
            };
            key.push_str(&masked[copied..at]);
            key.push('#');
            slots.push((at, end));
            (copied, at) = (end, end);
        }
        i = token_end.max(at);
    }
    key.push_str(&masked[copied..]);
    text_start
}

/// [`CLASS`] bit: a character of a token that may be an id (ASCII
/// alphanumerics and `.:-_`).
const ID: u8 = 1;
/// [`CLASS`] bit: an ASCII digit.
const DIGIT: u8 = 2;

/// Each byte's class bits: a table lookup per byte instead of a chain of
/// comparisons, in the loop that every byte of every reply goes through.
static CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let byte = c as u8;
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b':' | b'-' | b'_') {
            table[c] |= ID;
        }
        if byte.is_ascii_digit() {
            table[c] |= DIGIT;
        }
        c += 1;
    }
    table
};

/// The id that starts at `start` in the token `start..end`: the whole token
/// if it is one, unless it is a host name (a later dot-separated label is a
/// word) or a kept range overlaps it; then its first dot-separated part if
/// that is one (`08DC3B0A1F2E4D55` in
/// `08DC3B0A1F2E4D55.eu-smtp-1.mimecast.example`). A tracking id with a
/// numeric tail (`…si1234567qtb.44`) is blanked whole.
fn id_in(b: &[u8], start: usize, end: usize, kept: &impl Fn(usize, usize) -> bool) -> Option<(usize, usize)> {
    let is_id = |s: usize, e: usize| {
        let token = &b[s..e];
        let digits = token.iter().filter(|c| c.is_ascii_digit()).count();
        e - s >= 14 && digits >= 4 && token.iter().any(u8::is_ascii_alphabetic) && !kept(s, e)
    };
    let part = start + b[start..end].iter().take_while(|&&c| c != b'.').count();
    let is_word = |label: &[u8]| {
        label.iter().filter(|c| c.is_ascii_alphabetic()).count() >= 2
            && label.iter().all(|&c| c.is_ascii_alphabetic() || c == b'-')
    };
    let host_name = part < end && b[part + 1..end].split(|&c| c == b'.').any(is_word);
    if !host_name && is_id(start, end) {
        return Some((start, end));
    }
    (part < end && is_id(start, part)).then_some((start, part))
}

/// The host that answered, as Postfix names it: `host NAME[ip] said:`,
/// `connect to NAME[ip]:25: …`, `lost connection with NAME[ip]`,
/// `conversation with NAME[ip]`, or a delivery line's `relay=NAME[ip]`.
/// Its name tells which receiver answered; it is never evidence of a listing.
pub(crate) fn relay_host(text: &str) -> Option<&str> {
    // Postfix's, Exim's (`H=NAME [ip]`) and Google's NDR ("Recipient
    // server: NAME SMTP response") ways of naming the host that answered.
    const MARKERS: [&str; 8] = [
        "host ",
        "host: ",
        "connect to ",
        "lost connection with ",
        "conversation with ",
        "relay=",
        "H=",
        "Recipient server: ",
    ];
    MARKERS.iter().find_map(|m| {
        // Every occurrence of the marker, as `match_indices` would give them.
        let mut from = 0;
        while let Some(at) = text::find_from(text, m, from) {
            from = at + m.len();
            let rest = &text[from..];
            let len = rest.bytes().take_while(|&c| is_domain(c)).count();
            let after = rest.as_bytes().get(len..).unwrap_or_default();
            let named = after.starts_with(b"[")
                || after.starts_with(b" [")
                || after.starts_with(b" (")
                || (m.ends_with(": ") && after.starts_with(b" "));
            if len > 0 && named && rest[..len].contains('.') {
                return Some(&rest[..len]);
            }
        }
        None
    })
}

/// The domains of the addresses in `text` (`local@DOMAIN`).
pub(crate) fn address_domains(text: &str) -> impl Iterator<Item = &str> {
    text.match_indices('@').filter_map(|(at, _)| {
        let rest = &text[at + 1..];
        let len = rest.bytes().take_while(|&c| is_domain(c)).count();
        let domain = rest[..len].trim_end_matches('.');
        (at > 0 && text.as_bytes()[at - 1] != b' ' && domain.contains('.')).then_some(domain)
    })
}

fn looks_like_ip(token: &str) -> bool {
    let token = token.trim_end_matches(['.', ':']);
    (token.matches('.').count() == 3 && token.parse::<std::net::Ipv4Addr>().is_ok())
        || (token.matches(':').count() >= 2 && token.parse::<std::net::Ipv6Addr>().is_ok())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_blanked_with_their_brackets() {
        assert_eq!(
            mask_addresses("550 5.1.1 <abuse@spamhaus.org>: Recipient address rejected: User unknown"),
            "550 5.1.1 <address>: Recipient address rejected: User unknown"
        );
        assert_eq!(mask_addresses("mail to listed@barracuda.example. bye"), "mail to <address>. bye");
        assert_eq!(mask_addresses("see AUP#CXBL @ cox"), "see AUP#CXBL @ cox");
        assert_eq!(mask_addresses("user@localhost only"), "user@localhost only");
        assert_eq!(mask_addresses("€@€.€ äx@b.c"), "€@€.€ ä<address>");
    }

    /// [`mask_addresses`] as it was, stepping over every byte to find each `@`.
    fn mask_addresses_by_bytes(text: &str) -> String {
        let b = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'@' {
                i += 1;
                continue;
            }
            let start = i - b[copied..i].iter().rev().take_while(|&&c| is_local(c)).count();
            let mut end = i + 1 + b[i + 1..].iter().take_while(|&&c| is_domain(c)).count();
            while end > i + 1 && b[end - 1] == b'.' {
                end -= 1;
            }
            if start == i || !b[i + 1..end].contains(&b'.') {
                i += 1;
                continue;
            }
            let (start, end) = if start > 0 && b[start - 1] == b'<' && b.get(end) == Some(&b'>') {
                (start - 1, end + 1)
            } else {
                (start, end)
            };
            out.push_str(&text[copied..start]);
            out.push_str(ADDRESS);
            copied = end;
            i = end;
        }
        out.push_str(&text[copied..]);
        out
    }

    proptest::proptest! {
        /// Addresses, glued and repeated `@`s, brackets, trailing dots.
        #[test]
        fn address_masking_agrees_with_the_byte_loop(text in "[ab.@<> é\\-x]{0,40}") {
            proptest::prop_assert_eq!(mask_addresses(&text), mask_addresses_by_bytes(&text));
        }
    }

    #[test]
    fn the_answering_host_is_found_in_every_postfix_shape() {
        let line = "to=<a@t-online.de>, relay=mx00.t-online.de[194.25.134.8]:25, status=deferred (connect to \
                    mx00.t-online.de[194.25.134.8]:25: Connection timed out)";
        assert_eq!(relay_host(line), Some("mx00.t-online.de"));
        assert_eq!(relay_host("host mx.example[192.0.2.1] said: 550 no"), Some("mx.example"));
        assert_eq!(relay_host("Client host [192.0.2.1] blocked"), None);
        assert_eq!(relay_host("relay=none, delay=1"), None);
    }

    fn key(masked: &str, keep: &[(usize, usize)]) -> (String, Slots) {
        let (codes, _) = super::super::reply::codes_and_text(masked);
        let (mut key, mut slots) = (String::new(), Slots::new());
        let kept = |start: usize, end: usize| keep.iter().any(|&(s, e)| s < end && start < e);
        let start = cache_key(masked, kept, &codes, &mut key, &mut slots);
        assert_eq!(key.as_bytes()[start - 1], b'|');
        (key, slots)
    }

    #[test]
    fn cache_keys_blank_what_varies_and_keep_codes() {
        let (a, slots) = key("421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred - 4.16.55.1", &[]);
        let (b, _) = key("421 4.7.0 [TSS04] Messages from 198.51.100.7 temporarily deferred - 4.16.55.1", &[]);
        assert_eq!(a, b);
        assert!(a.starts_with("421|4.7.0|") && a.contains("[TSS04]"));
        assert_eq!(slots, [(32, 41), (65, 74)]);
        assert_ne!(key("(S3150)", &[]).0, key("(S3140)", &[]).0);
        // Letters then digits are a code (Comcast's BL000010), not an id.
        assert_eq!(key("BL000010 id 1234567", &[]).0, "||BL000010 id #");
        assert_eq!(key("from [2001:db8::7] ok", &[]).0, "||from [#] ok");
    }

    #[test]
    fn cache_keys_write_codes_as_formatting_does() {
        let (mut key, mut slots) = (String::new(), Slots::new());
        for basic in [0, 7, 99, 100, 250, 421, 550, 599, 999, 1000, u16::MAX] {
            let codes = ReplyCodes { basic: Some(basic), enhanced: Some("5.7.1") };
            let start = cache_key("x", |_, _| false, &codes, &mut key, &mut slots);
            assert_eq!(key, format!("{basic}|5.7.1|x"));
            assert_eq!(start, key.len() - 1);
        }
    }

    #[test]
    fn cache_keys_blank_tracking_ids_but_not_host_names_or_kept_needles() {
        let gmail = "550 5.7.1 blocked. d75a77b69052e-3a0b9f0a1b2si1234567qtb.44 - gsmtp";
        assert_eq!(key(gmail, &[]).0, "550|5.7.1|550 5.7.1 blocked. # - gsmtp");
        let microsoft = "550 5.7.1 (S3150). [DB5EUR03FT27A5.eurprd04.prod.protection.outlook.com \
                         2026-03-03T09:14:22.231Z 08DC3B0A1F2E4D55]";
        assert_eq!(key(microsoft, &[]).0, "550|5.7.1|550 5.7.1 (S3150). [#.eurprd04.prod.protection.outlook.com # #]");
        assert_eq!(key("x 08DC3B0A1F2E4D55.eu-smtp-1.mimecast.example y", &[]).0, "||x #.eu-smtp-1.mimecast.example y");
        // `AS(201806281)` is a needle: blanking its number would merge it with any other AS(…).
        let text = "550 5.4.1 Access denied. AS(201806281) and AS(201806282)";
        let at = text.find("AS(201806281)").unwrap();
        assert_eq!(key(text, &[(at, at + 13)]).0, "550|5.4.1|550 5.4.1 Access denied. AS(201806281) and AS(#)");
    }
}
