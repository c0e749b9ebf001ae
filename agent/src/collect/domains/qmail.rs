//! qmail's domains: `control/virtualdomains` holds `domain:prefix` (or
//! `user@domain:prefix`) lines, `control/rcpthosts` a domain per line. A
//! leading dot (`.example.com`) stands for every subdomain: not a name.
//! Every name has mail on.

use super::list::Parsed;
use super::read::read_file;
use crate::config::{DomainSource, DomainsConfig};

/// The domain of each `domain:prefix` line.
pub fn parse_virtualdomains(text: &str, parsed: &mut Parsed) {
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, _prefix)) = line.split_once(':') else {
            parsed.skip(line, "has no ':' (a line is domain:prefix)");
            continue;
        };
        let domain = key.rsplit_once('@').map_or(key, |(_, d)| d);
        name(domain, parsed);
    }
}

/// A domain per line.
pub fn parse_rcpthosts(text: &str, parsed: &mut Parsed) {
    for line in text.lines() {
        let line = line.trim();
        if !line.is_empty() && !line.starts_with('#') {
            name(line, parsed);
        }
    }
}

fn name(name: &str, parsed: &mut Parsed) {
    if name.starts_with('.') {
        parsed.skip(name, "stands for every subdomain, not a name");
    } else {
        parsed.add(name, "", true);
    }
}

/// Reads both files; `None` when neither exists.
pub fn read(config: &DomainsConfig, limit: usize) -> Result<Option<Parsed>, String> {
    let virtualdomains = read_file(&config.qmail_virtualdomains)?;
    let rcpthosts = read_file(&config.qmail_rcpthosts)?;
    if virtualdomains.is_none() && rcpthosts.is_none() {
        return Ok(None);
    }
    let mut parsed = Parsed::new(DomainSource::Qmail, limit);
    if let Some(text) = virtualdomains {
        parse_virtualdomains(&text, &mut parsed);
    }
    if let Some(text) = rcpthosts {
        parse_rcpthosts(&text, &mut parsed);
    }
    Ok(Some(parsed))
}
