//! What a zone is asked about: an IP address or a domain name.
//!
//! IP zones are asked about the reversed address, domain zones about the
//! registrable domain (`shop.example.co.uk` for `www.shop.example.co.uk`,
//! by the Public Suffix List, private suffixes included, so a blog on a
//! hosting suffix is its own domain). The domain lists document exactly
//! that: DBL ignores the hostname part, SURBL and URIBL list registrable
//! domains, so a customer's full host names are never sent.

use std::fmt;
use std::net::IpAddr;

use rblfleet_proto::domain::{DomainError, normalize_domain};
use serde::Serialize;

/// An IP address or a domain (lowercase ASCII, IDN in punycode).
///
/// Serialised as `{"ip": "…"}` or `{"domain": "…"}` when flattened into a
/// row, so scripts reading `.ip` of an IP check keep working.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Ip(IpAddr),
    Domain(String),
}

/// Why a text is neither an IP address nor a domain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is neither an IP address nor a domain name: the name {reason}")]
pub struct TargetError {
    pub text: String,
    pub reason: DomainError,
}

impl Target {
    /// Reads an IP address or a domain name in either IDN form; a domain
    /// becomes its registrable domain (see the module documentation).
    pub fn parse(text: &str) -> Result<Target, TargetError> {
        let text = text.trim();
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Target::Ip(ip));
        }
        let name = normalize_domain(text).map_err(|reason| TargetError { text: text.to_string(), reason })?;
        Ok(Target::Domain(registrable(&name.ascii)))
    }

    /// The registrable domain of a name already in wire form.
    pub fn domain(wire_name: &str) -> Target {
        Target::Domain(registrable(wire_name))
    }

    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Target::Ip(ip) => Some(*ip),
            Target::Domain(_) => None,
        }
    }

    pub fn is_domain(&self) -> bool {
        matches!(self, Target::Domain(_))
    }

    /// "ip" or "domain", as the report's `kind` column says it.
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Ip(_) => "ip",
            Target::Domain(_) => "domain",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Ip(ip) => ip.fmt(f),
            Target::Domain(name) => f.write_str(name),
        }
    }
}

/// The registrable domain of `name` (wire form), or `name` itself when the
/// Public Suffix List finds none (a bare suffix, a single label).
pub fn registrable(name: &str) -> String {
    psl::domain_str(name).unwrap_or(name).to_string()
}

/// Reads a stored key: an IP address, else a domain in wire form as stored.
pub fn from_key(key: &str) -> Target {
    match key.parse::<IpAddr>() {
        Ok(ip) => Target::Ip(ip),
        Err(_) => Target::Domain(key.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names_are_told_apart() {
        assert_eq!(Target::parse("192.0.2.1"), Ok(Target::Ip("192.0.2.1".parse().expect("ip"))));
        assert_eq!(Target::parse("2001:db8::1").map(|t| t.kind()), Ok("ip"));
        assert_eq!(Target::parse("Shop.Example.COM."), Ok(Target::Domain("example.com".into())));
    }

    #[test]
    fn a_host_name_becomes_its_registrable_domain() {
        assert_eq!(Target::parse("www.shop.example.co.uk"), Ok(Target::Domain("example.co.uk".into())));
        // A private suffix (hosting platforms) keeps the customer's own label.
        assert_eq!(Target::parse("www.myblog.blogspot.com"), Ok(Target::Domain("myblog.blogspot.com".into())));
        assert_eq!(Target::domain("mail.shop.example"), Target::Domain("shop.example".into()));
    }

    #[test]
    fn idn_names_are_queried_in_punycode() {
        assert_eq!(Target::parse("www.Bücher.de"), Ok(Target::Domain("xn--bcher-kva.de".into())));
    }

    #[test]
    fn neither_says_why() {
        let e = Target::parse("not a name").expect_err("refused");
        assert_eq!(
            e.to_string(),
            "\"not a name\" is neither an IP address nor a domain name: the name contains ' '; a domain holds letters, digits, '-' and '.'"
        );
        assert!(Target::parse("localhost").is_err());
    }

    #[test]
    fn stored_keys_read_back() {
        assert_eq!(from_key("203.0.113.5"), Target::Ip("203.0.113.5".parse().expect("ip")));
        assert_eq!(from_key("shop.example"), Target::Domain("shop.example".into()));
    }

    #[test]
    fn rows_serialise_with_the_kind_as_field_name() {
        #[derive(Serialize)]
        struct Row {
            #[serde(flatten)]
            target: Target,
        }
        let ip = serde_json::to_string(&Row { target: Target::Ip("192.0.2.1".parse().expect("ip")) }).expect("json");
        let dom = serde_json::to_string(&Row { target: Target::Domain("shop.example".into()) }).expect("json");
        assert_eq!((ip.as_str(), dom.as_str()), (r#"{"ip":"192.0.2.1"}"#, r#"{"domain":"shop.example"}"#));
    }
}
