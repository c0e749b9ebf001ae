//! Tests of the zone catalog against the real embedded data.

#![allow(clippy::unwrap_used)]

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use super::*;

const KEY: &str = "Abc123SecretKey456xyz7890q";

pub(super) fn catalog() -> Catalog {
    Catalog::embedded().unwrap()
}

pub(super) fn v4(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

pub(super) fn config(text: &str) -> CatalogConfig {
    toml::from_str(text).unwrap()
}

fn with_key(catalog: &mut Catalog, id: &str) {
    catalog.apply(&config(&format!("[zone.{id}]\nkey = \"{KEY}\"\n"))).unwrap();
}

#[test]
fn embedded_catalog_loads_with_enough_zones() {
    let c = catalog();
    let ip_v4 = c.zones().iter().filter(|z| z.ipv4 && matches!(z.kind, ZoneKind::Ip | ZoneKind::Mixed)).count();
    assert!(ip_v4 >= 40, "only {ip_v4} active ip/mixed zones with IPv4");
    assert!(c.dead().len() >= 16);
    assert!(c.receivers().len() >= 12);
    assert!(!c.enabled().is_empty());
    assert_eq!(c.origin(), "embedded zones.toml");
}

#[test]
fn errors_stay_small() {
    // Callers wrap CatalogError in their own errors (clippy's result_large_err).
    assert!(std::mem::size_of::<CatalogError>() <= 80, "{}", std::mem::size_of::<CatalogError>());
}

#[test]
fn ids_and_zone_names_are_unique() {
    let c = catalog();
    let mut ids = HashSet::new();
    for id in c.zones().iter().map(|z| &z.id).chain(c.dead().iter().map(|d| &d.id)) {
        assert!(ids.insert(id.clone()), "duplicate id {id}");
    }
    let mut names = HashSet::new();
    for z in c.zones() {
        assert!(names.insert(z.bare_zone()), "duplicate zone {}", z.bare_zone());
    }
}

#[test]
fn every_zone_is_complete() {
    for z in catalog().zones() {
        assert!(!z.code_table().is_empty(), "{}", z.id);
        assert!(z.budget.per_second > 0.0, "{}", z.id);
        assert!(z.needs_key || z.budget.per_day.is_some(), "{} has no daily budget", z.id);
        assert!(!z.sources().is_empty(), "{} has no sources", z.id);
        assert!(!z.usage_policy.is_empty(), "{} has no usage policy", z.id);
        assert_eq!(z.needs_key, z.display_zone().contains("<key>"), "{}", z.id);
        if z.delist.kind == DelistKind::Form {
            assert!(z.delist.url.is_some(), "{}", z.id);
        }
        if !z.verified {
            assert!(!z.note().is_empty(), "{} is unverified without a note", z.id);
        }
    }
}

#[test]
fn enabled_by_default_follows_the_policy() {
    let c = catalog();
    let on: Vec<&str> = c.enabled().iter().map(|z| z.id.as_str()).collect();
    for id in [
        "spamhaus-zen",
        "barracuda-brbl",
        "spamcop",
        "psbl",
        "mailspike-bl",
        "uceprotect-1",
        "s5h",
        "backscatterer",
        "spamrats-all",
    ] {
        assert!(on.contains(&id), "{id} should be enabled by default");
    }
    for id in ["spamhaus-zen-dqs", "abusix-combined", "uceprotect-2", "uceprotect-3", "0spam-nbl", "dnswl"] {
        assert!(!on.contains(&id), "{id} should not be queried by default");
    }
    assert!(c.enabled().iter().all(|z| z.usable()));
}

#[test]
fn dead_zones_are_refused_by_name_and_by_id() {
    let c = catalog();
    let cases = [
        ("sorbs", "dnsbl.sorbs.net", "2024-06"),
        ("nixspam", "ix.dnsbl.manitu.net", "2025-01-16"),
        ("wpbl", "db.wpbl.info", "2024"),
        ("cbl-abuseat", "cbl.abuseat.org", "2021"),
    ];
    for (id, zone, date) in cases {
        for selector in [id.to_string(), zone.to_string(), format!("{}.", zone.to_uppercase())] {
            let err = c.resolve(&selector).unwrap_err();
            let message = err.to_string();
            assert!(matches!(err, CatalogError::Dead { .. }), "{selector}: {message}");
            assert!(message.contains("dead") && message.contains(date), "{selector}: {message}");
        }
    }
    // Every dead zone of the reference, by id and by every name.
    for dead in c.dead() {
        for selector in std::iter::once(dead.id.as_str())
            .chain([dead.zone.as_str()])
            .chain(dead.aliases().iter().map(String::as_str))
        {
            let message = c.resolve(selector).unwrap_err().to_string();
            assert!(message.contains("dead since") && message.contains(&dead.dead_since), "{message}");
        }
    }
    let sorbs_spam = c.resolve("spam.dnsbl.sorbs.net").unwrap_err().to_string();
    assert!(sorbs_spam.contains("SORBS"), "{sorbs_spam}");
    let ahbl = c.resolve("dnsbl.ahbl.org").unwrap_err().to_string();
    assert!(ahbl.contains("every address"), "{ahbl}");
}

#[test]
fn resolve_by_id_or_name() {
    let c = catalog();
    assert_eq!(c.resolve("spamhaus-zen").unwrap().id, "spamhaus-zen");
    assert_eq!(c.resolve("ZEN.Spamhaus.org.").unwrap().id, "spamhaus-zen");
    assert_eq!(c.resolve(" bl.spamcop.net ").unwrap().id, "spamcop");
    assert_eq!(c.resolve("zen.dq.spamhaus.net").unwrap().id, "spamhaus-zen-dqs");
    assert_eq!(c.resolve("<key>.zen.dq.spamhaus.net").unwrap().id, "spamhaus-zen-dqs");
}

#[test]
fn unknown_zones_get_suggestions() {
    let c = catalog();
    match c.resolve("spamhaus-zem") {
        Err(CatalogError::Unknown { selector, suggestions }) => {
            assert_eq!(selector, "spamhaus-zem");
            assert_eq!(suggestions.first().map(String::as_str), Some("spamhaus-zen"));
        }
        other => panic!("{other:?}"),
    }
    let message = c.resolve("bl.spamcop.nte").unwrap_err().to_string();
    assert!(message.contains("did you mean") && message.contains("spamcop"), "{message}");
    let message = c.resolve("no-such-list.example").unwrap_err().to_string();
    assert!(message.contains("unknown zone \"no-such-list.example\""), "{message}");
}

#[test]
fn query_names() {
    let c = catalog();
    let zen = c.resolve("spamhaus-zen").unwrap();
    assert_eq!(zen.query_name(&Target::Ip(IpAddr::V4(v4(192, 0, 2, 1)))).unwrap(), "1.2.0.192.zen.spamhaus.org");
    let v6 = zen.query_name(&Target::Ip("2001:db8::1".parse().unwrap())).unwrap();
    let nibbles: Vec<&str> = v6.strip_suffix(".zen.spamhaus.org").unwrap().split('.').collect();
    assert_eq!(nibbles.len(), 32);
    assert_eq!(v6, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.zen.spamhaus.org");
    let spamcop = c.resolve("spamcop").unwrap();
    assert!(!spamcop.ipv6);
    assert_eq!(spamcop.query_name(&Target::Ip("2001:db8::1".parse().unwrap())), None);
    let sem6 = c.resolve("sem-ipv6").unwrap();
    assert_eq!(sem6.query_name(&Target::Ip(IpAddr::V4(v4(192, 0, 2, 1)))), None);
    assert!(sem6.query_name(&Target::Ip("2001:db8::1".parse().unwrap())).is_some());
}

#[test]
fn keyed_zone_without_key_is_not_queried() {
    let c = catalog();
    let dqs = c.resolve("spamhaus-zen-dqs").unwrap();
    assert!(dqs.needs_key && !dqs.has_key() && !dqs.usable());
    assert_eq!(dqs.query_name(&Target::Ip(IpAddr::V4(v4(192, 0, 2, 1)))), None);
    assert!(!c.enabled().iter().any(|z| z.id == "spamhaus-zen-dqs"));
    assert_eq!(dqs.display_zone(), "<key>.zen.dq.spamhaus.net");
}

#[test]
fn keyed_zone_with_key_never_shows_it() {
    let mut c = catalog();
    with_key(&mut c, "spamhaus-zen-dqs");
    let dqs = c.resolve("spamhaus-zen-dqs").unwrap();
    assert!(dqs.has_key());
    let name = dqs.query_name(&Target::Ip(IpAddr::V4(v4(192, 0, 2, 1)))).unwrap();
    assert_eq!(name, format!("1.2.0.192.{KEY}.zen.dq.spamhaus.net"));
    assert!(!dqs.display_zone().contains(KEY));
    assert!(!format!("{dqs:?}").contains(KEY));
    assert!(!format!("{c:?}").contains(KEY));
    let error = format!("SERVFAIL for {name} (lowercased: {})", name.to_ascii_lowercase());
    let redacted = dqs.redact(&error);
    assert!(!redacted.contains(KEY) && !redacted.to_ascii_lowercase().contains(&KEY.to_ascii_lowercase()));
    assert_eq!(redacted.matches("<key>").count(), 2, "{redacted}");
    // Resolving by the real name works and the DQS zone replaces the public mirror.
    assert_eq!(c.resolve(&format!("{KEY}.zen.dq.spamhaus.net")).unwrap().id, "spamhaus-zen-dqs");
    let on: Vec<&str> = c.enabled().iter().map(|z| z.id.as_str()).collect();
    assert!(on.contains(&"spamhaus-zen-dqs") && !on.contains(&"spamhaus-zen"), "{on:?}");
    // An unknown selector quoting the key does not echo it.
    let message = c.resolve(&format!("{KEY}.zen.dq.spamhaus.nt")).unwrap_err().to_string();
    assert!(!message.contains(KEY), "{message}");
}

#[test]
fn override_debug_does_not_print_the_key() {
    let cfg = config(&format!("[zone.abusix-combined]\nkey = \"{KEY}\"\n"));
    let shown = format!("{cfg:?}");
    assert!(!shown.contains(KEY) && shown.contains("<redacted>"), "{shown}");
}

#[test]
fn bad_keys_are_refused_without_echoing_them() {
    let mut c = catalog();
    let err = c.apply(&config("[zone.spamhaus-zen-dqs]\nkey = \"bad.key with spaces\"\n")).unwrap_err().to_string();
    assert!(err.contains("spamhaus-zen-dqs") && !err.contains("bad.key"), "{err}");
    let err = c.apply(&config(&format!("[zone.spamcop]\nkey = \"{KEY}\"\n"))).unwrap_err().to_string();
    assert!(err.contains("takes no key") && !err.contains(KEY), "{err}");
}

#[test]
fn zen_codes_decode() {
    let c = catalog();
    let zen = c.resolve("spamhaus-zen").unwrap();
    match zen.decode(&[v4(127, 0, 0, 10)]) {
        Decoded::Listed { codes, meanings } => {
            assert_eq!(codes, vec![v4(127, 0, 0, 10)]);
            assert!(meanings[0].starts_with("PBL: end-user range"), "{meanings:?}");
        }
        other => panic!("{other:?}"),
    }
    // Several A records: all kept, in order.
    match zen.decode(&[v4(127, 0, 0, 4), v4(127, 0, 0, 2), v4(127, 0, 0, 10)]) {
        Decoded::Listed { codes, meanings } => {
            assert_eq!(codes, vec![v4(127, 0, 0, 4), v4(127, 0, 0, 2), v4(127, 0, 0, 10)]);
            assert!(meanings[0].starts_with("XBL") && meanings[1].starts_with("SBL") && meanings[2].starts_with("PBL"));
        }
        other => panic!("{other:?}"),
    }
    // A range code.
    assert!(
        matches!(zen.decode(&[v4(127, 0, 0, 6)]), Decoded::Listed { meanings, .. } if meanings[0].contains("reserved"))
    );
    // An unknown code inside 127/8 counts as listed.
    assert_eq!(
        zen.decode(&[v4(127, 0, 0, 99)]),
        Decoded::Listed { codes: vec![v4(127, 0, 0, 99)], meanings: vec!["unknown code 127.0.0.99".into()] }
    );
}

#[test]
fn error_answers_are_never_listings() {
    let c = catalog();
    let zen = c.resolve("spamhaus-zen").unwrap();
    match zen.decode(&[v4(127, 255, 255, 254)]) {
        Decoded::Error { code, meaning } => {
            assert_eq!(code, v4(127, 255, 255, 254));
            assert!(meaning.contains("public resolvers"), "{meaning}");
        }
        other => panic!("{other:?}"),
    }
    for code in [v4(127, 255, 255, 252), v4(127, 255, 255, 255)] {
        assert!(matches!(zen.decode(&[code]), Decoded::Error { .. }));
    }
    // An error code among listings makes the whole answer an error.
    assert!(matches!(zen.decode(&[v4(127, 0, 0, 2), v4(127, 255, 255, 254)]), Decoded::Error { .. }));
    // Outside 127/8 is an error on every zone, whatever the zone says.
    for z in c.zones() {
        match z.decode(&[v4(10, 0, 0, 1)]) {
            Decoded::Error { code, meaning } => {
                assert_eq!(code, v4(10, 0, 0, 1));
                assert!(meaning.contains("outside 127.0.0.0/8"), "{meaning}");
            }
            other => panic!("{}: {other:?}", z.id),
        }
    }
    let backscatterer = c.resolve("backscatterer").unwrap();
    assert!(matches!(backscatterer.decode(&[v4(62, 0, 58, 94)]), Decoded::Error { .. }));
}

#[test]
fn good_answers_of_mixed_and_allow_zones_are_not_listings() {
    let c = catalog();
    let rep = c.resolve("mailspike-rep").unwrap();
    assert_eq!(rep.kind, ZoneKind::Mixed);
    match rep.decode(&[v4(127, 0, 0, 18)]) {
        Decoded::NotListed { codes, meanings } => {
            assert_eq!(codes, vec![v4(127, 0, 0, 18)]);
            assert!(meanings[0].contains("good"), "{meanings:?}");
        }
        other => panic!("{other:?}"),
    }
    assert!(rep.decode(&[v4(127, 0, 0, 10)]).is_listed());
    let karma = c.resolve("hostkarma").unwrap();
    assert!(!karma.decode(&[v4(127, 0, 0, 1), v4(127, 0, 1, 1)]).is_listed());
    assert!(karma.decode(&[v4(127, 0, 0, 2), v4(127, 0, 1, 1)]).is_listed());
    let dnswl = c.resolve("dnswl").unwrap();
    assert!(matches!(dnswl.decode(&[v4(127, 0, 5, 3)]), Decoded::NotListed { .. }));
    assert!(matches!(dnswl.decode(&[v4(127, 0, 99, 1)]), Decoded::NotListed { .. }), "allowlists never list");
    assert!(matches!(dnswl.decode(&[v4(127, 0, 0, 255)]), Decoded::Error { .. }));
}

#[test]
fn bitmask_zone_decodes_every_bit() {
    let c = catalog();
    let rpbl = c.resolve("senderscore-rpbl").unwrap();
    match rpbl.decode(&[v4(127, 0, 0, 5)]) {
        Decoded::Listed { codes, meanings } => {
            assert_eq!(codes.len(), 1);
            assert!(meanings[0].contains("BOT") && meanings[0].contains("PRST"), "{meanings:?}");
            assert!(!meanings[0].contains("SCORE"));
        }
        other => panic!("{other:?}"),
    }
    match rpbl.decode(&[v4(127, 0, 0, 17 + 32)]) {
        Decoded::Listed { meanings, .. } => {
            assert!(
                meanings[0].contains("BOT") && meanings[0].contains("SCORE") && meanings[0].contains("unknown bits 32")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(rpbl.decode(&[v4(127, 255, 255, 255)]), Decoded::Error { .. }));
}

#[test]
fn test_points_default_to_rfc5782() {
    let c = catalog();
    let zen = c.resolve("spamhaus-zen").unwrap();
    assert_eq!(zen.test_points(), (Target::Ip(IpAddr::V4(v4(127, 0, 0, 2))), Target::Ip(IpAddr::V4(v4(127, 0, 0, 1)))));
    let sem6 = c.resolve("sem-ipv6").unwrap();
    let (listed, unlisted) = sem6.test_points();
    assert_eq!(listed, Target::Ip("::ffff:127.0.0.2".parse::<IpAddr>().unwrap()));
    assert_eq!(unlisted, Target::Ip("::ffff:127.0.0.1".parse::<IpAddr>().unwrap()));
}

#[test]
fn delist_routes() {
    let c = catalog();
    let spamcop = c.resolve("spamcop").unwrap();
    assert_eq!(spamcop.delist.kind, DelistKind::AutoExpire);
    assert_eq!(spamcop.delist.kind.as_str(), "auto_expire");
    assert_eq!(spamcop.delist.expiry, Some(Duration::from_secs(24 * 3600)));
    assert_eq!(c.resolve("uceprotect-1").unwrap().delist.expiry, Some(Duration::from_secs(7 * 86400)));
    assert_eq!(c.resolve("spamhaus-zen").unwrap().delist.kind.as_str(), "form");
    assert_eq!(c.resolve("nordspam-bl").unwrap().delist.kind.as_str(), "contact");
    let gmail = c.receivers().iter().find(|r| r.id == "google").unwrap();
    assert_eq!(gmail.delist.kind, DelistKind::Form);
    assert!(gmail.lookup_url().is_some());
}
