//! What in a reply is a name rather than a statement.
//!
//! [`mask_addresses`]: an e-mail address says who the mail was for, never
//! why it was refused. `<abuse@spamhaus.example>: User unknown` is a
//! recipient refusal, so addresses are blanked before any wording is
//! matched (issue 12: names are not evidence). The parts that merely vary
//! from one message to the next are the cache key's business (`key.rs`).
//!
//! Masking works on bytes and only cuts at ASCII positions, so no input can
//! make it slice inside a character.

use std::borrow::Cow;

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
}
