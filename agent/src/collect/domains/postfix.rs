//! Postfix's virtual mailbox domains in Plesk's layout: `main.cf` says
//! `virtual_mailbox_domains = $virtual_mailbox_maps,
//! hash:/var/spool/postfix/plesk/virtual_domains`, and the text file beside
//! the `.db` holds one `key value` line per domain Plesk has mail on for.

use super::list::Parsed;
use super::read::read_file;
use crate::config::{DomainSource, DomainsConfig};

/// The key of each map line; comments, blank and continuation lines (which
/// start with white space) are not entries. Every name has mail on.
pub fn parse_map(text: &str, parsed: &mut Parsed) {
    for line in text.lines() {
        if line.starts_with(char::is_whitespace) || line.trim_start().starts_with('#') {
            continue;
        }
        if let Some(key) = line.split_whitespace().next() {
            parsed.add(key, "", true);
        }
    }
}

/// Reads `domains.postfix_map`; `None` when it does not exist.
pub fn read(config: &DomainsConfig, limit: usize) -> Result<Option<Parsed>, String> {
    let Some(text) = read_file(&config.postfix_map)? else { return Ok(None) };
    let mut parsed = Parsed::new(DomainSource::Postfix, limit);
    parse_map(&text, &mut parsed);
    Ok(Some(parsed))
}
