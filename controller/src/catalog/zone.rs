//! What a zone does with an address and an answer: query names (key templated
//! in), display and redaction (key never shown), decoding, test points.

use std::fmt;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use super::codes::Pattern;
use super::{CatalogError, Decoded, Target, Zone, ZoneKind};

/// A zone key. Its Debug prints "<redacted>"; the text is reachable only
/// inside this module tree.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Secret {
    /// Checks that `key` can stand as one DNS label. The error never quotes the key.
    pub(crate) fn new(origin: &str, zone_id: &str, key: &str) -> Result<Secret, CatalogError> {
        let key = key.trim();
        let reason = if key.is_empty() {
            Some("the key is empty")
        } else if key.len() > 63 {
            Some("the key is longer than a DNS label (63 characters)")
        } else if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            Some("the key may hold only letters, digits, '-' and '_' (it becomes one DNS label)")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(CatalogError::Invalid {
                origin: origin.to_string(),
                zone_id: zone_id.to_string(),
                reason: reason.to_string(),
            }),
            None => Ok(Secret(key.to_string())),
        }
    }
}

/// The text shown instead of a key.
const KEY_SHOWN: &str = "<key>";

/// One row of a zone's code table, for display (`rblfleet zones`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRow {
    /// The pattern as written in the catalog: exact, range or bitmask.
    pub code: String,
    pub meaning: String,
    /// The code is a listing (false for 'good' answers of mixed zones and allowlists).
    pub listed: bool,
    /// The code is a documented error answer.
    pub error: bool,
}

impl Zone {
    /// The DNS name to query for `target` (key templated in), or None when
    /// the zone does not list such targets (an address family it does not
    /// cover, an IP on a domain list, a domain on an IP list) or needs a key
    /// it has not got. A domain is queried as given: [`Target`] holds the
    /// registrable domain already.
    pub fn query_name(&self, target: &Target) -> Option<String> {
        let label = match target {
            Target::Ip(ip) => {
                let covered = match ip {
                    IpAddr::V4(_) => self.ipv4,
                    IpAddr::V6(_) => self.ipv6,
                };
                if !covered || self.kind == ZoneKind::Domain {
                    return None;
                }
                reverse_name(*ip)
            }
            Target::Domain(name) if self.kind == ZoneKind::Domain => name.clone(),
            Target::Domain(_) => return None,
        };
        Some(format!("{label}.{}", self.zone_name()?))
    }

    /// Whether this zone lists targets of this kind (IP zones: of this
    /// address family).
    pub fn covers(&self, target: &Target) -> bool {
        match target {
            Target::Ip(IpAddr::V4(_)) => self.ipv4 && self.kind != ZoneKind::Domain,
            Target::Ip(IpAddr::V6(_)) => self.ipv6 && self.kind != ZoneKind::Domain,
            Target::Domain(_) => self.kind == ZoneKind::Domain,
        }
    }

    /// The zone name with the key in it; None for a keyed zone without key.
    pub(super) fn zone_name(&self) -> Option<String> {
        if !self.needs_key {
            return Some(self.template.clone());
        }
        self.key.as_ref().map(|k| self.template.replace("{key}", &k.0))
    }

    /// The zone for display: the key replaced by "<key>".
    pub fn display_zone(&self) -> String {
        self.template.replace("{key}", KEY_SHOWN)
    }

    /// The zone name without its key label ("zen.dq.spamhaus.net" for
    /// "{key}.zen.dq.spamhaus.net"); the zone itself when it takes no key.
    pub fn bare_zone(&self) -> String {
        self.template.split('.').filter(|l| *l != "{key}").collect::<Vec<_>>().join(".")
    }

    /// Replace any occurrence of the key in `text` by "<key>" (for errors that
    /// quote query names). Case-insensitive: resolvers may change the case.
    pub fn redact(&self, text: &str) -> String {
        let Some(Secret(key)) = &self.key else {
            return text.to_string();
        };
        let lower = text.to_ascii_lowercase();
        let needle = key.to_ascii_lowercase();
        let mut out = String::with_capacity(text.len());
        let mut rest = 0;
        while let Some(found) = lower[rest..].find(&needle) {
            let at = rest + found;
            out.push_str(&text[rest..at]);
            out.push_str(KEY_SHOWN);
            rest = at + needle.len();
        }
        out.push_str(&text[rest..]);
        out
    }

    pub fn has_key(&self) -> bool {
        self.key.is_some()
    }

    /// The zone can be queried: it takes no key, or it has one.
    pub fn usable(&self) -> bool {
        !self.needs_key || self.has_key()
    }

    /// Decode the A records of a positive answer (all of them; order kept).
    /// See [`codes`](super::codes) for the precedence rules.
    pub fn decode(&self, answers: &[Ipv4Addr]) -> Decoded {
        self.codes.decode(self.kind, answers)
    }

    /// The RFC 5782 test points to health-check this zone: (listed_probe,
    /// unlisted_probe) — 127.0.0.2 / 127.0.0.1 by default (their IPv4-mapped
    /// IPv6 forms for IPv6-only zones), `test` / `invalid` for domain zones,
    /// overridable per zone in the data (the domain lists document their own).
    pub fn test_points(&self) -> (Target, Target) {
        self.test_points.clone()
    }

    /// The zone's codes and error codes, in catalog order, for display.
    pub fn code_table(&self) -> Vec<CodeRow> {
        let row = |code: &Pattern, meaning: &str, listed: bool, error: bool| CodeRow {
            code: code.to_string(),
            meaning: meaning.to_string(),
            listed,
            error,
        };
        let codes = self.codes.codes.iter().map(|e| row(&e.pattern, &e.meaning, e.listed, false));
        let errors = self.codes.errors.iter().map(|e| row(&e.pattern, &e.meaning, false, true));
        codes.chain(errors).collect()
    }

    /// Zone ids this zone replaces once it is usable and enabled.
    pub fn supersedes(&self) -> &[String] {
        &self.supersedes
    }

    /// What is uncertain about the zone, and other remarks.
    pub fn note(&self) -> &str {
        &self.note
    }

    /// Where the facts come from.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    pub(crate) fn set_key(&mut self, key: Secret) {
        self.key = Some(key);
    }
}

/// The DNSBL label sequence for `ip`: reversed octets for IPv4
/// (`192.0.2.1` → `1.2.0.192`), reversed nibbles for IPv6 (as in ip6.arpa).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, d] = v4.octets();
            format!("{d}.{c}.{b}.{a}")
        }
        IpAddr::V6(v6) => {
            let mut name = String::with_capacity(63);
            for byte in v6.octets().iter().rev() {
                let _ = write!(name, "{:x}.{:x}.", byte & 0xf, byte >> 4);
            }
            name.pop();
            name
        }
    }
}

#[cfg(test)]
mod tests;
