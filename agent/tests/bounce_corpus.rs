//! The labelled bounce corpus (`tests/corpus/bounces.tsv`): every line is
//! classified and compared field by field; the per-field accuracy is printed
//! (`cargo test --test bounce_corpus -- --nocapture`) and must be 100%. When a
//! line fails, fix the signatures (or, for a genuinely ambiguous reply, the
//! label with a comment saying why), never drop the line.
#![allow(clippy::unwrap_used)]

use std::net::IpAddr;

use rblfleet_agent::bounce::{Classification, Family, classify};

/// Every provider id docs/DESIGN.md names: the corpus must exercise each.
const DESIGN_PROVIDERS: &[&str] = &[
    "spamhaus",
    "barracuda",
    "spamcop",
    "uceprotect",
    "psbl",
    "mailspike",
    "spamrats",
    "abusix",
    "s5h",
    "backscatterer",
    "invaluement",
    "microsoft",
    "google",
    "yahoo",
    "apple",
    "proofpoint",
    "cloudmark",
    "comcast",
    "att",
    "cox",
    "gmx",
    "t-online",
    "mimecast",
    "trendmicro",
    "cisco",
];

struct Labelled {
    line_no: usize,
    expected: Classification,
    text: String,
}

fn opt(s: &str) -> Option<String> {
    (s != "-").then(|| s.to_string())
}

fn family(s: &str) -> Family {
    serde_json::from_value(serde_json::Value::String(s.to_string())).unwrap_or_else(|_| panic!("bad family {s:?}"))
}

fn load() -> Vec<Labelled> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/bounces.tsv");
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let cols: Vec<&str> = line.splitn(7, '\t').collect();
        assert_eq!(cols.len(), 7, "line {}: expected 7 tab-separated columns", i + 1);
        let expected = Classification {
            family: family(cols[0]),
            provider: opt(cols[1]),
            zone: opt(cols[2]),
            code: opt(cols[3]),
            ip: opt(cols[4]).map(|ip| ip.parse::<IpAddr>().unwrap()),
            temporary: opt(cols[5]).map(|t| t.parse::<bool>().unwrap()),
        };
        out.push(Labelled { line_no: i + 1, expected, text: cols[6].to_string() });
    }
    out
}

#[test]
fn corpus_is_classified_exactly() {
    let corpus = load();
    assert!(corpus.len() >= 80, "the corpus needs at least 80 labelled lines, has {}", corpus.len());
    for provider in DESIGN_PROVIDERS {
        assert!(
            corpus.iter().any(|l| l.expected.provider.as_deref() == Some(*provider)),
            "no corpus line for provider {provider}"
        );
    }

    let fields = ["family", "provider", "zone", "code", "ip", "temporary"];
    let mut right = [0usize; 6];
    let mut failures = Vec::new();
    for l in &corpus {
        let got = classify(&l.text);
        let e = &l.expected;
        let ok = [
            got.family == e.family,
            got.provider == e.provider,
            got.zone == e.zone,
            got.code == e.code,
            got.ip == e.ip,
            got.temporary == e.temporary,
        ];
        for (n, hit) in right.iter_mut().zip(ok) {
            *n += usize::from(hit);
        }
        if ok.contains(&false) {
            failures.push(format!("line {}:\n  want {e:?}\n  got  {got:?}\n  text {}", l.line_no, l.text));
        }
    }
    let total = corpus.len();
    println!("bounce corpus: {total} labelled lines");
    for (name, n) in fields.iter().zip(right) {
        println!("  {name:<10} {n:>4}/{total} = {:6.2}%", 100.0 * n as f64 / total as f64);
    }
    let exact = total - failures.len();
    println!("  all fields {exact:>4}/{total} = {:6.2}%", 100.0 * exact as f64 / total as f64);
    assert!(failures.is_empty(), "{} corpus lines misclassified:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn classification_serialises_with_the_documented_field_names() {
    let got = classify("554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org");
    let json = serde_json::to_value(&got).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "family": "ip",
            "provider": "spamhaus",
            "zone": "zen.spamhaus.org",
            "code": null,
            "ip": "192.0.2.1",
            "temporary": false
        })
    );
}
