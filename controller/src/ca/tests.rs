#![allow(clippy::unwrap_used)]

use super::*;
use crate::identity;

fn der(path: &Path) -> Vec<u8> {
    let pem = std::fs::read(path).unwrap();
    x509_parser::pem::parse_x509_pem(&pem).unwrap().1.contents
}

#[test]
fn issued_certificates_carry_their_identity_and_are_private() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), "test", 10).unwrap();
    let agent = issue(dir.path(), &Subject::Agent { host_id: "web07.example".into() }, 10, false).unwrap();
    let admin = issue(dir.path(), &Subject::Admin { name: "alice".into() }, 10, false).unwrap();
    let id = identity::from_der(&der(&agent.cert)).unwrap();
    assert_eq!((id.role, id.name.as_str()), (Role::Agent, "web07.example"));
    let id = identity::from_der(&der(&admin.cert)).unwrap();
    assert_eq!((id.role, id.name.as_str()), (Role::Admin, "alice"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for path in [dir.path().join(CA_KEY), dir.path().join(CA_CERT), agent.key, agent.cert] {
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600, "{}", path.display());
        }
    }
}

#[test]
fn nothing_is_overwritten_by_accident() {
    let dir = tempfile::tempdir().unwrap();
    init(dir.path(), "test", 10).unwrap();
    assert!(matches!(init(dir.path(), "again", 10), Err(CaError::Exists { .. })));
    let subject = Subject::Agent { host_id: "web1".into() };
    issue(dir.path(), &subject, 10, false).unwrap();
    assert!(matches!(issue(dir.path(), &subject, 10, false), Err(CaError::Exists { .. })));
    issue(dir.path(), &subject, 10, true).unwrap();
}

#[test]
fn bad_names_and_missing_ca_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let err = issue(dir.path(), &Subject::Agent { host_id: "x".into() }, 10, false).unwrap_err();
    assert!(err.to_string().contains("rblfleet ca init"), "{err}");
    init(dir.path(), "test", 10).unwrap();
    let err = issue(dir.path(), &Subject::Agent { host_id: "../../etc/passwd".into() }, 10, false).unwrap_err();
    assert!(matches!(err, CaError::BadName { .. }), "{err}");
}
