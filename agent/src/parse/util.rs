//! Small text helpers shared by the MTA parsers. Hand-written instead of
//! regexes because they run on every line of multi-gigabyte logs.

use std::net::{IpAddr, Ipv4Addr};

/// Parses an address as MTAs print it: plain, or with Postfix's `IPv6:` prefix.
pub(crate) fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.strip_prefix("IPv6:").unwrap_or(s);
    parse_addr(s)
}

/// `s.parse::<IpAddr>().ok()`, with dotted quads read by [`ipv4`]: std's
/// parser tries IPv4 and IPv6 through a generic reader and cost about 230
/// instructions per relay (an outbreak log parses one per delivery line,
/// twice).
pub(crate) fn parse_addr(s: &str) -> Option<IpAddr> {
    let b = s.as_bytes();
    if b.iter().all(|&c| c.is_ascii_digit() || c == b'.') {
        // Without a `:` it cannot be IPv6: std would try IPv4 only.
        return ipv4(b).map(IpAddr::V4);
    }
    s.parse().ok()
}

/// A dotted quad exactly as std reads one: four decimal octets of one to
/// three digits, no leading zero (`01` is refused: it could be octal), each
/// at most 255, nothing before or after.
fn ipv4(b: &[u8]) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut value = 0u32;
        while i - start < 3
            && let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit())
        {
            value = value * 10 + u32::from(c - b'0');
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || (digits > 1 && b[start] == b'0') {
            return None;
        }
        *octet = u8::try_from(value).ok()?;
    }
    (i == b.len()).then_some(Ipv4Addr::from(octets))
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
/// in `s`. The parsers look for the end of a short field (`relay=…, `,
/// `program[pid]: `) a few dozen bytes away, where a memchr call costs more
/// to set up than the search (measured: a fifth of a Postfix delivery
/// line's time went to memchr calls), and a byte-at-a-time loop was the
/// largest cost of syslog parsing: eight bytes are tested at a time
/// ([`first_in_word`]).
pub(crate) fn find_pair(s: &str, first: u8, second: u8) -> Option<usize> {
    // A match starts with an ASCII byte, so it is a char boundary.
    let b = s.as_bytes();
    let mut at = 0;
    while let Some(word) = b.get(at..at + 8) {
        let mut hits = first_in_word(word, first);
        while hits != 0 {
            let i = at + (hits.trailing_zeros() / 8) as usize;
            if b[i] == first && b.get(i + 1) == Some(&second) {
                return Some(i);
            }
            hits &= hits - 1;
        }
        at += 8;
    }
    let tail = b.get(at..)?;
    tail.windows(2).position(|w| w[0] == first && w[1] == second).map(|i| at + i)
}

/// Where the ASCII byte `byte` first occurs in `s` (a char boundary); eight
/// bytes at a time, for the same reason as [`find_pair`].
pub(crate) fn find_byte(s: &str, byte: u8) -> Option<usize> {
    let b = s.as_bytes();
    let mut at = 0;
    while let Some(word) = b.get(at..at + 8) {
        let hits = first_in_word(word, byte);
        // Candidates above a true match may be false; the lowest one that
        // is the byte is the first occurrence.
        let mut rest = hits;
        while rest != 0 {
            let i = at + (rest.trailing_zeros() / 8) as usize;
            if b[i] == byte {
                return Some(i);
            }
            rest &= rest - 1;
        }
        at += 8;
    }
    b.get(at..)?.iter().position(|&c| c == byte).map(|i| at + i)
}

/// The high bit of each byte of `word` (eight bytes, little-endian) that
/// may equal `byte`: every byte that does is flagged; a byte after one that
/// does may be flagged too (the borrow of the classic zero-byte test), so
/// callers check each candidate.
fn first_in_word(word: &[u8], byte: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(word);
    let x = u64::from_le_bytes(bytes) ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGH
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
    fn word_searches_find_what_a_plain_loop_finds() {
        let naive_pair = |s: &str, a: u8, b: u8| s.as_bytes().windows(2).position(|w| w[0] == a && w[1] == b);
        let naive_byte = |s: &str, a: u8| s.bytes().position(|c| c == a);
        let mut rng = fastrand::Rng::with_seed(7);
        // Short alphabets make matches, near-matches and runs common; a
        // byte just below the one searched for exercises the borrow.
        let alphabet = [b':', b' ', b'9', b';', b'a', 0x80, 0xff, 0x01];
        for _ in 0..20_000 {
            let len = rng.usize(0..40);
            let bytes: Vec<u8> = (0..len).map(|_| alphabet[rng.usize(..alphabet.len())]).collect();
            let s = String::from_utf8_lossy(&bytes);
            assert_eq!(find_pair(&s, b':', b' '), naive_pair(&s, b':', b' '), "{s:?}");
            assert_eq!(find_pair(&s, b';', b':'), naive_pair(&s, b';', b':'), "{s:?}");
            assert_eq!(find_byte(&s, b':'), naive_byte(&s, b':'), "{s:?}");
            assert_eq!(find_byte(&s, b'9'), naive_byte(&s, b'9'), "{s:?}");
        }
        assert_eq!(find_pair("postfix/smtp[1023]: 4A: to=<a>", b':', b' '), Some(18));
        assert_eq!(find_byte("web01 postfix", b' '), Some(5));
    }

    #[test]
    fn addresses_parse_as_std_parses_them() {
        let mut rng = fastrand::Rng::with_seed(12);
        // Digits and dots make near-quads (leading zeros, 256, 4 digits,
        // missing or extra octets); `:` and letters reach IPv6 and junk.
        let alphabet = b"0123456789.....:af";
        for _ in 0..200_000 {
            let len = rng.usize(0..20);
            let bytes: Vec<u8> = (0..len).map(|_| alphabet[rng.usize(..alphabet.len())]).collect();
            let s = String::from_utf8_lossy(&bytes);
            assert_eq!(parse_addr(&s), s.parse::<IpAddr>().ok(), "{s:?}");
        }
        for s in ["192.0.2.1", "0.0.0.0", "255.255.255.255", "256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.", "", "1..2.3"]
        {
            assert_eq!(parse_addr(s), s.parse::<IpAddr>().ok(), "{s:?}");
        }
        // Random octets, so that valid quads are common too.
        for _ in 0..20_000 {
            let s = format!("{}.{}.{}.{}", rng.u16(0..300), rng.u8(..), rng.u8(..), rng.u16(0..1000));
            assert_eq!(parse_addr(&s), s.parse::<IpAddr>().ok(), "{s:?}");
        }
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
