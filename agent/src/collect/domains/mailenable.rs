//! MailEnable's domains (Plesk for Windows): its configuration repository
//! keeps `Config\DOMAIN.TAB`, one tab-separated line per mail domain with
//! the domain first and its post office second. Only the first field is
//! read, so other columns (and their order across versions) do not matter.
//! Every name has mail on; the post office is not a system user, so the
//! subscription stays unknown.

use super::list::Parsed;
use super::read::read_file;
use crate::config::{DomainSource, DomainsConfig};

/// The first tab-separated field of each line (a UTF-8 byte-order mark,
/// blank and comment lines aside).
pub fn parse_domain_tab(text: &str, parsed: &mut Parsed) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with(';') || line.starts_with('#') {
            continue;
        }
        let domain = line.split('\t').next().unwrap_or_default();
        parsed.add(domain, "", true);
    }
}

/// Reads `domains.mailenable_domains`; `None` when it does not exist.
pub fn read(config: &DomainsConfig, limit: usize) -> Result<Option<Parsed>, String> {
    let Some(text) = read_file(&config.mailenable_domains)? else { return Ok(None) };
    let mut parsed = Parsed::new(DomainSource::Mailenable, limit);
    parse_domain_tab(&text, &mut parsed);
    Ok(Some(parsed))
}
