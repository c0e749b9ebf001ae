//! The domain lists of the embedded catalog: their rows, what is enabled,
//! the query names, and the verdict of the code table decoder ("error codes
//! first, then exact, range, bitmask") on every answer they document.

#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;

use super::tests::{catalog, config, v4};
use super::*;

const KEY: &str = "Abc123SecretKey456xyz7890q";
const DOMAIN_ZONES: [&str; 5] = ["spamhaus-dbl", "spamhaus-dbl-dqs", "surbl-multi", "uribl-multi", "sem-uri"];

fn zone<'a>(c: &'a Catalog, id: &str) -> &'a Zone {
    c.zones().iter().find(|z| z.id == id).unwrap_or_else(|| panic!("no zone {id}"))
}

fn listed(meanings: &[&str], codes: &[Ipv4Addr]) -> Decoded {
    Decoded::Listed { codes: codes.to_vec(), meanings: meanings.iter().map(|m| m.to_string()).collect() }
}

/// The error meaning of an answer, or a panic saying what it was instead.
fn error(zone: &Zone, answers: &[Ipv4Addr]) -> String {
    match zone.decode(answers) {
        Decoded::Error { meaning, .. } => meaning,
        other => panic!("{}: {answers:?} decoded as {other:?}, not an error", zone.id),
    }
}

#[test]
fn the_domain_lists_are_domain_zones() {
    let c = catalog();
    let ids: Vec<&str> = c.zones().iter().filter(|z| z.kind == ZoneKind::Domain).map(|z| z.id.as_str()).collect();
    assert_eq!(ids, DOMAIN_ZONES);
    for id in DOMAIN_ZONES {
        let z = zone(&c, id);
        assert!(!z.ipv4 && !z.ipv6, "{id} lists names, not addresses");
        let (listed, unlisted) = z.test_points();
        assert!(listed.is_domain() && unlisted.is_domain(), "{id}");
        assert_eq!(unlisted, Target::Domain("invalid".into()), "{id}: RFC 5782's never-listed name");
        assert!(z.code_table().iter().all(|row| row.error || row.listed), "{id}: a domain list has no 'good' answers");
    }
}

#[test]
fn public_domain_lists_are_on_and_the_dqs_twin_replaces_the_mirror() {
    let mut c = catalog();
    let on: Vec<String> = c.enabled().iter().map(|z| z.id.clone()).collect();
    for id in ["spamhaus-dbl", "surbl-multi", "uribl-multi"] {
        assert!(on.iter().any(|o| o == id), "{id} should be enabled by default");
    }
    for id in ["spamhaus-dbl-dqs", "sem-uri"] {
        assert!(!on.iter().any(|o| o == id), "{id} should not be queried by default");
    }
    c.apply(&config(&format!("[zone.spamhaus-dbl-dqs]\nkey = \"{KEY}\"\n"))).unwrap();
    let on: Vec<String> = c.enabled().iter().map(|z| z.id.clone()).collect();
    assert!(on.iter().any(|o| o == "spamhaus-dbl-dqs"));
    assert!(!on.iter().any(|o| o == "spamhaus-dbl"), "the DQS zone supersedes the public mirror");
    // The IP zones are untouched by the DBL key.
    assert!(on.iter().any(|o| o == "spamhaus-zen"));
}

#[test]
fn domains_are_asked_by_registrable_name_and_addresses_never() {
    let mut c = catalog();
    let dbl = zone(&c, "spamhaus-dbl");
    let host = Target::parse("www.Shop.Example.co.uk").unwrap();
    assert_eq!(dbl.query_name(&host).as_deref(), Some("example.co.uk.dbl.spamhaus.org"));
    let idn = Target::parse("bücher.example").unwrap();
    assert_eq!(zone(&c, "uribl-multi").query_name(&idn).as_deref(), Some("xn--bcher-kva.example.multi.uribl.com"));
    let ip = Target::Ip("192.0.2.1".parse().unwrap());
    assert!(!dbl.covers(&ip) && dbl.query_name(&ip).is_none(), "an IP asked of the DBL only earns 127.0.1.255");
    assert!(!zone(&c, "spamhaus-zen").covers(&host));

    assert_eq!(zone(&c, "spamhaus-dbl-dqs").query_name(&host), None, "no key, no query");
    c.apply(&config(&format!("[zone.spamhaus-dbl-dqs]\nkey = \"{KEY}\"\n"))).unwrap();
    let dqs = zone(&c, "spamhaus-dbl-dqs");
    assert_eq!(dqs.query_name(&host), Some(format!("example.co.uk.{KEY}.dbl.dq.spamhaus.net")));
    assert_eq!(dqs.display_zone(), "<key>.dbl.dq.spamhaus.net");
    assert!(!format!("{dqs:?}").contains(KEY));
}

#[test]
fn test_points_are_the_operators_test_names() {
    let c = catalog();
    let name = |id: &str| zone(&c, id).test_points().0.to_string();
    assert_eq!(name("spamhaus-dbl"), "dbltest.com");
    assert_eq!(name("spamhaus-dbl-dqs"), "dbltest.com");
    assert_eq!(name("surbl-multi"), "test.surbl.org");
    assert_eq!(name("uribl-multi"), "test.uribl.com");
    assert_eq!(name("sem-uri"), "test", "no documented name: RFC 5782's");
    // Queried as written, not cut to a registrable domain.
    let surbl = zone(&c, "surbl-multi");
    assert_eq!(surbl.query_name(&surbl.test_points().0).as_deref(), Some("test.surbl.org.multi.surbl.org"));
}

#[test]
fn dbl_codes_decode() {
    let c = catalog();
    for id in ["spamhaus-dbl", "spamhaus-dbl-dqs"] {
        let dbl = zone(&c, id);
        assert_eq!(
            dbl.decode(&[v4(127, 0, 1, 2)]),
            listed(&["DBL: low-reputation (spam) domain"], &[v4(127, 0, 1, 2)])
        );
        assert_eq!(
            dbl.decode(&[v4(127, 0, 1, 104)]),
            listed(&["DBL: abused legitimate domain (phishing)"], &[v4(127, 0, 1, 104)])
        );
        assert!(error(dbl, &[v4(127, 0, 1, 255)]).contains("an IP address was asked of a domain list"), "{id}");
        assert!(error(dbl, &[v4(127, 255, 255, 254)]).contains("public resolver"), "{id}");
        assert!(error(dbl, &[v4(127, 255, 255, 252)]).contains("mistyped"), "{id}");
        // Error codes win over a listing code in the same answer.
        assert!(error(dbl, &[v4(127, 0, 1, 2), v4(127, 255, 255, 255)]).contains("too many queries"), "{id}");
        // An undocumented code inside 127/8 is still a listing, said to be unknown.
        assert_eq!(dbl.decode(&[v4(127, 0, 1, 7)]), listed(&["unknown code 127.0.1.7"], &[v4(127, 0, 1, 7)]));
        assert!(error(dbl, &[v4(198, 51, 100, 7)]).contains("outside 127.0.0.0/8"));
    }
    assert!(error(zone(&c, "spamhaus-dbl-dqs"), &[v4(127, 255, 255, 250)]).contains("key"));
}

#[test]
fn surbl_bits_decode() {
    let c = catalog();
    let surbl = zone(&c, "surbl-multi");
    assert_eq!(surbl.decode(&[v4(127, 0, 0, 8)]), listed(&["SURBL PH: phishing site"], &[v4(127, 0, 0, 8)]));
    // 16 + 64: two sublists in one answer, in data order.
    assert_eq!(
        surbl.decode(&[v4(127, 0, 0, 80)]),
        listed(&["SURBL MW: malware site; SURBL ABUSE: spam-advertised or abused site"], &[v4(127, 0, 0, 80)])
    );
    // The test name's answer: every bit, bit 2 known to nobody.
    let Decoded::Listed { meanings, .. } = surbl.decode(&[v4(127, 0, 0, 254)]) else { panic!("test answer") };
    assert_eq!(meanings[0].split("; ").count(), 7, "{meanings:?}");
    assert!(meanings[0].ends_with("unknown bits 2"), "{meanings:?}");
    assert!(error(surbl, &[v4(127, 0, 0, 1)]).contains("access blocked"));
}

#[test]
fn uribl_bits_decode_and_its_refusal_is_an_error() {
    let c = catalog();
    let uribl = zone(&c, "uribl-multi");
    assert_eq!(
        uribl.decode(&[v4(127, 0, 0, 2)]),
        listed(&["URIBL black: domain used by spammers"], &[v4(127, 0, 0, 2)])
    );
    assert_eq!(
        uribl.decode(&[v4(127, 0, 0, 14)]),
        listed(
            &["URIBL black: domain used by spammers; URIBL grey: domain seen in bulk mail, may honour opt-out; \
               URIBL red: young or whois-private domain active in mail flow"],
            &[v4(127, 0, 0, 14)]
        )
    );
    // 127.0.0.1 is the refusal: an error, never a listing and never clean.
    let refused = error(uribl, &[v4(127, 0, 0, 1)]);
    assert!(refused.contains("refused") && refused.contains("local recursive resolver"), "{refused}");
    assert!(!uribl.decode(&[v4(127, 0, 0, 1)]).is_listed());
}

#[test]
fn domain_zone_rows_are_checked_like_the_others() {
    let zone_toml = |extra: &str| {
        format!(
            "schema = 1\n[[zone]]\nid = \"d\"\nname = \"D\"\nzone = \"d.example\"\nkind = \"domain\"\nenabled = true\n\
             budget = {{ per_second = 1, per_day = 10 }}\ndelist = {{ kind = \"contact\" }}\n\
             codes = [{{ code = \"127.0.0.2\", meaning = \"listed\" }}]\n{extra}"
        )
    };
    let ok =
        Catalog::from_toml_str(&zone_toml("test_points = { listed = \"Test.Example.\", unlisted = \"invalid\" }"), "t")
            .unwrap();
    assert_eq!(ok.zones()[0].test_points().0, Target::Domain("test.example".into()));
    let refused = |extra: &str| Catalog::from_toml_str(&zone_toml(extra), "t").unwrap_err().to_string();
    assert!(refused("ipv4 = true").contains("a domain zone lists names, not addresses"));
    assert!(
        refused("test_points = { listed = \"not a name\", unlisted = \"invalid\" }").contains("is not a domain name")
    );
    assert!(refused("test_points = { listed = \"invalid\", unlisted = \"invalid\" }").contains("the same"));
}
