//! Return-code patterns and the per-zone decoding of A records.
//!
//! A pattern is written in one of three forms:
//!
//! - exact: `127.0.0.2`
//! - range (inclusive, low end first): `127.0.0.5-127.0.0.7`
//! - bitmask on the last octet: `127.0.0.0&4` matches every answer `127.0.0.x`
//!   whose last octet has all the bits of 4 set (the base's last octet must be 0).
//!
//! Every pattern lies inside 127.0.0.0/8. Decoding one A record:
//!
//! 1. outside 127.0.0.0/8 → error (parked or hijacked zones answer with public addresses);
//! 2. an error pattern matches → error (error codes win over everything);
//! 3. an exact code matches → its meaning;
//! 4. else a range matches (ranges never overlap: checked at load) → its meaning;
//! 5. else every bitmask entry that matches contributes its meaning, in data order,
//!    joined by "; " (bits no entry knows are reported as "unknown bits N");
//! 6. else "unknown code 127.0.0.x", a listing except in allowlists.
//!
//! So the most specific form wins (exact over range over bitmask), and the result never
//! depends on the order of overlapping entries.

use std::fmt;
use std::net::Ipv4Addr;

use super::{Decoded, ZoneKind};

/// One parsed return-code pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pattern {
    Exact(Ipv4Addr),
    Range(Ipv4Addr, Ipv4Addr),
    Bits { prefix: [u8; 3], mask: u8 },
}

impl Pattern {
    pub(crate) fn parse(text: &str) -> Result<Pattern, String> {
        let text = text.trim();
        let addr = |s: &str| -> Result<Ipv4Addr, String> {
            s.trim().parse::<Ipv4Addr>().map_err(|_| format!("\"{s}\" in code \"{text}\" is not an IPv4 address"))
        };
        let pattern = if let Some((base, mask)) = text.split_once('&') {
            let base = addr(base)?;
            let [a, b, c, d] = base.octets();
            if d != 0 {
                return Err(format!(
                    "bitmask code \"{text}\": the base's last octet must be 0 (write {a}.{b}.{c}.0&MASK)"
                ));
            }
            let mask: u8 = mask
                .trim()
                .parse()
                .map_err(|_| format!("bitmask code \"{text}\": the mask must be a number from 1 to 255"))?;
            if mask == 0 {
                return Err(format!("bitmask code \"{text}\": the mask must not be 0"));
            }
            Pattern::Bits { prefix: [a, b, c], mask }
        } else if let Some((low, high)) = text.split_once('-') {
            let (low, high) = (addr(low)?, addr(high)?);
            if low >= high {
                return Err(format!("range code \"{text}\": the low end must come first and differ from the high end"));
            }
            Pattern::Range(low, high)
        } else {
            Pattern::Exact(addr(text)?)
        };
        if !pattern.in_loopback() {
            return Err(format!("code \"{text}\" is outside 127.0.0.0/8: only answers inside it can be listings"));
        }
        Ok(pattern)
    }

    fn in_loopback(&self) -> bool {
        match *self {
            Pattern::Exact(a) => a.octets()[0] == 127,
            Pattern::Range(low, high) => low.octets()[0] == 127 && high.octets()[0] == 127,
            Pattern::Bits { prefix, .. } => prefix[0] == 127,
        }
    }

    pub(crate) fn matches(&self, ip: Ipv4Addr) -> bool {
        match *self {
            Pattern::Exact(a) => a == ip,
            Pattern::Range(low, high) => low <= ip && ip <= high,
            Pattern::Bits { prefix, mask } => {
                let [a, b, c, d] = ip.octets();
                [a, b, c] == prefix && d & mask == mask
            }
        }
    }

    fn overlaps(&self, other: &Pattern) -> bool {
        let bounds = |p: &Pattern| match *p {
            Pattern::Exact(a) => Some((a, a)),
            Pattern::Range(low, high) => Some((low, high)),
            Pattern::Bits { .. } => None,
        };
        match (bounds(self), bounds(other)) {
            (Some((l1, h1)), Some((l2, h2))) => l1 <= h2 && l2 <= h1,
            _ => false,
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Exact(a) => write!(f, "{a}"),
            Pattern::Range(low, high) => write!(f, "{low}-{high}"),
            Pattern::Bits { prefix: [a, b, c], mask } => write!(f, "{a}.{b}.{c}.0&{mask}"),
        }
    }
}

/// A code with its meaning and whether it is a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) pattern: Pattern,
    pub(crate) meaning: String,
    pub(crate) listed: bool,
}

/// The decoding table of one zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CodeTable {
    pub(crate) codes: Vec<Entry>,
    pub(crate) errors: Vec<Entry>,
}

impl CodeTable {
    /// Checks the table: no duplicate exact codes or bitmasks, no overlapping
    /// ranges, no code that an error code would hide.
    pub(crate) fn new(codes: Vec<Entry>, errors: Vec<Entry>) -> Result<CodeTable, String> {
        for (i, a) in codes.iter().enumerate() {
            for b in &codes[i + 1..] {
                let clash = match (a.pattern, b.pattern) {
                    (Pattern::Exact(x), Pattern::Exact(y)) => x == y,
                    (Pattern::Range(..), Pattern::Range(..)) => a.pattern.overlaps(&b.pattern),
                    (Pattern::Bits { .. }, Pattern::Bits { .. }) => a.pattern == b.pattern,
                    _ => false,
                };
                if clash {
                    return Err(format!("codes \"{}\" and \"{}\" overlap", a.pattern, b.pattern));
                }
            }
            if let Some(e) = errors.iter().find(|e| match a.pattern {
                Pattern::Exact(x) => e.pattern.matches(x),
                _ => e.pattern == a.pattern,
            }) {
                return Err(format!("code \"{}\" is hidden by error code \"{}\"", a.pattern, e.pattern));
            }
        }
        for (i, a) in errors.iter().enumerate() {
            if let Some(b) = errors[i + 1..].iter().find(|b| a.pattern == b.pattern) {
                return Err(format!("error code \"{}\" is given twice", b.pattern));
            }
        }
        Ok(CodeTable { codes, errors })
    }

    /// Decodes the A records of one positive answer (see the module doc for the rules).
    pub(crate) fn decode(&self, kind: ZoneKind, answers: &[Ipv4Addr]) -> Decoded {
        if answers.is_empty() {
            return Decoded::Error {
                code: Ipv4Addr::UNSPECIFIED,
                meaning: "a positive answer without any A record".into(),
            };
        }
        for &code in answers {
            if code.octets()[0] != 127 {
                return Decoded::Error {
                    code,
                    meaning: format!(
                        "answer {code} is outside 127.0.0.0/8: not a blocklist answer (the zone may be parked, \
                         hijacked or broken)"
                    ),
                };
            }
            if let Some(e) = self.errors.iter().find(|e| e.pattern.matches(code)) {
                return Decoded::Error { code, meaning: e.meaning.clone() };
            }
        }
        let mut any_listed = false;
        let mut meanings = Vec::with_capacity(answers.len());
        for &code in answers {
            let (meaning, listed) = self.lookup(kind, code);
            any_listed |= listed;
            meanings.push(meaning);
        }
        let codes = answers.to_vec();
        if any_listed { Decoded::Listed { codes, meanings } } else { Decoded::NotListed { codes, meanings } }
    }

    fn lookup(&self, kind: ZoneKind, code: Ipv4Addr) -> (String, bool) {
        let exact = self.codes.iter().find(|e| matches!(e.pattern, Pattern::Exact(a) if a == code));
        let range = || self.codes.iter().find(|e| matches!(e.pattern, Pattern::Range(..)) && e.pattern.matches(code));
        if let Some(e) = exact.or_else(range) {
            return (e.meaning.clone(), e.listed);
        }
        let bits: Vec<&Entry> = self
            .codes
            .iter()
            .filter(|e| matches!(e.pattern, Pattern::Bits { .. }) && e.pattern.matches(code))
            .collect();
        let unknown_listed = kind != ZoneKind::Allow;
        if bits.is_empty() {
            return (format!("unknown code {code}"), unknown_listed);
        }
        let known = bits.iter().fold(0u8, |acc, e| match e.pattern {
            Pattern::Bits { mask, .. } => acc | mask,
            _ => acc,
        });
        let mut parts: Vec<String> = bits.iter().map(|e| e.meaning.clone()).collect();
        let mut listed = bits.iter().any(|e| e.listed);
        let unknown = code.octets()[3] & !known;
        if unknown != 0 {
            parts.push(format!("unknown bits {unknown}"));
            listed |= unknown_listed;
        }
        (parts.join("; "), listed)
    }
}

#[cfg(test)]
mod tests;
