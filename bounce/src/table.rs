//! The signature table (`signatures.toml`) compiled for matching: one
//! Aho-Corasick automaton over every row's and every provider's literal
//! needles picks the candidate rows and the named providers in a single pass
//! ([`Table::scan`]), and only the candidates' regexes run. A 50 MB log has
//! millions of delivery lines; most replies touch a handful of rows.
//!
//! The file format and the precedence rules are documented at the top of
//! `signatures.toml`.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use serde::Deserialize;

use super::cache::VerdictCache;
use super::key::{Slots, cache_key};
use super::mask::{address_domains, mask_addresses, relay_host};
use super::reply::{ReplyCodes, codes_and_text, extract_reply};
pub(super) use super::verdict::{Decision, IpFrom, Trace};
use super::{Classification, Family};

/// Why a signature table could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SignatureError {
    /// The TOML does not parse or has unknown keys.
    /// (The message prints the cause, so none of these is also a `source`:
    /// `{:#}` would print it twice.)
    #[error("signature table: {0}")]
    Toml(toml::de::Error),
    /// A row's regex does not compile.
    #[error("signature {id:?}: bad pattern: {cause}")]
    Pattern {
        /// The row's `id`.
        id: String,
        /// The regex error.
        cause: Box<meta::BuildError>,
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
    Needles(aho_corasick::BuildError),
}

impl From<toml::de::Error> for SignatureError {
    fn from(e: toml::de::Error) -> Self {
        SignatureError::Toml(e)
    }
}

impl From<aho_corasick::BuildError> for SignatureError {
    fn from(e: aho_corasick::BuildError) -> Self {
        SignatureError::Needles(e)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    #[serde(default)]
    keyed_zone: Vec<KeyedZone>,
    #[serde(default)]
    provider: Vec<RawProvider>,
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

/// A name: who said so, never what was said.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProvider {
    id: String,
    role: Role,
    needles: Vec<String>,
}

/// A list operator named in the text outranks the receiver that relays its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Role {
    Operator,
    Receiver,
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
    #[serde(default)]
    no_reply: bool,
    why: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStatus {
    code: String,
    family: Family,
}

#[derive(Debug)]
pub(super) struct Signature {
    pub(super) provider: Option<String>,
    family: Option<Family>,
    pub(super) pattern: Option<Pattern>,
    pub(super) code_from_enhanced: bool,
    temporary: Option<bool>,
    no_reply: bool,
}

/// A row's regex, compiled when first needed, with ASCII semantics.
///
/// Patterns are matched on bytes with Unicode off: `(?i)` folds ASCII
/// letters, and `\w`, `\d`, `\s`, `\b` are ASCII. Every built-in pattern is
/// ASCII, and with Unicode classes and case folding compiling the table's 55
/// patterns took 30-60 ms of a 60 MB scan (7 % of an outbreak log's
/// instructions), against 10 ms now; the DFAs are smaller too. A capture
/// that would cut a multi-byte character is not read (see
/// [`Decision::apply`]).
///
/// The built-in table compiles each pattern on first use
/// ([`Table::builtin`]): a log needs only the rows its replies touch. A
/// table from a file compiles all of them up front, to report a bad one
/// ([`Table::from_toml`]), and so does the unit test that loads the built-in
/// table, so a broken built-in pattern cannot ship.
#[derive(Debug)]
pub(super) struct Pattern {
    source: String,
    /// The regex and whether it has named groups worth a `captures` call;
    /// `None` if it does not compile (only possible for the built-in table
    /// if its test was skipped: the row then never matches).
    compiled: OnceLock<Option<(Regex, bool)>>,
}

impl Pattern {
    fn new(source: String) -> Pattern {
        Pattern { source, compiled: OnceLock::new() }
    }

    /// Compiled as ASCII over bytes, like `regex::bytes` with Unicode off,
    /// but without prefilters or a full DFA: literal extraction and the DFA
    /// were 60 % of the compile time (2.6 M instructions per pattern, 5 % of
    /// an outbreak log's scan), and a pattern only runs on a reply whose
    /// needles already matched, once per new wording (the lazy DFA serves).
    fn compile(source: &str) -> Result<(Regex, bool), Box<meta::BuildError>> {
        let re = Regex::builder()
            .syntax(syntax::Config::new().unicode(false).utf8(false))
            .configure(Regex::config().auto_prefilter(false).dfa(false).utf8_empty(false))
            .build(source)
            .map_err(Box::new)?;
        let captures = re.group_info().all_names().any(|(_, _, name)| name.is_some());
        Ok((re, captures))
    }

    fn compiled(&self) -> Option<&(Regex, bool)> {
        self.compiled
            .get_or_init(|| match Pattern::compile(&self.source) {
                Ok(compiled) => Some(compiled),
                Err(e) => {
                    tracing::error!(pattern = %self.source, error = %e, "a built-in bounce signature does not compile; its row never matches");
                    None
                }
            })
            .as_ref()
    }

    /// The regex (`None`: it does not compile, the row never matches).
    pub(super) fn regex(&self) -> Option<&Regex> {
        self.compiled().map(|(re, _)| re)
    }

    /// The regex, if it has named groups worth a `captures` call.
    pub(super) fn capturing(&self) -> Option<&Regex> {
        self.compiled().filter(|(_, captures)| *captures).map(|(re, _)| re)
    }
}

/// What a needle belongs to.
#[derive(Debug, Clone, Copy)]
enum Owner {
    Signature(usize),
    Provider(usize),
}

/// What [`Table::scan`] found in a reply.
#[derive(Debug, Default)]
pub(super) struct Scan {
    /// Per signature row: one of its needles occurs.
    pub(super) candidates: Vec<bool>,
    /// The provider the reply names: the lowest index (operators first).
    pub(super) named: Option<usize>,
}

/// A compiled signature table.
#[derive(Debug)]
pub struct Table {
    pub(super) signatures: Vec<Signature>,
    /// Every signature needle, then every provider needle; `None` only for
    /// the empty table.
    needles: Option<AhoCorasick>,
    /// Needle index → its row.
    owner: Vec<Owner>,
    /// The needles a cache key would blank (`AS(201806281)`), kept verbatim
    /// in it so they still match, and the longest one's length; `None` when
    /// there are none.
    verbatim: Option<Verbatim>,
    keyed_zones: Vec<KeyedZone>,
    /// Provider ids, operators first, then receivers, each in file order:
    /// the lowest index found in a text wins.
    providers: Vec<(String, Role)>,
    /// One automaton over the provider needles alone (for the answering
    /// host and the whole line); `None` only for the empty table.
    provider_needles: Option<AhoCorasick>,
    /// Provider needle index → provider index.
    provider_owner: Vec<usize>,
    /// (class, subject, detail) with `None` as the `*` wildcard.
    status: Vec<([Option<u16>; 3], Family)>,
}

impl Table {
    /// Compiles a table from its TOML text, every pattern at once.
    pub fn from_toml(text: &str) -> Result<Self, SignatureError> {
        Table::load(text, true)
    }

    /// The table of `text`, each pattern compiled on first use (see
    /// [`Pattern`]): for the built-in table, which a unit test compiles whole.
    pub(super) fn builtin(text: &str) -> Result<Self, SignatureError> {
        Table::load(text, false)
    }

    fn load(text: &str, eager: bool) -> Result<Self, SignatureError> {
        let raw: RawTable = toml::from_str(text)?;
        let mut signatures = Vec::with_capacity(raw.signature.len());
        let mut patterns = Vec::new();
        let mut owner = Vec::new();
        for (index, row) in raw.signature.into_iter().enumerate() {
            let invalid = |reason: &str| SignatureError::Invalid { id: row.id.clone(), reason: reason.to_string() };
            if row.needles.is_empty() || row.needles.iter().any(String::is_empty) {
                return Err(invalid("needs at least one non-empty needle"));
            }
            // A row that says "listing" must say why (issue 12): the reason is
            // what a reviewer checks against the provider's documentation.
            if matches!(row.family, Some(Family::Ip | Family::Domain)) && row.why.as_deref().is_none_or(str::is_empty) {
                return Err(invalid("an ip or domain row needs a `why`"));
            }
            if row.no_reply && row.family != Some(Family::Transient) {
                return Err(invalid("a no_reply row is transient"));
            }
            let code_from_enhanced = match row.code.as_deref() {
                None => false,
                Some("enhanced") => true,
                Some(_) => return Err(invalid("`code` can only be \"enhanced\"")),
            };
            let pattern = row.pattern.map(Pattern::new);
            if eager && let Some(p) = &pattern {
                let compiled = Pattern::compile(&p.source)
                    .map_err(|cause| SignatureError::Pattern { id: row.id.clone(), cause })?;
                let _ = p.compiled.set(Some(compiled));
            }
            for needle in &row.needles {
                patterns.push(needle.clone());
                owner.push(Owner::Signature(index));
            }
            signatures.push(Signature {
                provider: row.provider,
                family: row.family,
                pattern,
                code_from_enhanced,
                temporary: row.temporary,
                no_reply: row.no_reply,
            });
        }
        let mut rows = raw.provider;
        rows.sort_by_key(|row| row.role != Role::Operator);
        let (mut providers, mut provider_patterns, mut provider_owner) = (Vec::new(), Vec::new(), Vec::new());
        for (index, row) in rows.into_iter().enumerate() {
            if row.needles.is_empty() || row.needles.iter().any(String::is_empty) {
                return Err(SignatureError::Invalid {
                    id: row.id,
                    reason: "needs at least one non-empty needle".into(),
                });
            }
            provider_owner.extend(std::iter::repeat_n(index, row.needles.len()));
            provider_patterns.extend(row.needles);
            providers.push((row.id, row.role));
        }
        let provider_needles = AhoCorasickBuilder::new().ascii_case_insensitive(true).build(&provider_patterns)?;
        owner.extend(provider_owner.iter().map(|&p| Owner::Provider(p)));
        patterns.extend(provider_patterns.iter().cloned());
        // One automaton, so each reply is scanned once. Its kind is the
        // crate's choice: a full DFA was no faster here and cost 1.5 MB.
        let needles =
            AhoCorasickBuilder::new().ascii_case_insensitive(true).match_kind(MatchKind::Standard).build(&patterns)?;
        let verbatim = verbatim_needles(&patterns)?;
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
        Ok(Table {
            signatures,
            needles: Some(needles),
            owner,
            verbatim,
            keyed_zones: raw.keyed_zone,
            providers,
            provider_needles: Some(provider_needles),
            provider_owner,
            status,
        })
    }

    /// A table without signatures: every reply is `other`, temporary from its code.
    pub fn empty() -> Self {
        Table {
            signatures: Vec::new(),
            needles: None,
            owner: Vec::new(),
            verbatim: None,
            keyed_zones: Vec::new(),
            providers: Vec::new(),
            provider_needles: None,
            provider_owner: Vec::new(),
            status: Vec::new(),
        }
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
        let masked = mask_addresses(&flat);
        let (mut key, mut slots) = (String::new(), Slots::new());
        let start = cache_key(&masked, self.verbatim(&masked), &codes, &mut key, &mut slots);
        let scan = self.scan(&key[start..]);
        self.decide(&codes, &masked, &scan.candidates).apply(self, text, &codes, &masked, scan.named).0
    }

    /// [`Table::classify`], reusing what an earlier reply with the same
    /// wording had (see [`VerdictCache`]).
    pub(super) fn classify_cached(&self, text: &str, cache: &mut VerdictCache) -> Classification {
        let reply = extract_reply(text);
        let (codes, flat) = codes_and_text(&reply);
        let masked = mask_addresses(&flat);
        cache.classify(self, text, &codes, &masked)
    }

    /// Whether a needle that a cache key would blank overlaps `start..end`
    /// of `masked`: asked only where the key would blank something, so only
    /// a few bytes around it are searched, and only once a quick look at the
    /// whole reply ([`Verbatim::may_occur`], asked on the first question)
    /// found that one may be there at all.
    pub(super) fn verbatim<'a>(&'a self, masked: &'a str) -> impl Fn(usize, usize) -> bool + 'a {
        let anywhere = std::cell::OnceCell::new();
        move |start, end| {
            let Some(verbatim) = &self.verbatim else { return false };
            if !*anywhere.get_or_init(|| verbatim.may_occur(masked)) {
                return false;
            }
            let b = masked.as_bytes();
            let from = start.saturating_sub(verbatim.longest);
            let to = end.saturating_add(verbatim.longest).min(b.len());
            b.get(from..to).is_some_and(|window| {
                verbatim.needles.find_overlapping_iter(window).any(|m| from + m.start() < end && start < from + m.end())
            })
        }
    }

    /// One pass of every needle over a reply's key text (its
    /// [`cache_key`] after the codes: ids and IP literals blanked).
    pub(super) fn scan(&self, keyed: &str) -> Scan {
        let mut scan = Scan::default();
        self.scan_into(keyed, &mut scan);
        scan
    }

    /// [`Table::scan`] into `scan`, reusing its buffers (the cache's
    /// scratch space: an allocation less per new wording).
    pub(super) fn scan_into(&self, keyed: &str, scan: &mut Scan) {
        scan.candidates.clear();
        scan.candidates.resize(self.signatures.len(), false);
        scan.named = None;
        let Some(needles) = &self.needles else { return };
        for m in needles.find_overlapping_iter(keyed) {
            match self.owner.get(m.pattern().as_usize()) {
                Some(&Owner::Signature(sig)) => {
                    if let Some(c) = scan.candidates.get_mut(sig) {
                        *c = true;
                    }
                }
                Some(&Owner::Provider(p)) => scan.named = Some(scan.named.map_or(p, |n| n.min(p))),
                None => {}
            }
        }
    }

    /// The part of a verdict that depends only on the reply's words: which
    /// row decided the family, which rows agree with it. Everything a cache
    /// may reuse for another reply that differs only in addresses and numbers.
    pub(super) fn decide(&self, codes: &ReplyCodes, masked: &str, candidates: &[bool]) -> Decision {
        let mut decision = Decision::default();
        let candidate = |i: usize| candidates.get(i).copied().unwrap_or(false);
        for (index, sig) in self.signatures.iter().enumerate().filter(|(i, _)| candidate(*i)) {
            // "No reply" is only true of a text that carries no reply code.
            if sig.no_reply && codes.basic.is_some() {
                continue;
            }
            if let Some(family) = sig.family
                && decision.family.is_some_and(|decided| decided != family)
            {
                continue;
            }
            let matched = match &sig.pattern {
                None => true,
                Some(p) => p.regex().is_some_and(|re| re.is_match(masked.as_bytes())),
            };
            if !matched {
                continue;
            }
            if decision.family.is_none() && sig.family.is_some() {
                decision.family = sig.family;
                decision.temporary = sig.temporary;
            }
            decision.rows.push(index);
        }
        // Rows without a family that matched before the family was known
        // must agree with nothing; rows of another family never got here.
        decision
    }

    /// A provider by index, and whether it is a list operator.
    pub(super) fn provider(&self, index: usize) -> Option<(&str, bool)> {
        self.providers.get(index).map(|(id, role)| (id.as_str(), *role == Role::Operator))
    }

    /// The provider of a reply that names none: the host that answered, else
    /// a receiver's domain in an address of the line (a contact or the
    /// recipient: the receiver either way; an operator's name in an address
    /// says nothing).
    pub(super) fn provider_from_line(&self, text: &str) -> Option<&str> {
        relay_host(text).and_then(|host| self.provider_of_host(host)).or_else(|| {
            address_domains(text).find_map(|domain| {
                self.provider_of_host(domain)
                    .filter(|id| self.providers.iter().any(|(p, r)| p == id && *r == Role::Receiver))
            })
        })
    }

    /// The provider whose name is one or more whole labels of `host`:
    /// `mx00.t-online.de` and `d1.ess.barracudanetworks.com` name theirs,
    /// `mx.barracuda-shop.example` names nobody.
    fn provider_of_host(&self, host: &str) -> Option<&str> {
        let needles = self.provider_needles.as_ref()?;
        let b = host.as_bytes();
        needles
            .find_overlapping_iter(host)
            .filter(|m| {
                // Whole labels, and at most the top-level label after them:
                // the provider's own domain, not a customer's sub-domain.
                let starts = m.start() == 0 || b[m.start() - 1] == b'.';
                let ends = m.end() == b.len() || b[m.end()] == b'.' || b[m.end() - 1] == b'.';
                let tail = host.get(m.end()..).unwrap_or_default().trim_start_matches('.');
                starts && ends && !tail.contains('.')
            })
            .filter_map(|m| self.provider_owner.get(m.pattern().as_usize()))
            .min()
            .and_then(|&i| self.providers.get(i))
            .map(|(id, _)| id.as_str())
    }

    /// Lowercases a zone and drops a customer key label (`<key>.zen.dq.spamhaus.net`).
    pub(super) fn normalise_zone(&self, zone: &str) -> String {
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

    pub(super) fn status_family(&self, enhanced: Option<&str>) -> Option<Family> {
        let parts: Vec<u16> = enhanced?.split('.').filter_map(|p| p.parse().ok()).collect();
        let [a, b, c] = parts.as_slice() else { return None };
        self.status.iter().find_map(|(pattern, family)| {
            let fits = pattern.iter().zip([a, b, c]).all(|(p, v)| p.is_none_or(|p| p == *v));
            fits.then_some(*family)
        })
    }
}

/// The needles a cache key would blank a part of (a run of five or more
/// digits, an IP literal, a long id); see [`verbatim_needles`].
#[derive(Debug)]
struct Verbatim {
    /// All of them, case-insensitive.
    needles: AhoCorasick,
    /// The longest one's length.
    longest: usize,
    /// Each needle's longest run of bytes that are not ASCII letters (its
    /// digits and punctuation, which case-insensitive matching leaves as
    /// they are: `(201806281)` of `AS(201806281)`), searched for exactly;
    /// `None` when a needle has no such run of three bytes or more.
    cores: Option<Vec<memchr::memmem::Finder<'static>>>,
}

impl Verbatim {
    /// False only if no needle occurs in `text`: a needle that occurs
    /// carries its core verbatim, and a memmem search for a core costs a
    /// fraction of the automaton's (a case-insensitive automaton has no
    /// fast prefilter for `as(`).
    fn may_occur(&self, text: &str) -> bool {
        match &self.cores {
            Some(cores) => cores.iter().any(|core| core.find(text.as_bytes()).is_some()),
            None => self.needles.is_match(text),
        }
    }
}

/// [`Verbatim`] for `patterns`; `None` if a cache key would blank none of them.
fn verbatim_needles(patterns: &[String]) -> Result<Option<Verbatim>, aho_corasick::BuildError> {
    let (mut key, mut slots) = (String::new(), Slots::new());
    let blanked: Vec<&String> = patterns
        .iter()
        .filter(|needle| {
            cache_key(needle, |_, _| false, &ReplyCodes::default(), &mut key, &mut slots);
            !slots.is_empty()
        })
        .collect();
    let Some(longest) = blanked.iter().map(|needle| needle.len()).max() else { return Ok(None) };
    let cores = blanked
        .iter()
        .map(|needle| {
            let core = needle.as_bytes().split(u8::is_ascii_alphabetic).max_by_key(|run| run.len()).unwrap_or_default();
            (core.len() >= 3).then(|| memchr::memmem::Finder::new(core).into_owned())
        })
        .collect();
    let needles = AhoCorasickBuilder::new().ascii_case_insensitive(true).build(blanked)?;
    Ok(Some(Verbatim { needles, longest, cores }))
}
