//! The verdict cache's key: a reply with what varies from one message to
//! the next blanked, so that one verdict serves a whole outbreak of the
//! same refusal.
//!
//! It runs on every refused delivery, hit or miss: on an outbreak log it
//! was the costliest step of classification (about 4,100 instructions per
//! reply). So the pass over a token visits only the bytes where something
//! can start (see [`blank_in_token`]), rules out short tokens as ids before
//! looking at their labels, and counts an address candidate's dots and
//! colons as it reads it, so the address parser only sees candidates with
//! the right number of them. `key/tests.rs` holds it to the plain version
//! it replaces, on the labelled corpus and on generated text.
//!
//! The key works on bytes and only cuts at ASCII positions, so no input can
//! make it slice inside a character.

use std::fmt::Write as _;

use super::reply::ReplyCodes;

/// Where a [`cache_key`] blanked something: byte ranges of the masked reply.
pub(crate) type Slots = Vec<(usize, usize)>;

/// The reply with what varies between messages blanked, written to `key`:
/// IP literals, runs of five or more digits not right after a letter, and
/// long tokens that mix digits and letters (receivers' tracking ids,
/// timestamps, hex correlation ids) become `#`, and where each was is
/// pushed to `slots`. Shorter numbers stay, because they are what codes are
/// made of (`S3150`, `TSS04`, `5.7.606`), and so does anything `kept` says
/// to keep: the table's needles that would themselves be blanked
/// (`AS(201806281)`), asked about only where something would be blanked.
/// The table's needles are matched on the key's text, never inside a
/// blanked part: an id or an IP literal is not a word, and so two replies
/// with one key always have the same candidate rows and named providers.
/// The reply's codes lead the key; the returned offset is where the reply's
/// text starts in it. Expects a text whose addresses are already masked.
pub(crate) fn cache_key(
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
        if seen & DIGIT != 0 {
            let mut blank = |start: usize, end: usize| {
                key.push_str(&masked[copied..start]);
                key.push('#');
                slots.push((start, end));
                copied = end;
            };
            // A whole token first: an id, or an id before the dots of a kept name.
            let mut at = i;
            if let Some((start, end)) = id_in(b, i, token_end, &kept) {
                blank(start, end);
                at = end;
            }
            // Then IP literals and long numbers inside it.
            blank_in_token(masked, at, token_end, &kept, &mut blank);
        }
        i = token_end;
    }
    key.push_str(&masked[copied..]);
    text_start
}

/// Blanks the IP literals and the runs of five or more digits in
/// `at..token_end` of one token, left to right.
///
/// An IP literal starts only where a token could (after a byte that is no
/// letter, digit, `.` or `:`), and a long number only after a byte that is
/// no letter; inside a run of letters neither can, so such runs are
/// stepped over, and a run of digits that is neither is skipped whole, so
/// its tail is not taken for a new one. Each blanked part ends inside the
/// token (its bytes are all token bytes).
fn blank_in_token(
    masked: &str,
    mut at: usize,
    token_end: usize,
    kept: &impl Fn(usize, usize) -> bool,
    blank: &mut impl FnMut(usize, usize),
) {
    let b = masked.as_bytes();
    while at < token_end {
        let c = b[at];
        let prev = if at == 0 { 0 } else { CLASS[usize::from(b[at - 1])] };
        if prev & GLUED == 0 && CLASS[usize::from(c)] & IP_START != 0 {
            let (len, plausible) = ip_run(&b[at..token_end]);
            if plausible && looks_like_ip(&masked[at..at + len]) && !kept(at, at + len) {
                blank(at, at + len);
                at += len;
                continue;
            }
        }
        if c.is_ascii_digit() {
            let digits = b[at..token_end].iter().take_while(|c| c.is_ascii_digit()).count();
            if digits >= 5 && prev & ALPHA == 0 && !kept(at, at + digits) {
                blank(at, at + digits);
            }
            at += digits;
            continue;
        }
        at += 1;
    }
}

/// The length of the run of hex digits, `.` and `:` that starts `rest`,
/// and whether it can be an IP literal at all: once the dots and colons
/// that end it are dropped, three dots (IPv4) or at least two colons (IPv6)
/// must be left, which [`looks_like_ip`] checks first too.
fn ip_run(rest: &[u8]) -> (usize, bool) {
    let len = rest.iter().take_while(|&&c| CLASS[usize::from(c)] & IP_CHAR != 0).count();
    let trimmed = len - rest[..len].iter().rev().take_while(|&&c| c == b'.' || c == b':').count();
    let (mut dots, mut colons) = (0, 0);
    for &c in &rest[..trimmed] {
        dots += usize::from(c == b'.');
        colons += usize::from(c == b':');
    }
    (len, dots == 3 || colons >= 2)
}

/// [`CLASS`] bit: a character of a token that may be an id (ASCII
/// alphanumerics and `.:-_`).
const ID: u8 = 1;
/// [`CLASS`] bit: an ASCII digit.
const DIGIT: u8 = 2;
/// [`CLASS`] bit: an ASCII letter.
const ALPHA: u8 = 4;
/// [`CLASS`] bit: a byte after which no IP literal starts (ASCII
/// alphanumerics, `.`, `:`).
const GLUED: u8 = 8;
/// [`CLASS`] bit: a byte an IP literal may start with (hex digits, `:`).
const IP_START: u8 = 16;
/// [`CLASS`] bit: a byte of an IP literal (hex digits, `.`, `:`).
const IP_CHAR: u8 = 32;

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
        if byte.is_ascii_alphabetic() {
            table[c] |= ALPHA;
        }
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b':') {
            table[c] |= GLUED;
        }
        if byte.is_ascii_hexdigit() || byte == b':' {
            table[c] |= IP_START;
        }
        if byte.is_ascii_hexdigit() || matches!(byte, b'.' | b':') {
            table[c] |= IP_CHAR;
        }
        c += 1;
    }
    table
};

/// The shortest id: fewer bytes are a code or a word, never blanked whole.
const MIN_ID: usize = 14;

/// The id that starts at `start` in the token `start..end`: the whole token
/// if it is one, unless it is a host name (a later dot-separated label is a
/// word) or a kept range overlaps it; then its first dot-separated part if
/// that is one (`08DC3B0A1F2E4D55` in
/// `08DC3B0A1F2E4D55.eu-smtp-1.mimecast.example`). A tracking id with a
/// numeric tail (`…si1234567qtb.44`) is blanked whole.
fn id_in(b: &[u8], start: usize, end: usize, kept: &impl Fn(usize, usize) -> bool) -> Option<(usize, usize)> {
    // Both candidates lie within the token: a short one holds neither
    // (most tokens with a digit: codes, short numbers, IP literals).
    if end - start < MIN_ID {
        return None;
    }
    let is_id = |s: usize, e: usize| {
        let (mut digits, mut letters) = (0, 0);
        for &c in &b[s..e] {
            let class = CLASS[usize::from(c)];
            digits += usize::from(class & DIGIT != 0);
            letters += usize::from(class & ALPHA != 0);
        }
        e - s >= MIN_ID && digits >= 4 && letters > 0 && !kept(s, e)
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

fn looks_like_ip(token: &str) -> bool {
    let token = token.trim_end_matches(['.', ':']);
    (token.matches('.').count() == 3 && token.parse::<std::net::Ipv4Addr>().is_ok())
        || (token.matches(':').count() >= 2 && token.parse::<std::net::Ipv6Addr>().is_ok())
}

/// Empties `key` and `slots` and writes the reply's codes, which lead the
/// key; returns where the reply's text starts.
fn start_key(codes: &ReplyCodes, key: &mut String, slots: &mut Slots) -> usize {
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
    key.len()
}

#[cfg(test)]
mod tests;
