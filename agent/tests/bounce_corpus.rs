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

/// One line of `tests/corpus/bounces/*.tsv`; `None` fields are not checked.
struct Reply {
    at: String,
    family: Family,
    checked: [Option<Option<String>>; 5],
    text: String,
}

const FAMILIES: [Family; 7] =
    [Family::Ip, Family::Domain, Family::Content, Family::Auth, Family::Recipient, Family::Transient, Family::Other];

/// `-` is "none", `*` is "not checked".
fn checked(s: &str) -> Option<Option<String>> {
    match s {
        "*" => None,
        "-" => Some(None),
        v => Some(Some(v.to_string())),
    }
}

fn load_replies() -> Vec<Reply> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/bounces");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "tsv"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        for (i, line) in std::fs::read_to_string(&file).unwrap().lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let at = format!("{name}:{}", i + 1);
            let cols: Vec<&str> = line.splitn(8, '\t').collect();
            assert_eq!(cols.len(), 8, "{at}: expected 8 tab-separated columns");
            assert!(!cols[6].trim().is_empty() && cols[6] != "-", "{at}: every line names its source");
            let checked = [checked(cols[1]), checked(cols[2]), checked(cols[3]), checked(cols[4]), checked(cols[5])];
            out.push(Reply { at, family: family(cols[0]), checked, text: cols[7].to_string() });
        }
    }
    out
}

/// The bar of issue 12: no negative (a reply that is not an IP listing) is
/// ever classified `ip`, and at least 98 % of IP listings are found. Prints
/// per-family precision and recall and the confusion matrix
/// (`cargo test -p rblfleet-agent --test bounce_corpus -- --nocapture`).
#[test]
fn reply_corpus_precision_and_recall() {
    let mut replies = load_replies();
    // The older corpus counts too (its other fields are checked exactly by
    // `corpus_is_classified_exactly`).
    replies.extend(load().into_iter().map(|l| Reply {
        at: format!("bounces.tsv:{}", l.line_no),
        family: l.expected.family,
        checked: [None, None, None, None, None],
        text: l.text,
    }));
    let negatives = replies.iter().filter(|r| r.family != Family::Ip).count();
    println!("reply corpus: {} labelled replies, {negatives} negatives", replies.len());
    assert!(replies.len() >= 600, "the corpus needs at least 600 labelled replies, has {}", replies.len());
    assert!(negatives >= 300, "the corpus needs at least 300 negatives, has {negatives}");

    let index = |f: Family| FAMILIES.iter().position(|x| *x == f).unwrap();
    let mut matrix = [[0usize; 7]; 7];
    let mut false_ip = Vec::new();
    let mut missed_ip = Vec::new();
    let mut wrong_family = Vec::new();
    let mut field_misses = Vec::new();
    let names = ["provider", "zone", "code", "ip", "temporary"];
    for r in &replies {
        let got = classify(&r.text);
        matrix[index(r.family)][index(got.family)] += 1;
        if got.family == Family::Ip && r.family != Family::Ip {
            false_ip.push(format!("{}: labelled {}: {}", r.at, r.family.name(), r.text));
        } else if r.family == Family::Ip && got.family != Family::Ip {
            missed_ip.push(format!("{}: got {}: {}", r.at, got.family.name(), r.text));
        } else if got.family != r.family {
            wrong_family.push(format!("{}: want {} got {}: {}", r.at, r.family.name(), got.family.name(), r.text));
        }
        let values = [
            got.provider.clone(),
            got.zone.clone(),
            got.code.clone(),
            got.ip.map(|ip| ip.to_string()),
            got.temporary.map(|t| t.to_string()),
        ];
        for ((name, want), value) in names.iter().zip(&r.checked).zip(values) {
            if let Some(want) = want
                && *want != value
            {
                field_misses.push(format!("{}: {name} want {want:?} got {value:?}: {}", r.at, r.text));
            }
        }
    }

    println!("\n  family      precision  recall   labelled");
    for (i, f) in FAMILIES.iter().enumerate() {
        let labelled: usize = matrix[i].iter().sum();
        let predicted: usize = matrix.iter().map(|row| row[i]).sum();
        let ratio = |n: usize, d: usize| {
            if d == 0 { "     -".to_string() } else { format!("{:6.2}%", 100.0 * n as f64 / d as f64) }
        };
        println!(
            "  {:<10} {}   {}   {labelled:>5}",
            f.name(),
            ratio(matrix[i][i], predicted),
            ratio(matrix[i][i], labelled)
        );
    }
    println!("\n  confusion (rows: labelled, columns: classified)");
    println!("  {:<10} {}", "", FAMILIES.iter().map(|f| format!("{:>9}", f.name())).collect::<String>());
    for (i, f) in FAMILIES.iter().enumerate() {
        println!("  {:<10} {}", f.name(), matrix[i].iter().map(|n| format!("{n:>9}")).collect::<String>());
    }
    for (title, list) in [("other family errors", &wrong_family), ("field mismatches", &field_misses)] {
        println!("\n  {title}: {}", list.len());
        for line in list.iter() {
            println!("    {line}");
        }
    }

    let ip_labelled: usize = matrix[0].iter().sum();
    let recall = matrix[0][0] as f64 / ip_labelled.max(1) as f64;
    assert!(false_ip.is_empty(), "{} negatives classified ip:\n{}", false_ip.len(), false_ip.join("\n"));
    assert!(recall >= 0.98, "ip recall {:.2}% < 98%; missed:\n{}", 100.0 * recall, missed_ip.join("\n"));
}
