//! Finding short literal markers (`" said: "`, `"relay="`) in one reply.
//!
//! `str::find` with a `&str` builds a Two-Way searcher on every call, which
//! costs more than searching a 250-byte reply; classification looks for a
//! dozen markers per reply, and a third of a compromised host's deliveries
//! are replies (measured: 9 % of classification's instructions went to
//! building searchers). These functions look for the marker's rarest byte
//! (with memchr) and compare the rest there.
//! Results are exactly `str::find`'s and `str::rfind`'s.

/// How common a byte is in replies: lower is rarer.
const fn commonness(b: u8) -> u8 {
    match b {
        b':' | b'=' | b'(' | b')' | b'[' | b']' | b'#' | b';' | b'<' | b'>' | b'@' | b'_' | b'|' => 0,
        b'A'..=b'Z' | b'0'..=b'9' => 1,
        b'j' | b'q' | b'x' | b'z' | b'k' | b'v' | b'w' | b'y' | b'f' | b'b' | b'g' | b'p' => 2,
        b'a'..=b'z' => 3,
        _ => 4,
    }
}

/// The index of the rarest byte of `needle` (the first of the rarest). Stops
/// at the first byte of the rarest kind: most markers have punctuation early.
/// A `const fn`, so that a [`Marker`] has it from compile time.
const fn anchor(needle: &[u8]) -> usize {
    let (mut best, mut rarity) = (0, u8::MAX);
    let mut i = 0;
    while i < needle.len() {
        let c = commonness(needle[i]);
        if c < rarity {
            (best, rarity) = (i, c);
            if c == 0 {
                break;
            }
        }
        i += 1;
    }
    best
}

/// A marker with its anchor byte worked out once: at compile time when it
/// is a `const` (the search for `"SMTP error from remote mail"`'s rarest
/// byte cost more than the search itself, on every reply).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Marker {
    text: &'static str,
    anchor: usize,
}

impl Marker {
    pub(crate) const fn new(text: &'static str) -> Marker {
        Marker { text, anchor: anchor(text.as_bytes()) }
    }

    /// Its length in bytes.
    pub(crate) const fn len(&self) -> usize {
        self.text.len()
    }
}

/// Where `marker` first occurs in `haystack`.
pub(crate) fn find_marker(haystack: &str, marker: &Marker) -> Option<usize> {
    find_anchored(haystack, marker.text, marker.anchor, 0)
}

/// Where `marker` first occurs in `haystack` at or after byte `from`.
pub(crate) fn find_marker_from(haystack: &str, marker: &Marker, from: usize) -> Option<usize> {
    find_anchored(haystack, marker.text, marker.anchor, from)
}

/// Where `needle` first occurs in `haystack` (as `haystack.find(needle)`).
pub(crate) fn find(haystack: &str, needle: &str) -> Option<usize> {
    find_from(haystack, needle, 0)
}

/// Where `needle` first occurs in `haystack` at or after byte `from`.
pub(crate) fn find_from(haystack: &str, needle: &str, from: usize) -> Option<usize> {
    find_anchored(haystack, needle, anchor(needle.as_bytes()), from)
}

/// [`find_from`] with the needle's anchor `a` given.
fn find_anchored(haystack: &str, needle: &str, a: usize, from: usize) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return (from <= h.len()).then_some(from);
    }
    let last = h.len().checked_sub(n.len())?;
    if !n[a].is_ascii() {
        return haystack.get(from..)?.find(needle).map(|i| i + from);
    }
    // Where the anchor byte is searched from. An ASCII byte is never inside
    // a character, so the bytes are searched as they are (memchr's SIMD
    // search; `str::find` with a `char` took twice the instructions).
    let mut pos = from + a;
    while pos <= last + a {
        let at = pos + memchr::memchr(n[a], h.get(pos..)?)? - a;
        if at > last {
            return None;
        }
        if &h[at..at + n.len()] == n {
            return Some(at);
        }
        pos = at + a + 1;
    }
    None
}

/// Where `needle` last occurs in `haystack` (as `haystack.rfind(needle)`).
pub(crate) fn rfind(haystack: &str, needle: &str) -> Option<usize> {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    if n.is_empty() {
        return Some(h.len());
    }
    let a = anchor(n);
    let mut end = h.len().checked_sub(n.len())?; // the last start still possible
    loop {
        // Backwards from the end with memchr's SIMD search: the marker
        // Postfix ends a reply with is often absent, and then every byte
        // of the reply was looked at one by one.
        let at = memchr::memrchr(n[a], &h[a..=end + a])?;
        if &h[at..at + n.len()] == n {
            return Some(at);
        }
        end = at.checked_sub(1)?;
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn markers_find_what_needles_find() {
        const SAID: Marker = Marker::new(" said: ");
        let hay = "host mx.example[192.0.2.1] said: 550 no said: again";
        assert_eq!(find_marker(hay, &SAID), find(hay, " said: "));
        assert_eq!(find_marker_from(hay, &SAID, 30), find_from(hay, " said: ", 30));
        assert_eq!(SAID.len(), 7);
    }

    proptest! {
        #[test]
        fn always_what_str_finds(hay in "[ab: é]{0,40}", needle in "[ab: é]{0,4}", from in 0usize..8) {
            prop_assert_eq!(find(&hay, &needle), hay.find(needle.as_str()));
            prop_assert_eq!(rfind(&hay, &needle), hay.rfind(needle.as_str()));
            if hay.is_char_boundary(from.min(hay.len())) {
                let from = from.min(hay.len());
                prop_assert_eq!(find_from(&hay, &needle, from), hay[from..].find(needle.as_str()).map(|i| i + from));
            }
        }
    }

    #[test]
    fn finds_what_str_finds() {
        let hay = "host mx.example[192.0.2.1] said: 550 no (in reply to RCPT TO command) said: again";
        for needle in [" said: ", "said", "host ", "again", " (in reply to ", "x", "", "nothing", "again!", "h"] {
            assert_eq!(find(hay, needle), hay.find(needle), "{needle:?}");
            assert_eq!(rfind(hay, needle), hay.rfind(needle), "{needle:?}");
        }
        assert_eq!(find_from(hay, " said: ", 30), Some(69));
        assert_eq!(find("ab", "abc"), None);
        assert_eq!(rfind("ab", "abc"), None);
        assert_eq!(find("aaa", "aa"), Some(0));
        assert_eq!(rfind("aaa", "aa"), Some(1));
        assert_eq!(find("€ said: €", " said: "), Some(3));
    }
}
