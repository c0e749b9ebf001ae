//! The signature table (`signatures.toml`) compiled for matching: one
//! Aho-Corasick automaton over every row's literal needles picks the candidate
//! rows in a single pass, and only those rows' regexes run. A 50 MB log has
//! millions of delivery lines; most replies touch a handful of rows.
//!
//! The file format and the precedence rules are documented at the top of
//! `signatures.toml`.

use std::net::IpAddr;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex::Regex;
use serde::Deserialize;

use super::reply::{codes_and_text, extract_reply, first_named_ip};
use super::{Classification, Family};

/// Why a signature table could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The TOML does not parse or has unknown keys.
    #[error("signature table: {0}")]
    Toml(#[from] toml::de::Error),
    /// A row's regex does not compile.
    #[error("signature {id:?}: bad pattern: {source}")]
    Pattern {
        /// The row's `id`.
        id: String,
        /// The regex error.
        source: regex::Error,
    },
    /// A row is malformed (no needles, unknown `code` source, bad status code).
    #[error("signature {id:?}: {reason}")]
    Invalid {
        /// The row's `id` (or the status code).
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The needle automaton could not be built.
    #[error("signature needles: {0}")]
    Needles(#[from] aho_corasick::BuildError),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    #[serde(default)]
    keyed_zone: Vec<KeyedZone>,
    #[serde(default)]
    signature: Vec<RawSignature>,
    #[serde(default)]
    status: Vec<RawStatus>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyedZone {
    suffix: String,
    keep: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSignature {
    id: String,
    provider: Option<String>,
    family: Option<Family>,
    needles: Vec<String>,
    pattern: Option<String>,
    code: Option<String>,
    temporary: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatus {
    code: String,
    family: Family,
}

#[derive(Debug)]
struct Signature {
    provider: Option<String>,
    family: Option<Family>,
    pattern: Option<Regex>,
    /// Whether the pattern has named groups worth a `captures` call.
    captures: bool,
    code_from_enhanced: bool,
    temporary: Option<bool>,
}

/// A compiled signature table.
#[derive(Debug)]
pub struct Table {
    signatures: Vec<Signature>,
    /// `None` only for the empty table.
    needles: Option<AhoCorasick>,
    /// Needle index → signature index.
    owner: Vec<usize>,
    keyed_zones: Vec<KeyedZone>,
    /// (class, subject, detail) with `None` as the `*` wildcard.
    status: Vec<([Option<u16>; 3], Family)>,
}

impl Table {
    /// Compiles a table from its TOML text.
    pub fn from_toml(text: &str) -> Result<Self, SignatureError> {
        let raw: RawTable = toml::from_str(text)?;
        let mut signatures = Vec::with_capacity(raw.signature.len());
        let mut patterns = Vec::new();
        let mut owner = Vec::new();
        for (index, row) in raw.signature.into_iter().enumerate() {
            let invalid = |reason: &str| SignatureError::Invalid { id: row.id.clone(), reason: reason.to_string() };
            if row.needles.is_empty() || row.needles.iter().any(String::is_empty) {
                return Err(invalid("needs at least one non-empty needle"));
            }
            let code_from_enhanced = match row.code.as_deref() {
                None => false,
                Some("enhanced") => true,
                Some(_) => return Err(invalid("`code` can only be \"enhanced\"")),
            };
            let pattern = match &row.pattern {
                Some(p) => {
                    Some(Regex::new(p).map_err(|source| SignatureError::Pattern { id: row.id.clone(), source })?)
                }
                None => None,
            };
            let captures = pattern.as_ref().is_some_and(|re| re.capture_names().flatten().next().is_some());
            for needle in &row.needles {
                patterns.push(needle.clone());
                owner.push(index);
            }
            signatures.push(Signature {
                provider: row.provider,
                family: row.family,
                pattern,
                captures,
                code_from_enhanced,
                temporary: row.temporary,
            });
        }
        let needles =
            AhoCorasickBuilder::new().ascii_case_insensitive(true).match_kind(MatchKind::Standard).build(&patterns)?;
        let status = raw
            .status
            .into_iter()
            .map(|s| {
                let parts: Vec<&str> = s.code.split('.').collect();
                let parse = |p: &str| if p == "*" { Ok(None) } else { p.parse::<u16>().map(Some) };
                match parts.as_slice() {
                    [a, b, c] => match (parse(a), parse(b), parse(c)) {
                        (Ok(a), Ok(b), Ok(c)) => Ok(([a, b, c], s.family)),
                        _ => Err(SignatureError::Invalid { id: s.code.clone(), reason: "bad status code".into() }),
                    },
                    _ => {
                        Err(SignatureError::Invalid { id: s.code.clone(), reason: "status code needs 3 parts".into() })
                    }
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Table { signatures, needles: Some(needles), owner, keyed_zones: raw.keyed_zone, status })
    }

    /// A table without signatures: every reply is `other`, temporary from its code.
    pub fn empty() -> Self {
        Table { signatures: Vec::new(), needles: None, owner: Vec::new(), keyed_zones: Vec::new(), status: Vec::new() }
    }

    /// How many signature rows the table has.
    pub fn len(&self) -> usize {
        self.signatures.len()
    }

    /// Whether the table has no signature rows.
    pub fn is_empty(&self) -> bool {
        self.signatures.is_empty()
    }

    /// Classifies a reply text or a whole delivery log line.
    pub fn classify(&self, text: &str) -> Classification {
        let reply = extract_reply(text);
        let (codes, flat) = codes_and_text(&reply);
        let mut candidate = vec![false; self.signatures.len()];
        if let Some(needles) = &self.needles {
            for m in needles.find_overlapping_iter(flat.as_str()) {
                if let Some(&sig) = self.owner.get(m.pattern().as_usize()) {
                    candidate[sig] = true;
                }
            }
        }
        let mut out = Classification::default();
        let mut family = None;
        let mut temporary_default = None;
        for (sig, _) in self.signatures.iter().zip(&candidate).filter(|(_, c)| **c) {
            let caps = match &sig.pattern {
                None => None,
                Some(re) if sig.captures => match re.captures(&flat) {
                    Some(caps) => Some(caps),
                    None => continue,
                },
                Some(re) if re.is_match(&flat) => None,
                Some(_) => continue,
            };
            family = family.or(sig.family);
            if out.provider.is_none() {
                out.provider.clone_from(&sig.provider);
            }
            let group = |name: &str| caps.as_ref().and_then(|c| c.name(name)).map(|m| m.as_str());
            if out.code.is_none() {
                out.code = group("code").map(str::to_string);
                if out.code.is_none() && sig.code_from_enhanced {
                    out.code.clone_from(&codes.enhanced);
                }
            }
            if out.zone.is_none() {
                out.zone = group("zone").map(|z| self.normalise_zone(z));
            }
            if out.ip.is_none() {
                out.ip = group("ip").and_then(|ip| ip.parse::<IpAddr>().ok());
            }
            temporary_default = temporary_default.or(sig.temporary);
        }
        out.family = family.or_else(|| self.status_family(codes.enhanced.as_deref())).unwrap_or(Family::Other);
        out.ip = out.ip.or_else(|| first_named_ip(&flat));
        out.temporary = codes.temporary().or(temporary_default);
        out
    }

    /// Lowercases a zone and drops a customer key label (`<key>.zen.dq.spamhaus.net`).
    fn normalise_zone(&self, zone: &str) -> String {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        for keyed in &self.keyed_zones {
            if zone.ends_with(&keyed.suffix) {
                let labels: Vec<&str> = zone.split('.').collect();
                if labels.len() > keyed.keep {
                    return labels[labels.len() - keyed.keep..].join(".");
                }
            }
        }
        zone
    }

    fn status_family(&self, enhanced: Option<&str>) -> Option<Family> {
        let parts: Vec<u16> = enhanced?.split('.').filter_map(|p| p.parse().ok()).collect();
        let [a, b, c] = parts.as_slice() else { return None };
        self.status.iter().find_map(|(pattern, family)| {
            let fits = pattern.iter().zip([a, b, c]).all(|(p, v)| p.is_none_or(|p| p == *v));
            fits.then_some(*family)
        })
    }
}
