#![allow(clippy::unwrap_used)]
use super::*;

#[test]
fn patterns_parse_and_print() {
    for text in ["127.0.0.2", "127.0.0.5-127.0.0.7", "127.0.0.0&4"] {
        assert_eq!(Pattern::parse(text).unwrap().to_string(), text);
    }
    assert!(Pattern::parse("127.0.0.7-127.0.0.5").unwrap_err().contains("low end"));
    assert!(Pattern::parse("10.0.0.2").unwrap_err().contains("outside 127.0.0.0/8"));
    assert!(Pattern::parse("127.0.0.1&4").unwrap_err().contains("last octet must be 0"));
    assert!(Pattern::parse("127.0.0.0&0").is_err());
    assert!(Pattern::parse("127.0.0.0&256").is_err());
    assert!(Pattern::parse("listed").is_err());
}

#[test]
fn bitmask_matches_all_bits() {
    let p = Pattern::parse("127.0.0.0&6").unwrap();
    assert!(p.matches(Ipv4Addr::new(127, 0, 0, 6)));
    assert!(p.matches(Ipv4Addr::new(127, 0, 0, 7)));
    assert!(!p.matches(Ipv4Addr::new(127, 0, 0, 4)));
    assert!(!p.matches(Ipv4Addr::new(127, 0, 1, 6)));
}

fn entry(code: &str, meaning: &str) -> Entry {
    Entry { pattern: Pattern::parse(code).unwrap(), meaning: meaning.into(), listed: true }
}

#[test]
fn overlaps_are_refused() {
    let dup = CodeTable::new(vec![entry("127.0.0.2", "a"), entry("127.0.0.2", "b")], vec![]);
    assert!(dup.unwrap_err().contains("overlap"));
    let ranges = CodeTable::new(vec![entry("127.0.0.2-127.0.0.5", "a"), entry("127.0.0.5-127.0.0.9", "b")], vec![]);
    assert!(ranges.is_err());
    let hidden = CodeTable::new(vec![entry("127.0.0.2", "a")], vec![entry("127.0.0.0-127.0.0.3", "e")]);
    assert!(hidden.unwrap_err().contains("hidden"));
    // An exact code inside a range is fine: the exact one is more specific.
    assert!(CodeTable::new(vec![entry("127.0.0.2-127.0.0.9", "r"), entry("127.0.0.4", "x")], vec![]).is_ok());
}

#[test]
fn most_specific_wins() {
    let table =
        CodeTable::new(vec![entry("127.0.0.2-127.0.0.9", "range"), entry("127.0.0.4", "exact")], vec![]).unwrap();
    let d = table.decode(ZoneKind::Ip, &[Ipv4Addr::new(127, 0, 0, 4), Ipv4Addr::new(127, 0, 0, 5)]);
    assert_eq!(
        d,
        Decoded::Listed {
            codes: vec![Ipv4Addr::new(127, 0, 0, 4), Ipv4Addr::new(127, 0, 0, 5)],
            meanings: vec!["exact".into(), "range".into()],
        }
    );
}

#[test]
fn empty_answer_is_an_error() {
    let table = CodeTable::new(vec![entry("127.0.0.2", "x")], vec![]).unwrap();
    assert!(matches!(table.decode(ZoneKind::Ip, &[]), Decoded::Error { .. }));
}
