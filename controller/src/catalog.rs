//! The DNSBL zone catalog: which zones exist, how to query them, what their
//! answers mean, what they cost, how to get off them — as data.
//!
//! The catalog ships in the binary (`controller/dnsbl/zones.toml`) and the
//! controller config's `[dnsbl.catalog]` section can replace it (`file`),
//! extend it (`[[dnsbl.catalog.extra]]`, same schema as the file's `[[zone]]`)
//! and override single zones (`[dnsbl.catalog.zone.<id>]`: enabled, key,
//! per_second, per_day):
//!
//! ```toml
//! [dnsbl.catalog.zone.spamhaus-zen-dqs]
//! key = "your-dqs-key"        # the zone is used from now on, and replaces spamhaus-zen
//! [dnsbl.catalog.zone.uceprotect-2]
//! enabled = true
//! ```
//!
//! Zones known to be dead are kept by name and refused with the reason and the
//! date. Keys are templated into zone names and never shown: [`Zone`]'s Debug,
//! [`Zone::display_zone`], [`Zone::redact`] and every error print "<key>".
//! The decoding rules (error codes first, then exact, range, bitmask) are in
//! the `codes` submodule.

mod check;
mod codes;
mod load;
mod resolve;
mod spec;
mod target;
mod zone;

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub use spec::{BudgetSpec, CodeSpec, DelistSpec, ErrorCodeSpec, TestPointsSpec, ZoneSpec};
pub use target::{Target, TargetError, from_key as target_from_key, registrable};
pub use zone::{CodeRow, reverse_name};

use codes::CodeTable;
use zone::Secret;

/// The catalog file shipped in the binary.
const EMBEDDED: &str = include_str!("../dnsbl/zones.toml");
const EMBEDDED_ORIGIN: &str = "embedded zones.toml";

/// The zone catalog: active zones, dead zones and receiver-side reputations.
#[derive(Debug, Clone)]
pub struct Catalog {
    origin: String,
    as_of: String,
    zones: Vec<Zone>,
    dead: Vec<DeadZone>,
    receivers: Vec<Receiver>,
}

/// The controller config's `[dnsbl.catalog]` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogConfig {
    /// Replace the embedded catalog with this file (same schema).
    pub file: Option<PathBuf>,
    /// Per-zone overrides keyed by zone id: enabled, key, per_second, per_day.
    pub zone: BTreeMap<String, ZoneOverride>,
    /// Extra zones, same schema as the catalog's zones.
    pub extra: Vec<ZoneSpec>,
}

/// One `[dnsbl.catalog.zone.<id>]` table. Its Debug never prints the key.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneOverride {
    pub enabled: Option<bool>,
    pub key: Option<String>,
    pub per_second: Option<f64>,
    pub per_day: Option<u64>,
}

impl fmt::Debug for ZoneOverride {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZoneOverride")
            .field("enabled", &self.enabled)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("per_second", &self.per_second)
            .field("per_day", &self.per_day)
            .finish()
    }
}

/// One active zone. Its Debug prints the key as "<redacted>".
#[derive(Debug, Clone)]
pub struct Zone {
    pub id: String,
    pub name: String,
    pub operator: String,
    pub ipv4: bool,
    pub ipv6: bool,
    pub kind: ZoneKind,
    pub needs_key: bool,
    /// The operator refuses (or answers with an error code) queries that come
    /// through public or shared resolvers, or from unregistered resolvers.
    pub blocks_public_resolvers: bool,
    /// A TXT record at the query name explains the listing.
    pub txt: bool,
    /// Wanted (for a keyed zone: once it has its key); see [`Catalog::enabled`].
    pub enabled: bool,
    pub budget: Budget,
    pub delist: Delist,
    pub usage_policy: String,
    /// false when some fact could not be confirmed from an operator source ([`Zone::note`] says which).
    pub verified: bool,
    /// The zone name, with the label `{key}` where the key goes.
    template: String,
    key: Option<Secret>,
    codes: CodeTable,
    test_points: (Target, Target),
    supersedes: Vec<String>,
    note: String,
    sources: Vec<String>,
}

/// The two kinds of list the catalog holds: a DNS zone, or a receiver that
/// lists an IP only through its refusals. A string only on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListKind {
    Dns,
    Receiver,
}

impl ListKind {
    pub const fn as_str(self) -> &'static str {
        match self {
            ListKind::Dns => "dns",
            ListKind::Receiver => "receiver",
        }
    }
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a zone lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZoneKind {
    /// A blocklist: every answer is a listing.
    Ip,
    /// A reputation zone: some answers are listings, others are 'good' verdicts.
    Mixed,
    /// An allowlist: no answer is a listing.
    Allow,
    /// A domain blocklist (DBL, SURBL, URIBL): asked about registrable
    /// domains, never about addresses; every answer is a listing.
    Domain,
}

impl ZoneKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ZoneKind::Ip => "ip",
            ZoneKind::Mixed => "mixed",
            ZoneKind::Allow => "allow",
            ZoneKind::Domain => "domain",
        }
    }
}

impl fmt::Display for ZoneKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many queries a zone may get from us.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub per_second: f64,
    /// None only for keyed zones whose plan sets the limit.
    pub per_day: Option<u64>,
}

/// How to get off a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delist {
    pub kind: DelistKind,
    pub url: Option<String>,
    /// The usual time until a listing drops by itself (after the cause stops).
    pub expiry: Option<Duration>,
    pub note: String,
}

/// The kind of delisting route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DelistKind {
    /// A self-service web form.
    Form,
    /// The listing expires by itself some time after the abuse stops.
    AutoExpire,
    /// Write to the operator (e-mail, ticket).
    Contact,
    /// Removal costs money (or only a paid route is quick).
    Paid,
}

impl DelistKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DelistKind::Form => "form",
            DelistKind::AutoExpire => "auto_expire",
            DelistKind::Contact => "contact",
            DelistKind::Paid => "paid",
        }
    }
}

impl fmt::Display for DelistKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The meaning of a positive answer.
///
/// `meanings[i]` is the meaning of `codes[i]`; a bitmask code lists the
/// meaning of every bit it carries, joined by "; ".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// Listed: every A record with its meaning (unknown codes inside 127/8 that
    /// are not error codes count as listed with meaning "unknown code 127.0.0.x").
    Listed { codes: Vec<std::net::Ipv4Addr>, meanings: Vec<String> },
    /// The answer is a 'good'/allow verdict of a mixed or allow zone: not a listing.
    NotListed { codes: Vec<std::net::Ipv4Addr>, meanings: Vec<String> },
    /// A documented error code or an answer outside 127.0.0.0/8: never listed, never clean.
    Error { code: std::net::Ipv4Addr, meaning: String },
}

impl Decoded {
    pub fn is_listed(&self) -> bool {
        matches!(self, Decoded::Listed { .. })
    }
}

/// A zone that is no longer queried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadZone {
    pub id: String,
    pub zone: String,
    pub name: String,
    /// When it died, as precisely as known ("2024-06-05", "2019 or earlier").
    pub dead_since: String,
    pub reason: String,
    /// It now answers "listed" for every address (a wildcard after the domain lapsed): dangerous.
    pub answers_everything: bool,
    aliases: Vec<String>,
    sources: Vec<String>,
}

impl DeadZone {
    /// Other zone names of the same dead service.
    pub fn aliases(&self) -> &[String] {
        &self.aliases
    }

    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.zone.as_str()).chain(self.aliases.iter().map(String::as_str))
    }

    fn refusal(&self) -> CatalogError {
        CatalogError::Dead { zone: Box::new(self.clone()) }
    }
}

/// A receiver-side reputation without a DNS zone (Microsoft, Gmail, …): checked
/// and delisted through the receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receiver {
    pub id: String,
    pub name: String,
    pub delist: Delist,
    pub notes: String,
    operator: String,
    lookup_url: Option<String>,
    verified: bool,
    sources: Vec<String>,
}

impl Receiver {
    pub fn operator(&self) -> &str {
        &self.operator
    }

    /// Where to look the reputation up (a portal, a lookup page), when there is one.
    pub fn lookup_url(&self) -> Option<&str> {
        self.lookup_url.as_deref()
    }

    /// false when the URLs or the process could not be confirmed from the receiver's own pages.
    pub fn verified(&self) -> bool {
        self.verified
    }

    pub fn sources(&self) -> &[String] {
        &self.sources
    }
}

/// Why a catalog could not be loaded, changed or searched. Every message names
/// the file, the zone or the selector; none contains a key.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("cannot read zone catalog {}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("{origin}: zone {zone_id}: {reason}")]
    Invalid { origin: String, zone_id: String, reason: String },
    /// The zone is known to be dead; `zone` says since when, why, and whether
    /// it now answers "listed" for everything.
    #[error(
        "{} ({}, id {}) is dead since {}: {}; it is not queried{}",
        zone.zone, zone.name, zone.id, zone.dead_since, zone.reason,
        if zone.answers_everything { " (it now answers \"listed\" for every address)" } else { "" }
    )]
    Dead { zone: Box<DeadZone> },
    #[error("unknown zone \"{selector}\"{}", suggest(suggestions))]
    Unknown { selector: String, suggestions: Vec<String> },
    #[error("[dnsbl.catalog.zone.{id}]: no zone has the id \"{id}\"{}", suggest(suggestions))]
    UnknownOverride { id: String, suggestions: Vec<String> },
}

fn suggest(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        "; `rblfleet zones` lists the known zones".to_string()
    } else {
        format!("; did you mean {}?", suggestions.join(", "))
    }
}

impl Catalog {
    /// The catalog shipped in the binary.
    pub fn embedded() -> Result<Catalog, CatalogError> {
        Catalog::from_toml_str(EMBEDDED, EMBEDDED_ORIGIN)
    }

    /// Active zones, catalog order (the file's zones, then the extra ones).
    pub fn zones(&self) -> &[Zone] {
        &self.zones
    }

    /// The zones to query: enabled AND usable (key present when needed), minus
    /// the zones superseded by another of them (ZEN once the DQS zone has a key).
    pub fn enabled(&self) -> Vec<&Zone> {
        let on: Vec<&Zone> = self.zones.iter().filter(|z| z.enabled && z.usable()).collect();
        let replaced: HashSet<&str> = on.iter().flat_map(|z| z.supersedes().iter().map(String::as_str)).collect();
        on.into_iter().filter(|z| !replaced.contains(z.id.as_str())).collect()
    }

    pub fn dead(&self) -> &[DeadZone] {
        &self.dead
    }

    pub fn receivers(&self) -> &[Receiver] {
        &self.receivers
    }

    /// Where the catalog was read from ("embedded zones.toml" or a path).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The date of the research the catalog reflects.
    pub fn as_of(&self) -> &str {
        &self.as_of
    }
}

#[cfg(test)]
mod domain_tests;
#[cfg(test)]
mod tests;
