//! Small text helpers shared by the MTA parsers. Hand-written instead of
//! regexes because they run on every line of multi-gigabyte logs.

use std::net::IpAddr;

/// Parses an address as MTAs print it: plain, or with Postfix's `IPv6:` prefix.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.strip_prefix("IPv6:").unwrap_or(s);
    s.parse().ok()
}

/// Splits Postfix's `name[ip]` or `name[ip]:port` into the name and the address.
pub(crate) fn host_and_ip(s: &str) -> (&str, Option<IpAddr>) {
    match s.find('[') {
        Some(open) => {
            let inner = &s[open + 1..];
            let ip = inner.find(']').and_then(|close| parse_ip(&inner[..close]));
            (&s[..open], ip)
        }
        None => (s, None),
    }
}

/// For `s` starting with `<`, returns the text up to the matching `>` and the
/// rest after it. Postfix quotes odd local parts (`<"a b"@x>`), so the
/// closing `>` is the first one followed by the end, a comma or a space.
pub(crate) fn take_angle(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('<')?;
    let bytes = inner.as_bytes();
    let mut i = 0;
    while let Some(off) = find_byte(&inner[i..], b'>') {
        let at = i + off;
        match bytes.get(at + 1) {
            None | Some(b',' | b' ' | b';' | b')') => return Some((&inner[..at], &inner[at + 1..])),
            _ => i = at + 1,
        }
    }
    None
}

/// `s` without `prefix` (ASCII), compared case-insensitively. Never slices
/// inside a character: `s` is log text and may hold anything at that length.
pub(crate) fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.as_bytes().get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix.as_bytes()) {
        return None;
    }
    s.get(prefix.len()..)
}

/// The value of `key<...>` (e.g. `from=<`) in `s`, searching from the end so
/// that a reason quoting an address does not confuse it.
pub(crate) fn angle_value<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let at = s.rfind(key)?;
    take_angle(s.get(at + key.len().saturating_sub(1)..)?).map(|(v, _)| v)
}

/// The value after `key` up to the next `", "` (or the end). `key` is
/// ASCII of two bytes or more (`", size="`): its first occurrence is found
/// by its first two bytes ([`find_pair`]) rather than a substring searcher,
/// which costs more to build than to run on a log line.
pub(crate) fn comma_value<'a>(s: &'a str, key: &str) -> Option<&'a str> {
    let at = match key.as_bytes() {
        &[first, second, ..] if first.is_ascii() => {
            let mut from = 0;
            loop {
                let at = from + find_pair(s.get(from..)?, first, second)?;
                if s.as_bytes()[at..].starts_with(key.as_bytes()) {
                    break at;
                }
                from = at + 1;
            }
        }
        _ => s.find(key)?,
    };
    let v = s.get(at + key.len()..)?;
    Some(find_pair(v, b',', b' ').map_or(v, |end| &v[..end]))
}

/// Where the two ASCII bytes `first second` (`first` below 0x80) first occur
/// in `s`. A plain loop: the parsers look for the end of a short field
/// (`relay=…, `, `program[pid]: `), a few dozen bytes away, where a memchr
/// call costs more to set up than the loop costs to run (measured: a fifth
/// of the time of a Postfix delivery line went to memchr calls).
pub(crate) fn find_pair(s: &str, first: u8, second: u8) -> Option<usize> {
    // A match starts with an ASCII byte, so it is a char boundary.
    s.as_bytes().windows(2).position(|w| w[0] == first && w[1] == second)
}

/// Where the ASCII byte `byte` first occurs in `s` (a char boundary); a
/// plain loop, for the same reason as [`find_pair`].
pub(crate) fn find_byte(s: &str, byte: u8) -> Option<usize> {
    s.as_bytes().iter().position(|&b| b == byte)
}

/// What follows the last `/` of a program tag (`postfix/submission/smtpd`
/// → `smtpd`), or the whole tag. A loop from the end: tags are short.
pub(crate) fn last_component(program: &str) -> &str {
    match program.as_bytes().iter().rposition(|&b| b == b'/') {
        Some(slash) => &program[slash + 1..],
        None => program,
    }
}

/// Splits a leading run of ASCII digits off `s` and parses it.
pub(crate) fn leading_number<T: std::str::FromStr>(s: &str) -> Option<(T, &str)> {
    let end = s.bytes().take_while(u8::is_ascii_digit).count();
    if end == 0 {
        return None;
    }
    let (digits, rest) = s.split_at_checked(end)?;
    Some((digits.parse().ok()?, rest))
}

pub(crate) use rblfleet_bounce::smtp::{enhanced_code, reply_code};

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn angles() {
        assert_eq!(take_angle("<a@b>, relay=x"), Some(("a@b", ", relay=x")));
        assert_eq!(take_angle("<\"x>y\"@b>, r"), Some(("\"x>y\"@b", ", r")));
        assert_eq!(take_angle("<>"), Some(("", "")));
        assert_eq!(angle_value("x; from=<a@b> to=<c@d> proto=ESMTP", "to=<"), Some("c@d"));
    }

    #[test]
    fn codes() {
        assert_eq!(enhanced_code("5.7.1 x"), Some("5.7.1"));
        assert_eq!(enhanced_code("4.7.650 x"), Some("4.7.650"));
        assert_eq!(enhanced_code("5.x"), None);
        assert_eq!(reply_code("550-5.7.1"), Some(550));
        assert_eq!(reply_code("5501"), None);
        assert_eq!(host_and_ip("mx.example[192.0.2.1]:25"), ("mx.example", Some("192.0.2.1".parse().unwrap())));
    }
}
