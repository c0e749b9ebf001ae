//! The catalog loader against damaged files: truncations and byte mutations
//! of the shipped catalog, hostile field values. Never a panic; every error
//! names the file and a line or a zone.
//!
//! The truncation test cuts at every byte of the first 4 KiB (every shape of
//! a zone record) and at every 16th line end; `RBLFLEET_TRUNCATE_ALL=1` cuts
//! at every byte of the file (minutes; the run is in BENCHMARKS.md).

#![allow(clippy::unwrap_used)]

use crate::catalog::*;
use crate::text::file::utf8_text;

const ORIGIN: &str = "t.toml";

/// Loads `bytes` as a catalog file would be; panics on an unlocated error.
fn load(bytes: &[u8]) -> Option<Catalog> {
    let text = match utf8_text(bytes) {
        Ok(text) => text,
        Err(message) => {
            assert!(message.starts_with("line "), "{message}");
            return None;
        }
    };
    match Catalog::from_toml_str(text, ORIGIN) {
        Ok(catalog) => Some(catalog),
        Err(error) => {
            let message = error.to_string();
            let located = ["line ", "zone ", "schema "].iter().any(|p| message.starts_with(&format!("{ORIGIN}: {p}")));
            assert!(located, "{message}");
            None
        }
    }
}

#[test]
fn every_truncation_of_the_shipped_catalog_is_a_catalog_or_a_located_error() {
    let bytes = EMBEDDED.as_bytes();
    let all = std::env::var_os("RBLFLEET_TRUNCATE_ALL").is_some();
    let mut cuts: Vec<usize> = if all {
        (0..=bytes.len()).collect()
    } else {
        let lines = bytes.iter().enumerate().filter(|(_, b)| **b == b'\n').map(|(i, _)| i);
        (0..4096).chain(lines.step_by(16)).collect()
    };
    cuts.dedup();
    let (mut loaded, mut refused) = (0, 0);
    for &end in &cuts {
        match load(&bytes[..end]) {
            Some(catalog) => {
                loaded += 1;
                let _ = catalog.enabled();
            }
            None => refused += 1,
        }
    }
    eprintln!("{} cuts of {} bytes: {loaded} loaded, {refused} refused", cuts.len(), bytes.len());
    assert!(loaded > 10 && refused > 1000, "{loaded} loaded, {refused} refused of {} cuts", cuts.len());
}

/// The first zones, a dead zone and a receiver of the shipped catalog: every
/// record shape, small enough to mutate thousands of times.
fn sample() -> String {
    let cut = |from: &str| {
        let start = EMBEDDED.find(from).unwrap();
        let rest = &EMBEDDED[start + from.len()..];
        let end = rest.find("\n[[").map_or(EMBEDDED.len(), |i| start + from.len() + i);
        &EMBEDDED[start..end]
    };
    let zones_end = EMBEDDED.match_indices("\n[[zone]]").nth(3).unwrap().0;
    format!("{}\n{}\n{}\n", &EMBEDDED[..zones_end], cut("\n[[dead]]"), cut("\n[[receiver]]"))
}

#[test]
fn mutated_catalogs_never_panic() {
    let sample = sample();
    assert!(load(sample.as_bytes()).is_some(), "the sample itself must load");
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n.max(1) as u64) as usize
    };
    let inserts: [&[u8]; 9] =
        [b"\xff", "€".as_bytes(), b"\0", b"\r", b"=", b"[[zone]]\n", b"\"", b"-", b"99999999999999999999"];
    let mut loaded = 0;
    for _ in 0..3000 {
        let mut b = sample.as_bytes().to_vec();
        for _ in 0..1 + next(3) {
            let at = next(b.len());
            match next(3) {
                0 if at < b.len() => b[at] = next(256) as u8,
                1 => b.truncate(at),
                _ => b.splice(at..at, inserts[next(inserts.len())].iter().copied()).for_each(drop),
            }
        }
        loaded += usize::from(load(&b).is_some());
    }
    assert!(loaded > 100, "only {loaded} mutations still loaded: the test exercises too little");
}

#[test]
fn hostile_field_values_are_refused_naming_the_zone() {
    let zone = |fields: &str| {
        format!(
            "schema = 1\n[[zone]]\nid = \"t\"\nname = \"T\"\nkind = \"ip\"\nipv4 = true\nipv6 = false\nenabled = true\n\
             delist = {{ kind = \"auto_expire\" }}\n{fields}\n"
        )
    };
    let ok = "zone = \"bl.t.example\"\nbudget = { per_second = 1, per_day = 1 }\ncodes = [{ code = \"127.0.0.2\", meaning = \"m\" }]";
    assert!(load(zone(ok).as_bytes()).is_some());
    let long_label = "a".repeat(300);
    let cases = [
        (ok.replace("bl.t.example", &format!("{long_label}.example")), "not a lowercase DNS name"),
        (ok.replace("bl.t.example", "ab.".repeat(100).trim_end_matches('.')), "too long"),
        (ok.replace("bl.t.example", ""), "not a lowercase DNS name"),
        (ok.replace("bl.t.example", "bl\\u001b[31m.example"), "not a lowercase DNS name"),
        (ok.replace("per_second = 1", "per_second = 1e-300"), "per_second"),
        (ok.replace("per_second = 1", "per_second = 1e308"), "per_second"),
        (ok.replace("per_second = 1", "per_second = nan"), "per_second"),
        (ok.replace("per_day = 1", "per_day = 0"), "per_day must be positive"),
        (ok.replace("per_day = 1", "per_day = -1"), "(zone.budget): invalid value"),
        (ok.replace("per_day = 1", "per_day = 99999999999999999999"), "(zone.budget)"),
        (ok.replace("127.0.0.2", ""), "not an IPv4 address"),
        (ok.replace("127.0.0.2", "127.0.0.0&999"), "mask"),
        (ok.replace("127.0.0.2", "127.0.0.9-127.0.0.2"), "low end"),
        (ok.replace("\"m\"", "\"\""), "has no meaning"),
        (ok.replace("codes = [{ code = \"127.0.0.2\", meaning = \"m\" }]", "codes = []"), "at least one return code"),
        (format!("{ok}\ntest_points = {{ listed = \"::2\", unlisted = \"::1\" }}"), "address family"),
        (format!("{ok}\nsupersedes = [\"t\"]"), "not another zone"),
        (format!("{ok}\nsources = [\"http://a b\"]"), "URL"),
    ];
    for (fields, expected) in cases {
        let text = zone(&fields);
        let err = Catalog::from_toml_str(&text, ORIGIN).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{ORIGIN}: ")) && err.contains(expected), "{fields:?}: {err}");
        assert!(!err.contains(char::is_control), "{err:?}");
        load(text.as_bytes());
    }
    let twice = zone(ok) + &zone(ok).replace("schema = 1\n", "");
    assert!(Catalog::from_toml_str(&twice, ORIGIN).unwrap_err().to_string().contains("used twice"));
    let long_id = zone(ok).replace("id = \"t\"", &format!("id = \"{long_label}\""));
    assert!(Catalog::from_toml_str(&long_id, ORIGIN).unwrap_err().to_string().contains("the id must be"));
}

#[test]
fn a_catalog_file_that_is_not_utf8_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("zones.toml");
    std::fs::write(&path, b"schema = 1\nas_of = \"2024\xe9\"\n").unwrap();
    let err = Catalog::from_file(&path).unwrap_err().to_string();
    assert_eq!(err, format!("{}: line 2, column 14: not UTF-8 text (save the file as UTF-8)", path.display()));
}
