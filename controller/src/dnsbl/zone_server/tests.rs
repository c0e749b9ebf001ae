//! The zone server playing the domain lists of the shipped catalog (Spamhaus
//! DBL and its DQS twin, SURBL multi, URIBL multi), asked by a real
//! [`Lookups`] over UDP on 127.0.0.1: listings, wildcards, every list's
//! error answers, REFUSED, IDN names and the health probes of each list.

#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use super::{Behaviour, ZoneServer};
use crate::catalog::{Catalog, CatalogConfig, Target, Zone, ZoneOverride};
use crate::dnsbl::health::judge;
use crate::dnsbl::lookup::{Lookups, Outcome, ResolverSettings, Status};

const DBL: &str = "dbl.spamhaus.org";
const SURBL: &str = "multi.surbl.org";
const URIBL: &str = "multi.uribl.com";
const KEY: &str = "Zq7TestKeyAbc123def456ghij";

fn code(last3: u8, last: u8) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, last3, last)
}

fn domain(name: &str) -> Target {
    Target::Domain(name.into())
}

/// The embedded catalog, with a DQS key so the keyed DBL zone is usable.
fn catalog() -> Catalog {
    let mut catalog = Catalog::embedded().unwrap();
    let mut config = CatalogConfig::default();
    config.zone.insert("spamhaus-dbl-dqs".into(), ZoneOverride { key: Some(KEY.into()), ..ZoneOverride::default() });
    catalog.apply(&config).unwrap();
    catalog
}

fn zone(catalog: &Catalog, id: &str) -> Zone {
    catalog.zones().iter().find(|z| z.id == id).unwrap().clone()
}

/// A server for the three public domain lists (the DBL wildcarded, as it is)
/// and a lookup client that asks it.
async fn setup() -> (ZoneServer, Lookups) {
    let server = ZoneServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).await.unwrap();
    for zone in [DBL, SURBL, URIBL] {
        server.add_zone(zone).unwrap();
    }
    server.set_wildcard(DBL, true).unwrap();
    let settings = ResolverSettings { nameservers: vec![server.addr()], timeout: Duration::from_secs(2), retries: 0 };
    (server, Lookups::new(&settings).unwrap())
}

async fn check(lookups: &Lookups, zone: &Zone, target: &Target) -> Outcome {
    lookups.check(zone, target).await
}

#[tokio::test]
async fn a_listed_domain_and_its_host_names_on_a_wildcarded_zone() {
    let (server, lookups) = setup().await;
    let c = catalog();
    let dbl = zone(&c, "spamhaus-dbl");
    server
        .list_name(DBL, "shop.example", &[code(1, 2)], Some("https://check.spamhaus.org/query/dbl?domain=shop.example"))
        .unwrap();

    let listed = check(&lookups, &dbl, &domain("shop.example")).await;
    assert_eq!(listed.status, Status::Listed, "{listed:?}");
    assert_eq!(listed.codes, ["127.0.1.2"]);
    assert_eq!(listed.meanings, ["DBL: low-reputation (spam) domain"]);
    assert_eq!(listed.txt.as_deref(), Some("https://check.spamhaus.org/query/dbl?domain=shop.example"));

    // A host name under it answers as the domain does (the DBL ignores host parts).
    let host = check(&lookups, &dbl, &domain("mail.shop.example")).await;
    assert_eq!((host.status, host.codes.as_slice()), (Status::Listed, ["127.0.1.2".to_string()].as_slice()));
    // A name that only ends like it is another domain.
    assert_eq!(check(&lookups, &dbl, &domain("myshop.example")).await.status, Status::Clean);

    // SURBL is not wildcarded here: only the name asked is listed.
    let surbl = zone(&c, "surbl-multi");
    server.list_name(SURBL, "shop.example", &[code(0, 64)], None).unwrap();
    assert_eq!(check(&lookups, &surbl, &domain("shop.example")).await.status, Status::Listed);
    assert_eq!(check(&lookups, &surbl, &domain("www.shop.example")).await.status, Status::Clean);

    server.unlist_name(DBL, "shop.example").unwrap();
    assert_eq!(check(&lookups, &dbl, &domain("mail.shop.example")).await.status, Status::Clean);
    assert_eq!(server.queries(DBL), 6, "3 A queries, a TXT for each of the 2 listings, 1 after the unlisting");
}

#[tokio::test]
async fn bitmask_answers_carry_every_sublist() {
    let (server, lookups) = setup().await;
    let c = catalog();
    server.list_name(SURBL, "bad.example", &[code(0, 80)], Some("listed on MW, ABUSE")).unwrap();
    let surbl = check(&lookups, &zone(&c, "surbl-multi"), &domain("bad.example")).await;
    assert_eq!(surbl.status, Status::Listed);
    assert_eq!(surbl.meanings, ["SURBL MW: malware site; SURBL ABUSE: spam-advertised or abused site"]);

    server.list_name(URIBL, "bulk.example", &[code(0, 6)], None).unwrap();
    let uribl = check(&lookups, &zone(&c, "uribl-multi"), &domain("bulk.example")).await;
    assert_eq!(uribl.status, Status::Listed);
    assert_eq!(
        uribl.meanings,
        ["URIBL black: domain used by spammers; URIBL grey: domain seen in bulk mail, may honour opt-out"]
    );
}

#[tokio::test]
async fn every_lists_error_answers_are_errors_never_listings() {
    let (server, lookups) = setup().await;
    let c = catalog();
    let cases = [
        ("spamhaus-dbl", DBL, code(1, 255), "an IP address was asked of a domain list"),
        ("spamhaus-dbl", DBL, Ipv4Addr::new(127, 255, 255, 254), "refuses queries from public resolvers"),
        ("spamhaus-dbl", DBL, Ipv4Addr::new(127, 255, 255, 255), "too many queries"),
        ("uribl-multi", URIBL, code(0, 1), "URIBL refused the query"),
        ("surbl-multi", SURBL, code(0, 1), "SURBL: access blocked"),
    ];
    for (i, (id, served, answer, says)) in cases.into_iter().enumerate() {
        let name = format!("case{i}.example");
        server.list_name(served, &name, &[answer], None).unwrap();
        let outcome = check(&lookups, &zone(&c, id), &domain(&name)).await;
        assert_eq!(outcome.status, Status::Error, "{id} {answer}: {outcome:?}");
        assert!(outcome.error.as_deref().unwrap_or("").contains(says), "{id} {answer}: {outcome:?}");
        assert!(outcome.meanings.is_empty(), "{id} {answer}: an error has no listing meaning");
    }
    // An error code next to a listing code: the error wins, the answer is not trusted.
    server.list_name(DBL, "mixed.example", &[code(1, 2), Ipv4Addr::new(127, 255, 255, 254)], None).unwrap();
    assert_eq!(check(&lookups, &zone(&c, "spamhaus-dbl"), &domain("mixed.example")).await.status, Status::Error);
}

#[tokio::test]
async fn a_refused_query_is_an_error() {
    let (server, lookups) = setup().await;
    let c = catalog();
    server.list_name(URIBL, "shop.example", &[code(0, 2)], None).unwrap();
    server.set_behaviour(URIBL, Behaviour::Refused).unwrap();
    let outcome = check(&lookups, &zone(&c, "uribl-multi"), &domain("shop.example")).await;
    assert_eq!(outcome.status, Status::Error);
    assert!(outcome.error.as_deref().unwrap_or("").starts_with("REFUSED"), "{outcome:?}");
}

#[tokio::test]
async fn idn_domains_are_served_and_asked_in_punycode() {
    let (server, lookups) = setup().await;
    let c = catalog();
    // Listed in Unicode, served in punycode; listed in punycode, same entry.
    server.list_name(DBL, "bücher.example", &[code(1, 102)], None).unwrap();
    server.list_name(URIBL, "xn--mller-kva.example", &[code(0, 8)], None).unwrap();

    let target = Target::parse("www.Bücher.example").unwrap();
    assert_eq!(target, domain("xn--bcher-kva.example"));
    let dbl = check(&lookups, &zone(&c, "spamhaus-dbl"), &target).await;
    assert_eq!(
        (dbl.status, dbl.meanings.as_slice()),
        (Status::Listed, ["DBL: abused legitimate domain (spam)".to_string()].as_slice())
    );

    let uribl = check(&lookups, &zone(&c, "uribl-multi"), &Target::parse("müller.example").unwrap()).await;
    assert_eq!(uribl.status, Status::Listed, "{uribl:?}");
    assert_eq!(uribl.target, domain("xn--mller-kva.example"));
}

#[tokio::test]
async fn the_dqs_zone_is_served_under_its_key_and_never_shows_it() {
    let (server, lookups) = setup().await;
    let c = catalog();
    let served = format!("{KEY}.dbl.dq.spamhaus.net");
    server.add_zone(&served).unwrap();
    server.list_name(&served, "shop.example", &[code(1, 2)], Some(&format!("see {KEY}"))).unwrap();
    let outcome = check(&lookups, &zone(&c, "spamhaus-dbl-dqs"), &domain("shop.example")).await;
    assert_eq!(outcome.status, Status::Listed);
    assert_eq!(outcome.zone, "<key>.dbl.dq.spamhaus.net");
    let json = serde_json::to_string(&outcome).unwrap();
    assert!(!json.to_lowercase().contains(&KEY.to_lowercase()), "{json}");
    assert_eq!(server.queries(&served), 2, "A and TXT");
    assert_eq!(server.queries(DBL), 0, "the public mirror is not asked");
}

/// The outcomes of a zone's two test points, as the health probe asks them.
async fn probe(lookups: &Lookups, zone: &Zone) -> Result<(), String> {
    let (listed, unlisted) = zone.test_points();
    judge(&lookups.probe(zone, &listed).await, &lookups.probe(zone, &unlisted).await)
}

#[tokio::test]
async fn health_probes_use_each_lists_test_names() {
    let (server, lookups) = setup().await;
    let c = catalog();
    let (dbl, surbl, uribl) = (zone(&c, "spamhaus-dbl"), zone(&c, "surbl-multi"), zone(&c, "uribl-multi"));
    assert_eq!(dbl.test_points(), (domain("dbltest.com"), domain("invalid")));
    assert_eq!(surbl.test_points(), (domain("test.surbl.org"), domain("invalid")));
    assert_eq!(uribl.test_points(), (domain("test.uribl.com"), domain("invalid")));

    // Before the test names are listed, each list "lists nothing".
    for zone in [&dbl, &surbl, &uribl] {
        let verdict = probe(&lookups, zone).await;
        assert!(verdict.as_ref().is_err_and(|e| e.starts_with("lists nothing")), "{}: {verdict:?}", zone.id);
    }
    // The answers the operators give for their test names.
    server.list_name(DBL, "dbltest.com", &[code(1, 2)], None).unwrap();
    server.list_name(SURBL, "test.surbl.org", &[code(0, 254)], None).unwrap();
    server.list_name(URIBL, "test.uribl.com", &[code(0, 14)], None).unwrap();
    for zone in [&dbl, &surbl, &uribl] {
        assert_eq!(probe(&lookups, zone).await, Ok(()), "{}", zone.id);
    }

    // A resolver the lists refuse: every name gets the refusal code.
    server.set_behaviour(DBL, Behaviour::ListsEverything(Ipv4Addr::new(127, 255, 255, 254))).unwrap();
    server.set_behaviour(URIBL, Behaviour::ListsEverything(code(0, 1))).unwrap();
    server.set_behaviour(SURBL, Behaviour::ListsEverything(code(0, 1))).unwrap();
    for (zone, says) in [(&dbl, "public resolvers"), (&uribl, "URIBL refused"), (&surbl, "access blocked")] {
        let verdict = probe(&lookups, zone).await;
        assert!(
            verdict.as_ref().is_err_and(|e| e.starts_with("answers with errors") && e.contains(says)),
            "{}: {verdict:?}",
            zone.id
        );
    }
    // A zone that lists every name (a lapsed domain's wildcard) is caught by `invalid`.
    server.set_behaviour(DBL, Behaviour::ListsEverything(code(1, 2))).unwrap();
    let verdict = probe(&lookups, &dbl).await;
    assert!(verdict.as_ref().is_err_and(|e| e.starts_with("lists everything") && e.contains("invalid")), "{verdict:?}");
}
