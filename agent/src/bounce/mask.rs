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
    while i < b.len() {
        if b[i] != b'@' {
            i += 1;
            continue;
        }
        let start = i - b[..i].iter().rev().take_while(|&&c| is_local(c)).count();
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

/// The reply with what varies between messages blanked: IP literals and runs
/// of five or more digits become `#`. Shorter numbers stay, because they are
/// what codes are made of (`S3150`, `TSS04`, `5.7.606`). Expects a text whose
/// addresses are already masked.
pub(crate) fn cache_key(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let starts_token = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || matches!(b[i - 1], b'.' | b':'));
        let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        let len = if starts_token && (c.is_ascii_hexdigit() || c == b':') {
            b[i..].iter().take_while(|&&c| c.is_ascii_hexdigit() || matches!(c, b'.' | b':')).count()
        } else {
            0
        };
        let end = if len > 0 && looks_like_ip(&text[i..i + len]) {
            i + len
        } else if digits >= 5 {
            i + digits
        } else {
            // Skip the whole run of digits, so its tail is not taken for a new one.
            i += digits.max(1);
            continue;
        };
        out.push_str(&text[copied..i]);
        out.push('#');
        copied = end;
        i = end;
    }
    out.push_str(&text[copied..]);
    out
}

/// The host that answered, as Postfix names it: `host NAME[ip] said:`,
/// `connect to NAME[ip]:25: …`, `lost connection with NAME[ip]`,
/// `conversation with NAME[ip]`, or a delivery line's `relay=NAME[ip]`.
/// Its name tells which receiver answered; it is never evidence of a listing.
pub(crate) fn relay_host(text: &str) -> Option<&str> {
    const MARKERS: [&str; 5] = ["host ", "connect to ", "lost connection with ", "conversation with ", "relay="];
    MARKERS.iter().find_map(|marker| {
        text.match_indices(marker).find_map(|(at, m)| {
            let rest = &text[at + m.len()..];
            let len = rest.bytes().take_while(|&c| is_domain(c)).count();
            (len > 0 && rest.as_bytes().get(len) == Some(&b'[') && rest[..len].contains('.')).then(|| &rest[..len])
        })
    })
}

fn looks_like_ip(token: &str) -> bool {
    let token = token.trim_end_matches(['.', ':']);
    (token.matches('.').count() == 3 && token.parse::<std::net::Ipv4Addr>().is_ok())
        || (token.matches(':').count() >= 2 && token.parse::<std::net::Ipv6Addr>().is_ok())
}

#[cfg(test)]
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

    #[test]
    fn the_answering_host_is_found_in_every_postfix_shape() {
        let line = "to=<a@t-online.de>, relay=mx00.t-online.de[194.25.134.8]:25, status=deferred (connect to \
                    mx00.t-online.de[194.25.134.8]:25: Connection timed out)";
        assert_eq!(relay_host(line), Some("mx00.t-online.de"));
        assert_eq!(relay_host("host mx.example[192.0.2.1] said: 550 no"), Some("mx.example"));
        assert_eq!(relay_host("Client host [192.0.2.1] blocked"), None);
        assert_eq!(relay_host("relay=none, delay=1"), None);
    }

    #[test]
    fn cache_keys_blank_what_varies_and_keep_codes() {
        let a = cache_key("421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred - 4.16.55.1");
        let b = cache_key("421 4.7.0 [TSS04] Messages from 198.51.100.7 temporarily deferred - 4.16.55.1");
        assert_eq!(a, b);
        assert!(a.contains("[TSS04]"));
        assert_ne!(cache_key("(S3150)"), cache_key("(S3140)"));
        assert_eq!(cache_key("BL000010 id 1234567"), "BL# id #");
        assert_eq!(cache_key("from [2001:db8::7] ok"), "from [#] ok");
    }
}
