//! `rblfleet-agent domains`: the real binary on a directory tree standing in
//! for a Plesk host (vhosts directory, Postfix map, qmail control files,
//! MailEnable's domain table, a static list; no Plesk).

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

fn agent(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rblfleet-agent")).args(args).output().unwrap()
}

fn host(dir: &Path) -> String {
    for vhost in ["shop.example", "bücher.example", "default", "system/addon.example", "fs-passwd", "old_backup"] {
        std::fs::create_dir_all(dir.join("vhosts").join(vhost)).unwrap();
    }
    std::fs::write(dir.join("virtual_domains"), "shop.example VIRTUAL\nbad..name VIRTUAL\n").unwrap();
    std::fs::write(dir.join("virtualdomains"), "q.example:q.example\n.wild.example:w\n").unwrap();
    std::fs::write(dir.join("DOMAIN.TAB"), "me.example\tme\t1\r\n").unwrap();
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[controller]\nurl = \"http://127.0.0.1:1\"\n[sources]\npasswd = \"{d}/passwd\"\n[domains]\n\
             plesk = \"{d}/no-plesk\"\npostfix_map = \"virtual_domains\"\nqmail_virtualdomains = \"virtualdomains\"\n\
             qmail_rcpthosts = \"rcpthosts\"\nmailenable_domains = \"{d}/DOMAIN.TAB\"\nvhosts_dir = \"vhosts\"\n\
             static = [\"Static.Example.\"]\n",
            d = dir.display()
        ),
    )
    .unwrap();
    config.display().to_string()
}

#[test]
fn json_lists_the_domains_and_every_source() {
    let dir = tempfile::tempdir().unwrap();
    let config = host(dir.path());
    let out = agent(&["domains", "--config", &config, "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = v["domains"].as_array().unwrap().iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["addon.example", "me.example", "q.example", "shop.example", "static.example", "xn--bcher-kva.example"]
    );
    let idn = v["domains"].as_array().unwrap().iter().find(|d| d["name"] == "xn--bcher-kva.example").unwrap();
    assert_eq!(idn["unicode"], "bücher.example");
    let shop = v["domains"].as_array().unwrap().iter().find(|d| d["name"] == "shop.example").unwrap();
    assert_eq!(shop["mail"], true);
    assert_eq!(shop["sources"], serde_json::json!(["postfix", "vhosts"]));
    let states: Vec<(&str, &str, u64)> = v["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["source"].as_str().unwrap(), s["state"].as_str().unwrap(), s["skipped"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            ("plesk", "absent", 0),
            ("postfix", "read", 1),
            ("qmail", "read", 1),
            ("mailenable", "read", 0),
            ("vhosts", "read", 1),
            ("static", "read", 0),
        ]
    );
    assert_eq!(v["truncated"], false);
}

#[test]
fn the_table_names_what_was_skipped_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let config = host(dir.path());
    let out = agent(&["domains", "--config", &config]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("xn--bcher-kva.example  bücher.example"), "{text}");
    assert!(text.contains("6 domains, 3 with mail"), "{text}");
    assert!(text.contains("skipped \"old_backup\": has a single label"), "{text}");
    assert!(text.contains("skipped \".wild.example\": stands for every subdomain"), "{text}");
    assert!(!text.contains("fs-passwd") && !text.contains("\"default\""), "Plesk's own directories: {text}");

    let out = agent(&["domains", "--config", &dir.path().join("missing.toml").display().to_string()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}
