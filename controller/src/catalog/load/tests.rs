//! Tests of loading: overrides, extra zones and replacement files over the
//! real embedded data.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::IpAddr;

use crate::catalog::tests::{catalog, config, v4};
use crate::catalog::*;

/// Damaged catalog files: truncations, mutations, hostile values.
mod fuzz;

#[test]
fn overrides_disable_key_budget() {
    let mut c = catalog();
    c.apply(&config(
        r#"
        [zone.spamcop]
        enabled = false
        [zone.abusix-combined]
        key = "abusixkey0123456789"
        per_day = 100000
        [zone.spamhaus-zen]
        per_second = 50
        per_day = 290000
        [zone.uceprotect-2]
        enabled = true
        "#,
    ))
    .unwrap();
    let on: Vec<&str> = c.enabled().iter().map(|z| z.id.as_str()).collect();
    assert!(!on.contains(&"spamcop"));
    assert!(on.contains(&"abusix-combined") && on.contains(&"uceprotect-2"));
    let zen = c.resolve("spamhaus-zen").unwrap();
    assert_eq!(zen.budget, Budget { per_second: 50.0, per_day: Some(290000) });
    let abusix = c.resolve("abusix-combined").unwrap();
    assert_eq!(abusix.budget.per_day, Some(100000));
    assert!(abusix.query_name(&Target::Ip(IpAddr::V4(v4(192, 0, 2, 1)))).unwrap().contains("abusixkey0123456789"));
}

#[test]
fn extra_zone_is_added() {
    let mut c = catalog();
    c.apply(&config(
        r#"
        [[extra]]
        id = "corp-bl"
        name = "Our own blocklist"
        zone = "bl.corp.example"
        kind = "ip"
        ipv4 = true
        ipv6 = true
        enabled = true
        budget = { per_second = 20, per_day = 1000000 }
        delist = { kind = "contact", url = "mailto:noc@corp.example" }
        codes = [
          { code = "127.0.0.2", meaning = "listed by the NOC" },
          { code = "127.0.0.0&8", meaning = "flag 8" },
        ]
        error_codes = [{ code = "127.0.0.255", meaning = "refused" }]
        test_points = { listed = "127.0.0.3", unlisted = "127.0.0.4" }

        [zone.corp-bl]
        per_day = 5
        "#,
    ))
    .unwrap();
    let z = c.resolve("bl.corp.example").unwrap();
    assert_eq!(z.id, "corp-bl");
    assert_eq!(z.budget.per_day, Some(5));
    assert_eq!(z.test_points().0, Target::Ip(IpAddr::V4(v4(127, 0, 0, 3))));
    assert!(c.enabled().iter().any(|z| z.id == "corp-bl"));
    assert_eq!(c.zones().last().unwrap().id, "corp-bl");
}

#[test]
fn extra_zone_errors_name_the_zone() {
    let extra = |body: &str| {
        format!(
            "[[extra]]\nid = \"x-bl\"\nname = \"X\"\nkind = \"ip\"\nipv4 = true\nipv6 = false\nenabled = true\n\
             budget = {{ per_second = 1, per_day = 10 }}\ndelist = {{ kind = \"auto_expire\" }}\n{body}\n"
        )
    };
    let cases = [
        ("zone = \"bl.x.example\"\ncodes = [{ code = \"127.0.0.9-127.0.0.2\", meaning = \"m\" }]", "low end"),
        ("zone = \"bl.x.example\"\ncodes = [{ code = \"10.0.0.2\", meaning = \"m\" }]", "outside 127.0.0.0/8"),
        ("zone = \"{key}.x.example\"\ncodes = [{ code = \"127.0.0.2\", meaning = \"m\" }]", "needs_key is false"),
        ("zone = \"zen.spamhaus.org\"\ncodes = [{ code = \"127.0.0.2\", meaning = \"m\" }]", "listed twice"),
        (
            "zone = \"bl.x.example\"\ncodes = [{ code = \"127.0.0.2\", meaning = \"a\" }, { code = \"127.0.0.2\", meaning = \"b\" }]",
            "overlap",
        ),
    ];
    for (body, expected) in cases {
        let mut c = catalog();
        let err = c.apply(&config(&extra(body))).unwrap_err().to_string();
        assert!(err.contains(expected), "{body}: {err}");
        assert!(err.contains("dnsbl.catalog.extra"), "{err}");
        assert!(c.resolve("x-bl").is_err(), "a failed apply leaves the catalog unchanged");
    }
    let mut c = catalog();
    let dead = extra("zone = \"dnsbl.sorbs.net\"\ncodes = [{ code = \"127.0.0.2\", meaning = \"m\" }]");
    let err = c.apply(&config(&dead)).unwrap_err();
    assert!(matches!(err, CatalogError::Dead { .. }), "{err}");
}

#[test]
fn override_for_unknown_zone_names_it() {
    let mut c = catalog();
    let err = c.apply(&config("[zone.spamhaus-zne]\nenabled = false\n")).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, CatalogError::UnknownOverride { .. }));
    assert!(message.contains("spamhaus-zne") && message.contains("spamhaus-zen"), "{message}");
    let err = c.apply(&config("[zone.sorbs]\nenabled = true\n")).unwrap_err().to_string();
    assert!(err.contains("dead since 2024-06-05"), "{err}");
    let err = c.apply(&config("[zone.spamcop]\nper_second = 0\n")).unwrap_err().to_string();
    assert!(err.contains("spamcop") && err.contains("per_second"), "{err}");
    assert!(
        toml::from_str::<CatalogConfig>("[zone.spamcop]\nenable = true\n").is_err(),
        "unknown override fields are refused"
    );
}

#[test]
fn replacement_file_errors_name_path_and_line() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(
        file,
        "schema = 1\n\n[[zone]]\nid = \"a\"\nname = \"A\"\nzone = \"bl.a.example\"\nkind = \"ip\"\nipv4 = yes\n"
    )
    .unwrap();
    let path = file.path().to_path_buf();
    let mut c = catalog();
    let cfg = CatalogConfig { file: Some(path.clone()), ..CatalogConfig::default() };
    let err = c.apply(&cfg).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, CatalogError::Parse { .. }));
    assert!(message.contains(&path.display().to_string()) && message.contains("line 8"), "{message}");
    assert!(c.resolve("spamhaus-zen").is_ok(), "the catalog is unchanged");

    let missing = CatalogConfig { file: Some(path.with_extension("missing")), ..CatalogConfig::default() };
    let message = c.apply(&missing).unwrap_err().to_string();
    assert!(message.contains("cannot read zone catalog") && message.contains(".missing"), "{message}");

    let unknown_field = "schema = 1\n[[dead]]\nid = \"old\"\nname = \"Old\"\nzone = \"bl.old.example\"\ndead_since = \"2020\"\nreason = \"gone\"\ncolour = \"red\"\n";
    let message = Catalog::from_toml_str(unknown_field, "custom.toml").unwrap_err().to_string();
    assert!(message.starts_with("custom.toml: line 8") && message.contains("colour"), "{message}");
}

#[test]
fn replacement_file_replaces_the_catalog() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    write!(
        file,
        r#"schema = 1
[[zone]]
id = "only"
name = "Only zone"
zone = "{{key}}.bl.only.example"
kind = "mixed"
ipv4 = true
ipv6 = false
needs_key = true
enabled = true
budget = {{ per_second = 1 }}
delist = {{ kind = "paid", url = "https://only.example/pay" }}
codes = [
  {{ code = "127.0.0.2", meaning = "bad", listed = true }},
  {{ code = "127.0.0.3", meaning = "good", listed = false }},
]
"#
    )
    .unwrap();
    let mut c = catalog();
    c.apply(&CatalogConfig { file: Some(file.path().to_path_buf()), ..CatalogConfig::default() }).unwrap();
    assert_eq!(c.zones().len(), 1);
    assert!(c.enabled().is_empty(), "keyed zone without key");
    assert_eq!(c.zones()[0].delist.kind.as_str(), "paid");
    assert_eq!(c.zones()[0].budget.per_day, None);
    assert!(c.resolve("spamhaus-zen").is_err());
}

#[test]
fn data_validation_rules() {
    let base = |zone: &str| {
        format!(
            "schema = 1\n[[zone]]\nid = \"t\"\nname = \"T\"\nzone = \"{zone}\"\nkind = \"ip\"\nipv4 = true\nipv6 = false\nenabled = true\n"
        )
    };
    let rest = "budget = { per_second = 1, per_day = 1 }\ndelist = { kind = \"auto_expire\" }\ncodes = [{ code = \"127.0.0.2\", meaning = \"m\" }]\n";
    assert!(Catalog::from_toml_str(&(base("bl.t.example") + rest), "t.toml").is_ok());
    let cases = [
        (base("bl.t.example") + &rest.replace("per_day = 1 ", ""), "per_day is required"),
        (base("bl.t.example") + &rest.replace("auto_expire", "form"), "needs the form's url"),
        (base("bl.t.example") + &rest.replace("per_second = 1", "per_second = -1"), "per_second must be from 0.001"),
        (base("bl.t.example") + rest + "needs_key = true\n", "must hold the label {key}"),
        (base("Bl.T.example") + rest, "not a lowercase DNS name"),
        (base("bl.t.example") + &rest.replace("\"m\" }", "\"m\", listed = false }"), "makes this a mixed zone"),
        (base("bl.t.example") + &rest.replace("auto_expire\"", "auto_expire\", expiry = \"soon\""), "not a duration"),
        (
            base("bl.t.example") + rest + "schema_extra = 1\n",
            "line 13, column 1 (zone.schema_extra): unknown field `schema_extra`",
        ),
        (base("bl.t.example").replace("kind = \"ip\"", "kind = \"mixed\"") + rest, "must say listed = true or false"),
    ];
    for (text, expected) in cases {
        let err = Catalog::from_toml_str(&text, "t.toml").unwrap_err().to_string();
        assert!(err.starts_with("t.toml: ") && err.contains(expected), "{expected}: {err}");
    }
    let twice = base("bl.t.example") + rest + &base("bl.t.example").replace("schema = 1\n", "") + rest;
    assert!(Catalog::from_toml_str(&twice, "t.toml").unwrap_err().to_string().contains("used twice"));
    let err = Catalog::from_toml_str("schema = 2\n", "t.toml").unwrap_err().to_string();
    assert!(err.contains("schema 2"), "{err}");
}
