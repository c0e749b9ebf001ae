//! Unit tests of the parts of the classifier the corpus cannot isolate.
#![allow(clippy::unwrap_used)]

use super::cache::VerdictCache;
use super::reply::{codes_and_text, extract_reply, first_named_ip};
use super::{BUILTIN_SIGNATURES, Family, SignatureError, Table, classify};

#[test]
fn builtin_table_compiles() {
    let table = Table::from_toml(BUILTIN_SIGNATURES).unwrap();
    assert!(table.len() > 50);
}

#[test]
fn bad_tables_are_refused_with_the_row_named() {
    let bad_regex = "[[signature]]\nid = \"x\"\nneedles = [\"a\"]\npattern = \"(\"\n";
    assert!(matches!(Table::from_toml(bad_regex), Err(SignatureError::Pattern { id, .. }) if id == "x"));
    let no_needles = "[[signature]]\nid = \"y\"\nneedles = []\n";
    assert!(matches!(Table::from_toml(no_needles), Err(SignatureError::Invalid { id, .. }) if id == "y"));
    let unknown_key = "[[signature]]\nid = \"z\"\nneedles = [\"a\"]\ncolour = \"red\"\n";
    assert!(matches!(Table::from_toml(unknown_key), Err(SignatureError::Toml(_))));
    let bad_family = "[[signature]]\nid = \"z\"\nneedles = [\"a\"]\nfamily = \"weird\"\n";
    assert!(matches!(Table::from_toml(bad_family), Err(SignatureError::Toml(_))));
    // A listing row must say why it is one; "no reply" is only ever transient.
    let listing_without_why = "[[signature]]\nid = \"w\"\nneedles = [\"a\"]\nfamily = \"ip\"\n";
    assert!(matches!(Table::from_toml(listing_without_why), Err(SignatureError::Invalid { id, .. }) if id == "w"));
    let loud_no_reply = "[[signature]]\nid = \"n\"\nneedles = [\"a\"]\nfamily = \"recipient\"\nno_reply = true\n";
    assert!(matches!(Table::from_toml(loud_no_reply), Err(SignatureError::Invalid { id, .. }) if id == "n"));
}

#[test]
fn empty_table_still_reads_the_code() {
    let verdict = Table::empty().classify("421 4.7.0 try later");
    assert_eq!((verdict.family, verdict.temporary), (Family::Other, Some(true)));
}

#[test]
fn key_labels_are_removed_from_zones() {
    let verdict = classify("554 5.7.1 Client host [192.0.2.1] blocked using ABCDEF123.zen.dq.spamhaus.net");
    assert_eq!(verdict.zone.as_deref(), Some("zen.dq.spamhaus.net"));
    let verdict = classify("554 5.7.1 Client host [192.0.2.1] blocked using k3y.black.mail.abusix.zone");
    assert_eq!(verdict.zone.as_deref(), Some("black.mail.abusix.zone"));
}

#[test]
fn temporary_comes_from_the_reply_not_from_status() {
    let line = "to=<a@example.com>, relay=mx.example[203.0.113.1]:25, delay=1, delays=1/0/0/0, dsn=4.0.0, \
                status=deferred (host mx.example[203.0.113.1] refused to talk to me: 554 5.7.1 go away)";
    assert_eq!(classify(line).temporary, Some(false));
    assert_eq!(classify("550 4.7.1 mixed").temporary, Some(false));
    assert_eq!(classify("4.7.1 enhanced only").temporary, Some(true));
    assert_eq!(classify("no code at all").temporary, None);
}

#[test]
fn status_codes_decide_when_no_words_match() {
    assert_eq!(classify("550 5.1.1 <x@example.org>... nope").family, Family::Recipient);
    assert_eq!(classify("451 4.4.2 bye").family, Family::Transient);
    assert_eq!(classify("550 5.7.26 bye").family, Family::Auth);
}

#[test]
fn replies_are_cut_out_of_lines() {
    assert_eq!(extract_reply("x said: 550 no (in reply to RCPT TO command))"), "550 no");
    assert_eq!(extract_reply("Diagnostic-Code: smtp; 554 x"), "554 x");
    assert_eq!(
        extract_reply(
            "SMTP error from remote server for RCPT TO command, host: mx.example (192.0.2.1) reason: 550 5.7.1 no"
        ),
        "550 5.7.1 no"
    );
    assert_eq!(extract_reply("host mx.example [192.0.2.1]: 554 no"), "554 no");
    assert_eq!(extract_reply("Dec  4 10:00:00 no code here"), "Dec  4 10:00:00 no code here");
    assert_eq!(
        extract_reply("A: to=<a@b>, relay=none, status=deferred (connect to x[192.0.2.1]:25: Connection timed out)"),
        "connect to x[192.0.2.1]:25: Connection timed out"
    );
    assert_eq!(
        extract_reply(
            "1.1 delivery 3: failure: 192.0.2.1_does_not_like_recipient./Remote_host_said:_550_no/Giving_up_on_192.0.2.1./"
        ),
        "550 no"
    );
    let (codes, flat) = codes_and_text("550-5.7.1 first 550-5.7.1 second 550 5.7.1 third");
    assert_eq!((codes.basic, codes.enhanced), (Some(550), Some("5.7.1")));
    assert_eq!(flat, "550-5.7.1 first second third");
}

#[test]
fn named_ip_skips_hosts_and_dnsbl_answers() {
    assert_eq!(first_named_ip("lost connection with mx.example[192.0.2.1] while"), None);
    assert_eq!(first_named_ip("listed at zone (127.0.0.2) for 198.51.100.3"), Some("198.51.100.3".parse().unwrap()));
    assert_eq!(first_named_ip("banned sender[198.51.100.2]."), Some("198.51.100.2".parse().unwrap()));
    assert_eq!(first_named_ip("at 10:29:11 version 5.7.1"), None);
    assert_eq!(first_named_ip("[2001:db8::2      12] x"), Some("2001:db8::2".parse().unwrap()));
}

#[test]
fn a_cached_verdict_is_exactly_the_uncached_one() {
    let table = Table::from_toml(BUILTIN_SIGNATURES).unwrap();
    let corpus = include_str!("../../agent/tests/corpus/bounces.tsv");
    let texts: Vec<&str> =
        corpus.lines().filter(|l| !l.starts_with('#') && !l.is_empty()).filter_map(|l| l.rsplit('\t').next()).collect();
    let mut cache = VerdictCache::default();
    for pass in 0..2 {
        for text in &texts {
            assert_eq!(table.classify_cached(text, &mut cache), table.classify(text), "pass {pass}: {text}");
        }
    }
    assert!(cache.hits >= texts.len() as u64, "the second pass is served from the cache");
    // Same wording, other recipient, IP and queue id: one decision, each reply's own IP.
    let mut cache = VerdictCache::default();
    let a = "550 5.7.1 <a@example.org> Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org; id 123456";
    let b = "550 5.7.1 <b@example.net> Service unavailable; Client host [198.51.100.2] blocked using zen.spamhaus.org; id 654321";
    let (va, vb) = (table.classify_cached(a, &mut cache), table.classify_cached(b, &mut cache));
    assert_eq!((cache.hits, cache.misses), (1, 1));
    assert_eq!(vb.ip, Some("198.51.100.2".parse().unwrap()));
    assert_eq!((va.family, va.zone.as_deref()), (vb.family, vb.zone.as_deref()));
}

#[test]
fn needles_match_words_not_ids_and_long_code_needles_still_match() {
    // A tracking id that happens to contain an operator's name names nobody.
    let id = classify("550 5.1.1 User unknown ab12spamhaus3456cdx99");
    assert_eq!((id.family, id.provider.as_deref()), (Family::Recipient, None));
    // A needle the cache key would blank (`AS(201806281)`) is kept verbatim,
    // on the uncached path and through the cache alike.
    let text = "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [x.prod.outlook.com]";
    let table = Table::from_toml(BUILTIN_SIGNATURES).unwrap();
    let mut cache = VerdictCache::default();
    let uncached = table.classify(text);
    assert_eq!(uncached.family, Family::Recipient);
    assert_eq!(table.classify_cached(text, &mut cache), uncached);
    assert_eq!(table.classify_cached(text, &mut cache), uncached);
}
