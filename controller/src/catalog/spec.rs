//! The catalog file's schema (what serde reads) and its validation into the
//! catalog's types. Every check names the origin and the record it refuses.

use std::net::{IpAddr, Ipv4Addr};

use serde::Deserialize;

use super::check::{check_budget, check_id, check_url, check_zone_name, delist, invalid};
use super::codes::{CodeTable, Entry, Pattern};
use super::zone::Secret;
use super::{Budget, CatalogError, DeadZone, DelistKind, Receiver, Target, Zone, ZoneKind};

/// The schema version this code reads (`schema = 1` at the top of the file).
pub(crate) const SCHEMA: u32 = 1;

/// The whole catalog file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FileSpec {
    pub(crate) schema: u32,
    #[serde(default)]
    pub(crate) as_of: String,
    #[serde(default, rename = "zone")]
    pub(crate) zones: Vec<ZoneSpec>,
    #[serde(default, rename = "dead")]
    pub(crate) dead: Vec<DeadSpec>,
    #[serde(default, rename = "receiver")]
    pub(crate) receivers: Vec<ReceiverSpec>,
}

/// One active zone, as written in the catalog file or in the controller
/// config's `[[dnsbl.catalog.extra]]`.
///
/// ```toml
/// [[zone]]
/// id = "example-bl"
/// name = "Example blocklist"
/// zone = "bl.example.net"          # "{key}.bl.example.net" when needs_key = true
/// kind = "ip"                      # ip | mixed | allow
/// ipv4 = true
/// ipv6 = false
/// enabled = true
/// budget = { per_second = 5, per_day = 50000 }
/// delist = { kind = "form", url = "https://example.net/remove" }
/// codes = [{ code = "127.0.0.2", meaning = "listed" }]
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneSpec {
    /// Stable lowercase id: letters, digits and '-'.
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub operator: String,
    /// The zone name; holds the label `{key}` exactly when `needs_key`.
    pub zone: String,
    pub kind: ZoneKind,
    /// Address families an IP zone lists; both false (or left out) for a domain zone.
    #[serde(default)]
    pub ipv4: bool,
    #[serde(default)]
    pub ipv6: bool,
    #[serde(default)]
    pub needs_key: bool,
    #[serde(default)]
    pub blocks_public_resolvers: bool,
    /// A TXT record at the query name explains a listing.
    #[serde(default)]
    pub txt: bool,
    /// Queried by default (for a keyed zone: once its key is configured).
    pub enabled: bool,
    /// false when some fact about the zone could not be confirmed (see `note`).
    #[serde(default = "yes")]
    pub verified: bool,
    /// What is uncertain, and anything else worth knowing.
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub usage_policy: String,
    pub budget: BudgetSpec,
    pub delist: DelistSpec,
    pub codes: Vec<CodeSpec>,
    #[serde(default)]
    pub error_codes: Vec<ErrorCodeSpec>,
    /// RFC 5782 test points, when the operator documents others than 127.0.0.2 / 127.0.0.1.
    #[serde(default)]
    pub test_points: Option<TestPointsSpec>,
    /// Zone ids this zone replaces once it is usable (a DQS zone replaces the public mirror).
    #[serde(default)]
    pub supersedes: Vec<String>,
    #[serde(default)]
    pub sources: Vec<String>,
}

fn yes() -> bool {
    true
}

/// A query budget; `per_day` may be left out only for keyed zones (the plan decides).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetSpec {
    pub per_second: f64,
    #[serde(default)]
    pub per_day: Option<u64>,
}

/// A delisting route: `expiry` is a duration such as "24h" or "7d".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DelistSpec {
    pub kind: DelistKind,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub expiry: Option<String>,
    #[serde(default)]
    pub note: String,
}

/// A return code: `code` is exact ("127.0.0.2"), a range ("127.0.0.5-127.0.0.7")
/// or a last-octet bitmask ("127.0.0.0&4"). `listed` defaults to true in ip
/// zones and false in allowlists; mixed zones must say it for every code.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeSpec {
    pub code: String,
    pub meaning: String,
    #[serde(default)]
    pub listed: Option<bool>,
}

/// A documented error answer: never a listing, never clean.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorCodeSpec {
    pub code: String,
    pub meaning: String,
}

/// The addresses to query to health-check a zone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestPointsSpec {
    /// An address for IP zones, a name for domain zones.
    pub listed: String,
    pub unlisted: String,
}

/// A zone that must not be queried any more.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeadSpec {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) zone: String,
    #[serde(default)]
    pub(crate) aliases: Vec<String>,
    pub(crate) dead_since: String,
    pub(crate) reason: String,
    #[serde(default)]
    pub(crate) answers_everything: bool,
    #[serde(default)]
    pub(crate) sources: Vec<String>,
}

/// A receiver-side reputation without a DNS zone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReceiverSpec {
    pub(crate) id: String,
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) operator: String,
    #[serde(default)]
    pub(crate) lookup_url: Option<String>,
    pub(crate) delist: DelistSpec,
    #[serde(default)]
    pub(crate) notes: String,
    #[serde(default = "yes")]
    pub(crate) verified: bool,
    #[serde(default)]
    pub(crate) sources: Vec<String>,
}

/// The RFC 5782 test points.
const LISTED_V4: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const UNLISTED_V4: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// RFC 5782 section 5: a domain list lists `test` and does not list `invalid`.
const LISTED_NAME: &str = "test";
const UNLISTED_NAME: &str = "invalid";

impl ZoneSpec {
    /// One test point as written: an address of a covered family for IP
    /// zones; for domain zones a name of DNS labels, queried as written (a
    /// test name may be a single label, or a name the list documents).
    fn test_point(&self, text: &str) -> Result<Target, String> {
        let text = text.trim();
        if self.kind == ZoneKind::Domain {
            let name = text.trim_end_matches('.').to_ascii_lowercase();
            let label_ok = |l: &str| {
                !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            };
            if name.is_empty() || name.len() > 200 || !name.split('.').all(label_ok) {
                return Err(format!("test point {text:?} is not a domain name"));
            }
            return Ok(Target::Domain(name));
        }
        let ip: IpAddr = text.parse().map_err(|_| format!("test point {text:?} is not an IP address"))?;
        if !(if ip.is_ipv4() { self.ipv4 } else { self.ipv6 }) {
            return Err("a test point is of an address family the zone does not cover".into());
        }
        Ok(Target::Ip(ip))
    }

    /// Validates the record into a zone (without a key).
    pub(crate) fn into_zone(self, origin: &str) -> Result<Zone, CatalogError> {
        let id = self.id.trim().to_string();
        check_id(origin, &id)?;
        let err = |reason: String| invalid(origin, &id, reason);
        if self.name.trim().is_empty() {
            return Err(err("the name is empty".into()));
        }
        let zone = self.zone.trim().trim_end_matches('.').to_string();
        check_zone_name(origin, &id, &zone, self.needs_key)?;
        if self.kind == ZoneKind::Domain {
            if self.ipv4 || self.ipv6 {
                return Err(err(
                    "a domain zone lists names, not addresses: set ipv4 = false and ipv6 = false (or leave them out)"
                        .into(),
                ));
            }
        } else if !self.ipv4 && !self.ipv6 {
            return Err(err("a zone must cover IPv4, IPv6 or both".into()));
        }
        check_budget(origin, &id, self.budget.per_second, self.budget.per_day)?;
        if self.budget.per_day.is_none() && !self.needs_key {
            return Err(err(
                "budget per_day is required for a public zone (only keyed zones may leave it to the plan)".into(),
            ));
        }
        let delist = delist(origin, &id, &self.delist)?;

        if self.codes.is_empty() {
            return Err(err("at least one return code is needed".into()));
        }
        let mut codes = Vec::with_capacity(self.codes.len());
        for c in &self.codes {
            let pattern = Pattern::parse(&c.code).map_err(&err)?;
            let listed = match (self.kind, c.listed) {
                (ZoneKind::Mixed, None) => {
                    return Err(err(format!("code \"{}\": a mixed zone must say listed = true or false", c.code)));
                }
                (ZoneKind::Allow, Some(true)) => {
                    return Err(err(format!("code \"{}\": an allowlist never lists", c.code)));
                }
                (ZoneKind::Ip | ZoneKind::Domain, Some(false)) => {
                    return Err(err(format!("code \"{}\": a 'good' answer makes this a mixed zone, not ip", c.code)));
                }
                (ZoneKind::Allow, _) => false,
                (_, listed) => listed.unwrap_or(true),
            };
            if c.meaning.trim().is_empty() {
                return Err(err(format!("code \"{}\" has no meaning", c.code)));
            }
            codes.push(Entry { pattern, meaning: c.meaning.trim().to_string(), listed });
        }
        if self.kind == ZoneKind::Mixed && (codes.iter().all(|c| c.listed) || codes.iter().all(|c| !c.listed)) {
            return Err(err("a mixed zone has both listing and non-listing codes".into()));
        }
        let mut errors = Vec::with_capacity(self.error_codes.len());
        for c in &self.error_codes {
            let pattern = Pattern::parse(&c.code).map_err(&err)?;
            errors.push(Entry { pattern, meaning: c.meaning.trim().to_string(), listed: false });
        }
        let codes = CodeTable::new(codes, errors).map_err(&err)?;

        let test_points = match &self.test_points {
            Some(t) => {
                let point = |text: &str| self.test_point(text).map_err(&err);
                let (listed, unlisted) = (point(&t.listed)?, point(&t.unlisted)?);
                if listed == unlisted {
                    return Err(err("the listed and unlisted test points are the same".into()));
                }
                (listed, unlisted)
            }
            None if self.kind == ZoneKind::Domain => {
                (Target::Domain(LISTED_NAME.into()), Target::Domain(UNLISTED_NAME.into()))
            }
            None if self.ipv4 => (Target::Ip(IpAddr::V4(LISTED_V4)), Target::Ip(IpAddr::V4(UNLISTED_V4))),
            None => (
                Target::Ip(IpAddr::V6(LISTED_V4.to_ipv6_mapped())),
                Target::Ip(IpAddr::V6(UNLISTED_V4.to_ipv6_mapped())),
            ),
        };
        for url in self.sources.iter().filter(|s| s.starts_with("http")) {
            check_url(origin, &id, url)?;
        }
        Ok(Zone {
            id,
            name: self.name.trim().to_string(),
            operator: self.operator.trim().to_string(),
            ipv4: self.ipv4,
            ipv6: self.ipv6,
            kind: self.kind,
            needs_key: self.needs_key,
            blocks_public_resolvers: self.blocks_public_resolvers,
            txt: self.txt,
            enabled: self.enabled,
            budget: Budget { per_second: self.budget.per_second, per_day: self.budget.per_day },
            delist,
            usage_policy: self.usage_policy.trim().to_string(),
            verified: self.verified,
            template: zone,
            key: None::<Secret>,
            codes,
            test_points,
            supersedes: self.supersedes,
            note: self.note.trim().to_string(),
            sources: self.sources,
        })
    }
}

impl DeadSpec {
    pub(crate) fn into_dead(self, origin: &str) -> Result<DeadZone, CatalogError> {
        check_id(origin, &self.id)?;
        let mut names = Vec::with_capacity(1 + self.aliases.len());
        for name in std::iter::once(&self.zone).chain(&self.aliases) {
            names.push(check_zone_name(origin, &self.id, name.trim().trim_end_matches('.'), false)?);
        }
        if self.dead_since.trim().is_empty() || self.reason.trim().is_empty() {
            return Err(invalid(origin, &self.id, "a dead zone needs dead_since and reason"));
        }
        let zone = names.remove(0);
        Ok(DeadZone {
            id: self.id,
            zone,
            name: self.name.trim().to_string(),
            dead_since: self.dead_since.trim().to_string(),
            reason: self.reason.trim().to_string(),
            answers_everything: self.answers_everything,
            aliases: names,
            sources: self.sources,
        })
    }
}

impl ReceiverSpec {
    pub(crate) fn into_receiver(self, origin: &str) -> Result<Receiver, CatalogError> {
        check_id(origin, &self.id)?;
        let delist = delist(origin, &self.id, &self.delist)?;
        let lookup_url = self.lookup_url.map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
        if let Some(url) = &lookup_url {
            check_url(origin, &self.id, url)?;
        }
        Ok(Receiver {
            id: self.id,
            name: self.name.trim().to_string(),
            delist,
            notes: self.notes.trim().to_string(),
            operator: self.operator.trim().to_string(),
            lookup_url,
            verified: self.verified,
            sources: self.sources,
        })
    }
}
