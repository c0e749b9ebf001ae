#![allow(clippy::unwrap_used)]

use super::*;
use crate::ca::{self, Subject};

const DAY_MS: i64 = 86_400_000;

fn der(path: &Path) -> Vec<u8> {
    let pem = std::fs::read(path).unwrap();
    x509_parser::pem::parse_x509_pem(&pem).unwrap().1.contents
}

/// A CA made by `ca::init` and an agent issued for 10 days: the expiry read
/// back is 10 days from now (to the issuing second).
#[test]
fn an_issued_certificate_expires_when_it_was_issued_to() {
    let dir = tempfile::tempdir().unwrap();
    ca::init(dir.path(), "test CA", 3650).unwrap();
    let agent = ca::issue(dir.path(), &Subject::Agent { host_id: "web07.example".into() }, 10, false).unwrap();
    let now = crate::clock::now_ms();
    let not_after = not_after_ms(&der(&agent.cert)).unwrap();
    assert!((not_after - (now + 10 * DAY_MS)).abs() < 5_000, "{not_after} vs {now}");
    assert_eq!(days_left(not_after, now), 10, "rounded up: 9 days and 23:59:5x left");
    assert_eq!(days_left(not_after, not_after - 1), 1);
    assert_eq!(days_left(not_after, not_after), 0, "expired");
    assert_eq!(days_left(not_after, not_after + DAY_MS), -1);

    let registry = Registry::default();
    assert_eq!(registry.agent("web07.example"), None);
    registry.record_agent("web07.example", &der(&agent.cert)).unwrap();
    assert_eq!(registry.agent("web07.example"), Some(not_after));
    assert_eq!(
        registry.agents(),
        [Expiry { kind: CertKind::Agent, name: "web07.example".into(), not_after_ms: not_after }]
    );
    assert!(matches!(registry.record_agent("x", b"not a certificate"), Err(ExpiryError::Parse { .. })));
}

/// A renewed agent connects with its new certificate: the registry follows.
#[test]
fn the_newest_certificate_replaces_the_last_seen() {
    let dir = tempfile::tempdir().unwrap();
    ca::init(dir.path(), "test CA", 3650).unwrap();
    let subject = Subject::Agent { host_id: "web01".into() };
    let old = der(&ca::issue(dir.path(), &subject, 5, false).unwrap().cert);
    let new = der(&ca::issue(dir.path(), &subject, 400, true).unwrap().cert);
    let registry = Registry::default();
    registry.record_agent("web01", &old).unwrap();
    registry.record_agent("web01", &new).unwrap();
    assert_eq!(registry.agent("web01"), Some(not_after_ms(&new).unwrap()));
    assert_eq!(registry.agents().len(), 1);
}

/// The controller's own files: its leaf, and each CA of a CA file holding
/// an old and a new CA of the same name (a CA roll's overlap).
#[test]
fn own_files_name_the_controller_and_every_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let (old, new) = (tmp.path().join("old"), tmp.path().join("new"));
    ca::init(&old, "rblfleet fleet CA", 30).unwrap();
    ca::init(&new, "rblfleet fleet CA", 3650).unwrap();
    let controller =
        ca::issue(&old, &Subject::Controller { names: vec!["c.example".into(), "192.0.2.1".into()] }, 20, false)
            .unwrap();
    let bundle = tmp.path().join("ca-bundle.crt");
    let mut both = std::fs::read(old.join(ca::CA_CERT)).unwrap();
    both.extend(std::fs::read(new.join(ca::CA_CERT)).unwrap());
    std::fs::write(&bundle, both).unwrap();

    let files = OwnFiles { cert: controller.cert.clone(), ca: bundle.clone() };
    let own = files.read().unwrap();
    let now = crate::clock::now_ms();
    let summary: Vec<(CertKind, &str, i64)> =
        own.iter().map(|e| (e.kind, e.name.as_str(), days_left(e.not_after_ms, now))).collect();
    assert_eq!(
        summary,
        [
            (CertKind::Controller, "c.example", 20),
            (CertKind::Ca, "rblfleet fleet CA", 30),
            (CertKind::Ca, "rblfleet fleet CA #2", 3650)
        ]
    );

    std::fs::write(&bundle, "no PEM here\n").unwrap();
    let err = files.read().unwrap_err();
    assert!(matches!(err, ExpiryError::Empty { .. }), "{err}");
    assert!(err.to_string().contains("ca-bundle.crt"), "{err}");
}
