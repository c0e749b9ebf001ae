//! Which big receiver a recipient domain belongs to.
//!
//! Receivers without a DNS zone (Microsoft, Google, Yahoo, ...) show a
//! listing only by refusing mail, and show its end only by accepting mail
//! again. Counting deliveries per receiver lets the controller close a
//! receiver-side listing on evidence ("Microsoft accepted 40 messages from
//! this IP over 6 hours") instead of on silence. Provider ids are the bounce
//! taxonomy's.

/// Exact consumer domains of the big receivers.
const DOMAINS: &[(&str, &str)] = &[
    ("gmail.com", "google"),
    ("googlemail.com", "google"),
    ("outlook.com", "microsoft"),
    ("hotmail.com", "microsoft"),
    ("live.com", "microsoft"),
    ("msn.com", "microsoft"),
    ("yahoo.com", "yahoo"),
    ("ymail.com", "yahoo"),
    ("rocketmail.com", "yahoo"),
    ("aol.com", "yahoo"),
    ("icloud.com", "apple"),
    ("me.com", "apple"),
    ("mac.com", "apple"),
    ("gmx.net", "gmx"),
    ("gmx.de", "gmx"),
    ("gmx.com", "gmx"),
    ("web.de", "gmx"),
    ("t-online.de", "t-online"),
    ("comcast.net", "comcast"),
    ("att.net", "att"),
    ("sbcglobal.net", "att"),
    ("bellsouth.net", "att"),
    ("cox.net", "cox"),
];

/// Country variants: `hotmail.co.uk`, `yahoo.fr`, `outlook.de`, `live.nl`.
const PREFIXES: &[(&str, &str)] =
    &[("hotmail.", "microsoft"), ("outlook.", "microsoft"), ("live.", "microsoft"), ("yahoo.", "yahoo")];

/// The receiver of a recipient domain, if it is one of the big ones.
///
/// Runs on every delivery: a domain is compared only with the names of its
/// length and first letter (comparing it with all 23 cost about 250
/// instructions a delivery).
pub fn provider_of(domain: &str) -> Option<&'static str> {
    // Compared without case rather than lowercased: a copy per delivery.
    let domain = domain.trim_end_matches('.').as_bytes();
    let first = domain.first()?.to_ascii_lowercase();
    let same = |name: &[u8]| name.len() == domain.len() && name[0] == first && domain.eq_ignore_ascii_case(name);
    let starts =
        |name: &[u8]| name[0] == first && domain.get(..name.len()).is_some_and(|head| head.eq_ignore_ascii_case(name));
    DOMAINS
        .iter()
        .find(|(d, _)| same(d.as_bytes()))
        .or_else(|| PREFIXES.iter().find(|(p, _)| starts(p.as_bytes())))
        .map(|(_, provider)| *provider)
}

#[cfg(test)]
mod tests {
    use super::{DOMAINS, PREFIXES, provider_of};

    /// `provider_of` as it was: every name compared.
    fn provider_of_plain(domain: &str) -> Option<&'static str> {
        let domain = domain.trim_end_matches('.').as_bytes();
        DOMAINS
            .iter()
            .find(|(d, _)| domain.eq_ignore_ascii_case(d.as_bytes()))
            .or_else(|| {
                PREFIXES
                    .iter()
                    .find(|(p, _)| domain.get(..p.len()).is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes())))
            })
            .map(|(_, provider)| *provider)
    }

    #[test]
    fn every_name_and_its_variants_map_as_before() {
        let names = DOMAINS.iter().map(|(d, _)| *d).chain(PREFIXES.iter().map(|(p, _)| *p));
        for name in names {
            let upper = name.to_ascii_uppercase();
            let variants = [
                name.to_string(),
                format!("{name}."),
                format!("{upper}.."),
                format!("{name}co.uk"),
                format!("x{name}"),
                name[1..].to_string(),
                name[..name.len() - 1].to_string(),
                format!("{name}é"),
            ];
            for domain in variants.iter().map(String::as_str).chain(["", ".", "é.com", "G"]) {
                assert_eq!(provider_of(domain), provider_of_plain(domain), "{domain:?}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_domain_maps_as_before(domain in "[a-zA-Z.é-]{0,14}") {
            proptest::prop_assert_eq!(provider_of(&domain), provider_of_plain(&domain));
        }
    }

    #[test]
    fn consumer_domains_map_to_their_receiver() {
        assert_eq!(provider_of("Hotmail.co.uk"), Some("microsoft"));
        assert_eq!(provider_of("gmail.com."), Some("google"));
        assert_eq!(provider_of("aol.com"), Some("yahoo"));
        assert_eq!(provider_of("web.de"), Some("gmx"));
        assert_eq!(provider_of("shop.example"), None);
        assert_eq!(provider_of("mylive.com"), None);
    }
}
