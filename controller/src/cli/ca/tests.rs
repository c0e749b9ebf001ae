#![allow(clippy::unwrap_used)]

use clap::Parser;

use super::*;
use crate::cli::{Cli, Command as Top};
use crate::identity::{self, Role};

/// Runs `rblfleet ca ARGS...` in-process; its output, or its error as text.
pub(super) fn ca(args: &[&str]) -> Result<String, String> {
    let cli = Cli::try_parse_from(["rblfleet", "ca"].iter().chain(args)).map_err(|e| e.to_string())?;
    let Top::Ca(command) = cli.command else { panic!("not a ca command") };
    let mut out = Vec::new();
    run(command, &mut out).map_err(|e| format!("{e:#}"))?;
    Ok(String::from_utf8(out).unwrap())
}

pub(super) fn identity_of(cert: &Path) -> (Role, String) {
    let pem = std::fs::read(cert).unwrap();
    let der = x509_parser::pem::parse_x509_pem(&pem).unwrap().1.contents;
    let id = identity::from_der(&der).unwrap();
    (id.role, id.name)
}

pub(super) fn new_ca() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    ca(&["init", "--dir", dir.to_str().unwrap()]).unwrap();
    (tmp, dir)
}

#[test]
fn host_list_skips_comments_and_blanks_and_keeps_order() {
    let mut list = HostList::default();
    list.add("web00.example", "--agent".into());
    list.add_file(Path::new("hosts.txt"), "# fleet\n\nweb01.example  # rack 1\n  web02.example\n\t\nweb03.example\n");
    assert_eq!(list.finish().unwrap(), ["web00.example", "web01.example", "web02.example", "web03.example"]);
}

#[test]
fn every_bad_line_is_reported_with_its_number() {
    let mut list = HostList::default();
    list.add("web01.example", "--agent".into());
    let text = "web02.example\nweb 03\n\n../etc/passwd\nweb02.example\nweb01.example # again\nweb04.example\n";
    list.add_file(Path::new("hosts.txt"), text);
    let err = format!("{:#}", list.finish().unwrap_err());
    assert!(err.starts_with("4 bad host ids, nothing issued"), "{err}");
    for expected in [
        "hosts.txt:2: invalid host id \"web 03\": contains ' '",
        "hosts.txt:4: invalid host id \"../etc/passwd\": must not start with '.' or '-'",
        "hosts.txt:5: duplicate host id \"web02.example\" (first at hosts.txt:1)",
        "hosts.txt:6: duplicate host id \"web01.example\" (first at --agent)",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    assert!(!err.contains("web04"), "a good line was reported: {err}");
}

#[test]
fn a_list_without_hosts_is_an_error_naming_the_file() {
    let mut list = HostList::default();
    list.add_file(Path::new("empty.txt"), "# nothing yet\n\n");
    let err = list.finish().unwrap_err().to_string();
    assert!(err.contains("empty.txt: no host ids"), "{err}");
}

#[test]
fn agents_from_issues_every_host_with_a_private_bundle() {
    let (tmp, dir) = new_ca();
    let list = tmp.path().join("hosts.txt");
    std::fs::write(&list, "# all web servers\nweb01.example\nweb02.example\n\nmx1.example\n").unwrap();
    let out = ca(&["issue", "--dir", dir.to_str().unwrap(), "--agents-from", list.to_str().unwrap()]).unwrap();
    assert!(out.contains("3 agents issued, 0 kept"), "{out}");
    let ca_cert = std::fs::read(dir.join("ca.crt")).unwrap();
    for host in ["web01.example", "web02.example", "mx1.example"] {
        let bundle = dir.join(BUNDLES).join(host);
        let mut names: Vec<String> =
            std::fs::read_dir(&bundle).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["agent.crt", "agent.key", "ca.crt"], "{host}");
        assert_eq!(identity_of(&bundle.join("agent.crt")), (Role::Agent, host.to_string()));
        assert_eq!(std::fs::read(bundle.join("ca.crt")).unwrap(), ca_cert);
        assert_eq!(
            std::fs::read(bundle.join("agent.key")).unwrap(),
            std::fs::read(dir.join("agents").join(format!("{host}.key"))).unwrap()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for name in &names {
                let mode = std::fs::metadata(bundle.join(name)).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{host}/{name}");
            }
        }
    }
}

#[test]
fn a_bad_list_issues_nothing() {
    let (tmp, dir) = new_ca();
    let list = tmp.path().join("hosts.txt");
    std::fs::write(&list, "web01.example\nweb01.example\n").unwrap();
    let err = ca(&["issue", "--dir", dir.to_str().unwrap(), "--agents-from", list.to_str().unwrap()]).unwrap_err();
    assert!(err.contains("hosts.txt:2: duplicate host id"), "{err}");
    assert!(!dir.join("agents").exists() && !dir.join(BUNDLES).exists());
}

#[test]
fn a_grown_list_is_refused_whole_or_issued_only_for_new_hosts() {
    let (tmp, dir) = new_ca();
    let d = dir.to_str().unwrap();
    let list = tmp.path().join("hosts.txt");
    std::fs::write(&list, "web01.example\n").unwrap();
    ca(&["issue", "--dir", d, "--agents-from", list.to_str().unwrap()]).unwrap();
    let first_cert = std::fs::read(dir.join("agents/web01.example.crt")).unwrap();

    std::fs::write(&list, "web01.example\nweb02.example\n").unwrap();
    let err = ca(&["issue", "--dir", d, "--agents-from", list.to_str().unwrap()]).unwrap_err();
    assert!(err.contains("1 of 2 agents already have a certificate") && err.contains("web01.example"), "{err}");
    assert!(err.contains("--skip-existing"), "{err}");
    assert!(!dir.join("agents/web02.example.crt").exists(), "issued despite the refusal");

    let out = ca(&["issue", "--dir", d, "--agents-from", list.to_str().unwrap(), "--skip-existing"]).unwrap();
    assert!(out.contains("1 agents issued, 1 kept"), "{out}");
    assert_eq!(std::fs::read(dir.join("agents/web01.example.crt")).unwrap(), first_cert, "kept cert changed");
    assert_eq!(identity_of(&dir.join("bundles/web02.example/agent.crt")), (Role::Agent, "web02.example".into()));

    ca(&["issue", "--dir", d, "--agent", "web01.example", "--force"]).unwrap();
    assert_ne!(std::fs::read(dir.join("agents/web01.example.crt")).unwrap(), first_cert, "--force kept the old cert");
    assert_eq!(
        std::fs::read(dir.join("bundles/web01.example/agent.crt")).unwrap(),
        std::fs::read(dir.join("agents/web01.example.crt")).unwrap(),
        "the bundle still holds the replaced certificate"
    );
}

#[test]
fn agents_and_the_controller_cannot_be_mixed() {
    let (_tmp, dir) = new_ca();
    let err =
        ca(&["issue", "--dir", dir.to_str().unwrap(), "--agent", "web01", "--controller", "c.example"]).unwrap_err();
    assert!(err.contains("cannot be used with"), "{err}");
}
