//! The cache key against the plain version it replaced (`cache_key_plain`,
//! the byte loop as it was before the pass skipped bytes), on the labelled
//! corpus and on generated text, and its behaviour on real replies.
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::mask::mask_addresses;
use crate::reply::{codes_and_text, extract_reply};
use crate::{BUILTIN_SIGNATURES, Table};

/// The key as it was: every byte of a token with a digit visited, both
/// runs counted at each, every hex run handed to the address parser.
fn cache_key_plain(
    masked: &str,
    kept: impl Fn(usize, usize) -> bool,
    codes: &ReplyCodes,
    key: &mut String,
    slots: &mut Slots,
) -> usize {
    let text_start = start_key(codes, key, slots);
    let b = masked.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        // Tokens without a digit (most words) have nothing to blank: one
        // pass finds a token's end and whether it holds a digit.
        if PLAIN_CLASS[usize::from(b[i])] & PLAIN_ID == 0 {
            i += 1;
            continue;
        }
        let mut token_end = i;
        let mut seen = 0;
        while let Some(&c) = b.get(token_end) {
            let class = PLAIN_CLASS[usize::from(c)];
            if class & PLAIN_ID == 0 {
                break;
            }
            seen |= class;
            token_end += 1;
        }
        if seen & PLAIN_DIGIT == 0 {
            i = token_end;
            continue;
        }
        // A whole token first: an id, or an id before the dots of a kept name.
        let mut at = i;
        if let Some((start, end)) = id_in_plain(b, i, token_end, &kept) {
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

/// `PLAIN_CLASS` bit: a character of a token that may be an id (ASCII
/// alphanumerics and `.:-_`).
const PLAIN_ID: u8 = 1;
/// `PLAIN_CLASS` bit: an ASCII digit.
const PLAIN_DIGIT: u8 = 2;

/// Each byte's class bits: a table lookup per byte instead of a chain of
/// comparisons, in the loop that every byte of every reply goes through.
static PLAIN_CLASS: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let byte = c as u8;
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b':' | b'-' | b'_') {
            table[c] |= PLAIN_ID;
        }
        if byte.is_ascii_digit() {
            table[c] |= PLAIN_DIGIT;
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
fn id_in_plain(b: &[u8], start: usize, end: usize, kept: &impl Fn(usize, usize) -> bool) -> Option<(usize, usize)> {
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

/// Both keys of `masked` with `kept`, and both slot lists.
fn both(masked: &str, kept: impl Fn(usize, usize) -> bool + Copy) -> ((String, Slots), (String, Slots)) {
    let (codes, _) = codes_and_text(masked);
    let (mut fast, mut fast_slots, mut plain, mut plain_slots) =
        (String::new(), Slots::new(), String::new(), Slots::new());
    let a = cache_key(masked, kept, &codes, &mut fast, &mut fast_slots);
    let b = cache_key_plain(masked, kept, &codes, &mut plain, &mut plain_slots);
    assert_eq!(a, b);
    ((fast, fast_slots), (plain, plain_slots))
}

/// Every reply of the labelled corpus (`agent/tests/corpus/bounces`), cut
/// and masked as classification does, with the built-in table's kept needles.
#[test]
fn the_key_is_the_plain_key_on_every_corpus_reply() {
    let table = Table::from_toml(BUILTIN_SIGNATURES).unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(dir.join("bounces")).unwrap().map(|e| e.unwrap().path()).collect();
    files.push(dir.join("bounces.tsv"));
    let mut replies = 0;
    for file in files.iter().filter(|f| f.extension().is_some_and(|e| e == "tsv")) {
        for line in std::fs::read_to_string(file).unwrap().lines().filter(|l| !l.starts_with('#')) {
            let Some(text) = line.rsplit('\t').next() else { continue };
            let reply = extract_reply(text);
            let (_, flat) = codes_and_text(&reply);
            let masked = mask_addresses(&flat);
            let (fast, plain) = both(&masked, &table.verbatim(&masked));
            assert_eq!(fast, plain, "{text}");
            replies += 1;
        }
    }
    assert!(replies > 600, "{replies}");
}

/// Words, hex, digits, address literals, ids and host names, glued in any order.
const PIECES: &str = "([0-9a-fA-FxzT.:_ \\-\\[\\]()é]|192\\.0\\.2\\.12|2001:db8::7|::1|[0-9]{3,9}|[0-9A-F]{14,18}|\\.example|\\.prod|AS\\(201806281\\)){0,24}";

proptest! {
    #[test]
    fn the_key_is_the_plain_key(text in PIECES, kept_at in 0usize..60, kept_len in 0usize..16) {
        let kept = |s: usize, e: usize| kept_len > 0 && s < kept_at + kept_len && kept_at < e;
        let (fast, plain) = both(&text, kept);
        prop_assert_eq!(fast, plain);
    }

    #[test]
    fn the_key_is_the_plain_key_on_any_text(text in ".{0,80}") {
        let (fast, plain) = both(&text, |_, _| false);
        prop_assert_eq!(fast, plain);
    }
}

fn key(masked: &str, keep: &[(usize, usize)]) -> (String, Slots) {
    let (codes, _) = codes_and_text(masked);
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
