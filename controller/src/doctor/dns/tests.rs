//! The resolver's own row: forwarders told apart from recursive resolvers,
//! and the unbound configuration rblfleet ships, checked by unbound itself.

#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use super::{forwarding, root_forwarders};

const LOCALHOST: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 53);

fn at(a: u8, b: u8, c: u8, d: u8, port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(a, b, c, d), port))
}

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/unbound/rblfleet.conf")
}

/// The `server:` directives of the shipped file, as (key, value) pairs.
fn directives(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(|l| l.split('#').next().unwrap().trim())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().trim_matches('"').to_string()))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

#[test]
fn root_forwarders_are_found_and_other_zones_are_not() {
    let config = r#"
server:
    interface: 127.0.0.1
forward-zone:
    name: "internal.example."
    forward-addr: 10.0.0.53
forward-zone:
    name: "."
    forward-addr: 8.8.8.8@53#dns.google   # Google
    forward-addr: 2001:4860:4860::8888
    forward-host: dns.quad9.net
stub-zone:
    name: "."
    stub-addr: 192.0.2.1
"#;
    assert_eq!(root_forwarders(config), ["8.8.8.8", "2001:4860:4860::8888", "dns.quad9.net"]);
    assert!(root_forwarders("server:\n    verbosity: 1\n").is_empty());
}

#[test]
fn stub_and_forwarding_unbound_are_named_and_recursion_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let stub = forwarding(at(127, 0, 0, 53, 53), dir.path()).unwrap();
    assert!(stub.contains("systemd-resolved"), "{stub}");
    assert_eq!(forwarding(at(192, 0, 2, 53, 53), dir.path()), None, "not a local resolver");

    // The shipped configuration alone: full recursion, nothing to say.
    let conf_d = dir.path().join("unbound.conf.d");
    std::fs::create_dir_all(&conf_d).unwrap();
    std::fs::write(dir.path().join("unbound.conf"), "include-toplevel: \"/etc/unbound/unbound.conf.d/*.conf\"\n")
        .unwrap();
    std::fs::copy(shipped(), conf_d.join("rblfleet.conf")).unwrap();
    assert_eq!(forwarding(LOCALHOST, dir.path()), None);

    // Someone's leftover forwarder beside it.
    std::fs::write(conf_d.join("forward.conf"), "forward-zone:\n  name: \".\"\n  forward-addr: 1.1.1.1\n").unwrap();
    let found = forwarding(LOCALHOST, dir.path()).unwrap();
    assert!(found.contains("1.1.1.1") && found.contains("forward.conf"), "{found}");
    // A resolver on another port (a test zone server) is not the system's unbound.
    assert_eq!(forwarding(at(127, 0, 0, 1, 5353), dir.path()), None);
}

#[test]
fn the_shipped_unbound_config_is_local_recursive_and_validating() {
    let text = std::fs::read_to_string(shipped()).unwrap();
    let all = directives(&text);
    let values = |key: &str| all.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
    assert_eq!(values("interface"), ["127.0.0.1", "::1"]);
    let allowed: Vec<&str> = values("access-control").into_iter().filter(|v| v.ends_with(" allow")).collect();
    assert_eq!(allowed, ["127.0.0.0/8 allow", "::1/128 allow"]);
    assert!(values("access-control").contains(&"0.0.0.0/0 refuse"));
    assert!(root_forwarders(&text).is_empty() && !text.lines().any(|l| l.trim_start().starts_with("forward-zone")));
    assert_eq!(values("module-config"), ["validator iterator"]);
    assert_eq!(values("auto-trust-anchor-file"), ["/var/lib/unbound/root.key"]);
}

/// unbound's own checker accepts the file. It insists that the trust anchor
/// file exists, so the check runs on a copy whose anchor points at a
/// temporary file (the packaged root key, or the root KSK-2017 DS record).
#[test]
fn unbound_checkconf_accepts_the_shipped_config() {
    if std::process::Command::new("unbound-checkconf").arg("-h").output().is_err() {
        println!("WARNING: unbound-checkconf not found; the shipped unbound config was not checked by unbound");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let anchor = dir.path().join("root.key");
    let packaged = Path::new("/usr/share/dns/root.key");
    match std::fs::read(packaged) {
        Ok(key) => std::fs::write(&anchor, key).unwrap(),
        Err(_) => std::fs::write(
            &anchor,
            ". IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n",
        )
        .unwrap(),
    }
    let text = std::fs::read_to_string(shipped()).unwrap();
    let copy = dir.path().join("rblfleet.conf");
    std::fs::write(&copy, text.replace("/var/lib/unbound/root.key", &anchor.display().to_string())).unwrap();
    let out = std::process::Command::new("unbound-checkconf").arg(&copy).output().unwrap();
    assert!(
        out.status.success(),
        "unbound-checkconf refused deploy/unbound/rblfleet.conf:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
