//! Mutations of whole real lines: what a log really gets wrong (a cut line,
//! a flipped byte, Latin-1 or binary in a header, a 1 MB line, CR and NUL)
//! and what an attacker puts in the fields a sender controls (multi-byte
//! characters, separators, huge numbers, duplicated or swapped fields).

/// Characters of 2, 3 and 4 bytes and zero-width ones, where parsers look
/// for ASCII separators.
const CHARS: &[&str] = &["€", "ä", "𝄞", "\u{200d}", "\u{fffd}", "\u{301}", "中", "é", "\u{feff}", "ß", "😀"];

/// Byte sequences that are not UTF-8: lone continuation and lead bytes,
/// truncated sequences, an overlong `/`, a surrogate, 0xff.
const INVALID: &[&[u8]] = &[
    b"\xff",
    b"\x80",
    b"\xc3",
    b"\xe2\x82",
    b"\xf0\x9d\x84",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf8\x88\x80\x80\x80",
    b"\xfe\xff",
];

const CONTROLS: &[&[u8]] = &[b"\0", b"\r", b"\t", b"\n", b"\r\n", b"\x1b[31m", b"\x7f", b"\x0b"];

/// The bytes the parsers split on.
const SEPARATORS: &[u8] = b":[]<>=;, ()/@\t_-#.\"'{}";

/// Numbers that overflow or surprise the integer parsers.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "4294967295",
    "4294967296",
    "9223372036854775807",
    "18446744073709551616",
    "99999999999999999999999999",
    "00000000000",
    "+1",
    "1e9",
    "7fffffffffffffff",
    "ffffffffffffffffffffffff",
];

/// Markers the parsers search for, spliced in where they do not belong.
const TOKENS: &[&str] = &[
    "from=<",
    "to=<",
    ">, ",
    ", status=",
    ", relay=",
    ", dsn=",
    ", size=",
    ", nrcpt=",
    ", sasl_username=",
    " said: ",
    "refused to talk to me: ",
    " (in reply to ",
    "; from=<",
    ">: ",
    " from ",
    ": ",
    "warning: header ",
    "X-PHP-Originating-Script: ",
    "milter-reject: ",
    "NOQUEUE: reject: ",
    "delivery 1: failure: ",
    "Remote_host_said:_",
    "Diagnostic-Code: smtp;",
    "(#5.7.1)",
    "550-5.7.1 ",
    "5.7.",
    " qp ",
    " uid ",
    " logged in from ",
    " during call '",
    "SMTP-OU\t",
    "#Fields: date",
    "{\"MESSAGE\":",
    "[ID 1 mail.info] ",
    "<13>",
    "@4000000",
    "blocked using ",
    "zen.spamhaus.org",
    "[203.0.113.5]",
    "[::1]",
    "[2001:db8::",
    "removed",
];

/// A deterministic source of mutants.
#[derive(Debug)]
pub struct Mutator {
    rng: fastrand::Rng,
}

impl Mutator {
    pub fn new(seed: u64) -> Mutator {
        Mutator { rng: fastrand::Rng::with_seed(seed) }
    }

    pub fn rng(&mut self) -> &mut fastrand::Rng {
        &mut self.rng
    }

    /// Writes into `out` a mutant of `seed` (one to three mutations;
    /// `other` is a second real line for splices).
    pub fn mutate(&mut self, seed: &[u8], other: &[u8], out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(seed);
        // New queue ids and message numbers half the time, so that the
        // tracker sees many messages and its bound is reached.
        if self.rng.bool() {
            self.fresh_id(out);
        }
        for _ in 0..1 + self.rng.usize(0..3) {
            self.once(other, out);
        }
    }

    /// Rewrites one run of 5+ alphanumerics (a queue id, a message or
    /// delivery number, a pid) with random characters of the same kinds.
    fn fresh_id(&mut self, out: &mut [u8]) {
        let from = self.rng.usize(0..=out.len());
        let mut i = from;
        while i < out.len() {
            let len = out[i..].iter().take_while(|c| c.is_ascii_alphanumeric()).count();
            if len >= 5 {
                for c in &mut out[i..i + len] {
                    *c = match *c {
                        b'0'..=b'9' => self.rng.u8(b'0'..=b'9'),
                        b'A'..=b'F' => self.rng.u8(b'A'..=b'F'),
                        b'a'..=b'z' => self.rng.u8(b'a'..=b'z'),
                        _ => self.rng.u8(b'A'..=b'Z'),
                    };
                }
                return;
            }
            i += len + 1;
        }
    }

    /// A line made only of separators and spaces.
    pub fn separators_only(&mut self, out: &mut Vec<u8>) {
        out.clear();
        let len = self.rng.usize(0..300);
        let pool = if self.rng.bool() { &b":[<=; "[..] } else { SEPARATORS };
        out.extend((0..len).map(|_| pool[self.rng.usize(0..pool.len())]));
    }

    /// `out` repeated (or padded with one of its ranges) to about `len` bytes.
    pub fn lengthen(&mut self, out: &mut Vec<u8>, len: usize) {
        if out.is_empty() {
            out.push(b'x');
        }
        let (a, b) = self.range(out.len());
        let unit: Vec<u8> = if b > a { out[a..b].to_vec() } else { out.clone() };
        while out.len() < len {
            out.extend_from_slice(&unit);
        }
    }

    fn once(&mut self, other: &[u8], out: &mut Vec<u8>) {
        let at = self.rng.usize(0..=out.len());
        match self.rng.u32(0..19) {
            0 => {
                if let Some(b) = out.get_mut(at) {
                    *b ^= 1 << self.rng.u32(0..8);
                }
            }
            1 => {
                if let Some(b) = out.get_mut(at) {
                    *b = self.rng.u8(..);
                }
            }
            2 => out.truncate(at),
            3 => splice(out, at, self.pick(INVALID)),
            4 => {
                let c = self.pick(CHARS).as_bytes();
                splice(out, at, c);
            }
            5 => {
                // Right where a parser expects its ASCII: replace one byte.
                let c = self.pick(CHARS).as_bytes();
                if at < out.len() {
                    out.splice(at..at + 1, c.iter().copied());
                }
            }
            6 => splice(out, at, self.pick(CONTROLS)),
            7 => {
                let (a, b) = self.field(out);
                let copy = out[a..b].to_vec();
                splice(out, b, &copy);
            }
            8 => {
                let (a, b) = self.field(out);
                out.drain(a..b);
            }
            9 => self.swap_fields(out),
            10 => {
                let from = self.rng.usize(0..=other.len());
                out.truncate(at);
                out.extend_from_slice(&other[from..]);
            }
            11 => self.replace_number(out),
            12 => {
                let token = self.pick(TOKENS).as_bytes();
                splice(out, at, token);
            }
            13 => {
                let (a, b) = self.range(out.len());
                out.drain(a..b);
            }
            14 => {
                let (a, b) = self.range(out.len());
                let unit = out[a..b].to_vec();
                // Long lines are made apart (`lengthen`): stay under 64 KiB here.
                let room = (64usize << 10).saturating_sub(out.len()) / unit.len().max(1);
                let times = self.rng.usize(1..64).min(room);
                let repeated = unit.repeat(times);
                splice(out, b, &repeated);
            }
            15 => {
                let c = SEPARATORS[self.rng.usize(0..SEPARATORS.len())];
                let n = self.rng.usize(1..40);
                splice(out, at, &vec![c; n]);
            }
            16 => {
                if let Some(b) = out.get_mut(at) {
                    *b = b"0123456789abcdefABCDEF"[self.rng.usize(0..22)];
                }
            }
            17 => {
                let (a, b) = self.range(out.len());
                for c in &mut out[a..b] {
                    *c = if c.is_ascii_lowercase() { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() };
                }
            }
            _ => {
                // A multi-byte character at a character boundary (so the text
                // stays valid UTF-8 and reaches the parsers intact).
                let mut at = at.min(out.len());
                while at > 0 && at < out.len() && out[at] & 0xc0 == 0x80 {
                    at -= 1;
                }
                let c = self.pick(CHARS).as_bytes();
                splice(out, at, c);
            }
        }
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.rng.usize(0..from.len())]
    }

    /// A random range `a..b` of `0..len`, short more often than long.
    fn range(&mut self, len: usize) -> (usize, usize) {
        let a = self.rng.usize(0..=len);
        let max = if self.rng.u8(0..4) == 0 { len - a } else { (len - a).min(16) };
        (a, a + self.rng.usize(0..=max))
    }

    /// A field: the bytes between two separators around a random position.
    fn field(&mut self, out: &[u8]) -> (usize, usize) {
        let at = self.rng.usize(0..=out.len());
        let is_sep = |c: &u8| SEPARATORS.contains(c) || *c == b' ';
        let a = out[..at].iter().rposition(is_sep).map_or(0, |p| p + 1);
        let b = out[at..].iter().position(is_sep).map_or(out.len(), |p| at + p + 1);
        (a, b)
    }

    fn swap_fields(&mut self, out: &mut Vec<u8>) {
        let (a1, b1) = self.field(out);
        let (a2, b2) = self.field(out);
        let ((a1, b1), (a2, b2)) = if a1 <= a2 { ((a1, b1), (a2, b2)) } else { ((a2, b2), (a1, b1)) };
        if b1 > a2 {
            return; // overlapping
        }
        let mut swapped = Vec::with_capacity(out.len());
        swapped.extend_from_slice(&out[..a1]);
        swapped.extend_from_slice(&out[a2..b2]);
        swapped.extend_from_slice(&out[b1..a2]);
        swapped.extend_from_slice(&out[a1..b1]);
        swapped.extend_from_slice(&out[b2..]);
        *out = swapped;
    }

    /// Replaces a run of digits (found from a random position on) by a
    /// number that overflows or surprises.
    fn replace_number(&mut self, out: &mut Vec<u8>) {
        let from = self.rng.usize(0..=out.len());
        let Some(start) = out[from..].iter().position(u8::is_ascii_digit).map(|p| from + p) else { return };
        let end = start + out[start..].iter().take_while(|c| c.is_ascii_digit()).count();
        let number = self.pick(NUMBERS).as_bytes();
        out.splice(start..end, number.iter().copied());
    }
}

fn splice(out: &mut Vec<u8>, at: usize, bytes: &[u8]) {
    let at = at.min(out.len());
    out.splice(at..at, bytes.iter().copied());
}
