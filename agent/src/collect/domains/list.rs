//! The domain list every source fills and the merge folds together: names
//! normalised once ([`normalize_domain`]), deduplicated by their ASCII form,
//! bounded, and what was skipped counted with a few samples.

use std::collections::HashMap;

use rblfleet_proto::domain::{DomainName, normalize_domain};

use crate::config::DomainSource;

/// Samples of skipped names kept per source (the count is exact).
pub const MAX_SKIP_SAMPLES: usize = 20;
/// Longest sample text kept, in characters (a junk line can be anything).
const MAX_SAMPLE_CHARS: usize = 120;
/// Longest subscription kept, in bytes: system user names are at most 32,
/// and the controller refuses a whole report over one bad field.
pub const MAX_SUBSCRIPTION_BYTES: usize = 128;

/// One domain of the host, as far as the sources told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// Wire form and Unicode form.
    pub name: DomainName,
    /// The owning subscription's system user; empty when no source knew it.
    pub subscription: String,
    /// Some source says the host receives mail for it.
    pub mail: bool,
    /// The sources that named it, in the order they were read.
    pub sources: Vec<DomainSource>,
}

/// Domains in first-seen order, one per ASCII name, at most `limit`.
#[derive(Debug, Clone, Default)]
pub struct DomainList {
    domains: Vec<Domain>,
    index: HashMap<String, usize>,
    limit: usize,
    /// A name was refused because the list was full.
    pub truncated: bool,
}

impl DomainList {
    /// An empty list holding at most `limit` names.
    pub fn new(limit: usize) -> DomainList {
        DomainList { limit, ..DomainList::default() }
    }

    /// Adds a name, or folds it into the entry already there: mail if any
    /// source says so, the first subscription given (sources are read in
    /// order of precedence), every source that named it.
    pub fn add(&mut self, name: DomainName, subscription: &str, mail: bool, source: DomainSource) {
        if let Some(&i) = self.index.get(&name.ascii) {
            let d = &mut self.domains[i];
            d.mail |= mail;
            if d.subscription.is_empty() {
                d.subscription = subscription.to_string();
            }
            if !d.sources.contains(&source) {
                d.sources.push(source);
            }
            return;
        }
        if self.domains.len() >= self.limit {
            self.truncated = true;
            return;
        }
        self.index.insert(name.ascii.clone(), self.domains.len());
        self.domains.push(Domain { name, subscription: subscription.to_string(), mail, sources: vec![source] });
    }

    /// Folds every domain of `other` into this list.
    pub fn merge(&mut self, other: &DomainList) {
        for d in &other.domains {
            for &source in &d.sources {
                self.add(d.name.clone(), &d.subscription, d.mail, source);
            }
        }
        self.truncated |= other.truncated;
    }

    /// The domains, in first-seen order.
    pub fn domains(&self) -> &[Domain] {
        &self.domains
    }

    /// How many domains.
    pub fn len(&self) -> usize {
        self.domains.len()
    }

    /// No domains.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

/// A name a source gave that is not reported, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// The text as read (shortened).
    pub text: String,
    /// Why, e.g. "has a single label; a domain has at least two (example.com)".
    pub why: String,
}

/// What one source gave.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The source.
    pub source: DomainSource,
    /// Its names.
    pub list: DomainList,
    /// Names or lines skipped (invalid names, malformed lines).
    pub skipped: u64,
    /// The first [`MAX_SKIP_SAMPLES`] of them.
    pub samples: Vec<Skip>,
    /// Why the list may be partial although it was read (a fallback used).
    pub warnings: Vec<String>,
}

impl Parsed {
    /// Nothing read yet; at most `limit` names.
    pub fn new(source: DomainSource, limit: usize) -> Parsed {
        Parsed { source, list: DomainList::new(limit), skipped: 0, samples: Vec::new(), warnings: Vec::new() }
    }

    /// Adds `text` if it is a domain name, else counts it as skipped.
    pub fn add(&mut self, text: &str, subscription: &str, mail: bool) {
        match normalize_domain(text) {
            Ok(name) => self.list.add(name, &clean_subscription(subscription), mail, self.source),
            Err(why) => self.skip(text, why.to_string()),
        }
    }

    /// Counts a skipped name or line, keeping the first few as samples.
    pub fn skip(&mut self, text: &str, why: impl Into<String>) {
        self.skipped += 1;
        if self.samples.len() < MAX_SKIP_SAMPLES {
            let mut text: String = text.trim().chars().take(MAX_SAMPLE_CHARS).collect();
            text.retain(|c| !c.is_control());
            self.samples.push(Skip { text, why: why.into() });
        }
    }
}

/// A subscription as the report may carry it: trimmed, without control
/// characters, at most [`MAX_SUBSCRIPTION_BYTES`] (cut on a character).
fn clean_subscription(text: &str) -> String {
    let mut out = String::new();
    for c in text.trim().chars().filter(|c| !c.is_control()) {
        if out.len() + c.len_utf8() > MAX_SUBSCRIPTION_BYTES {
            break;
        }
        out.push(c);
    }
    out
}
