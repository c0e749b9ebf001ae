#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::*;
use crate::ca::{self, Subject};

/// A CA with a controller certificate, as `rblfleet ca` lays it out.
fn pki(dir: &Path) -> Tls {
    ca::init(dir, "test CA", 30).unwrap();
    ca::issue(dir, &Subject::Controller { names: vec!["localhost".into()] }, 30, false).unwrap();
    Tls { ca: dir.join("ca.crt"), cert: dir.join("controller.crt"), key: dir.join("controller.key"), ..Tls::default() }
}

/// Issues a new controller certificate into `staging` (a copy of the CA) and
/// renames it over the files in service, as renewal tooling does.
fn renew(files: &Tls, staging: &Path) {
    std::fs::create_dir_all(staging).unwrap();
    let ca_dir = files.ca.parent().unwrap();
    for name in ["ca.crt", "ca.key"] {
        std::fs::copy(ca_dir.join(name), staging.join(name)).unwrap();
    }
    ca::issue(staging, &Subject::Controller { names: vec!["localhost".into()] }, 60, true).unwrap();
    std::fs::rename(staging.join("controller.key"), &files.key).unwrap();
    std::fs::rename(staging.join("controller.crt"), &files.cert).unwrap();
}

fn serving(tls: &ReloadingTls) -> Arc<ServerConfig> {
    tls.current.read().unwrap().clone()
}

#[test]
fn a_renewal_goes_into_service_once_settled() {
    let dir = tempfile::tempdir().unwrap();
    let files = pki(&dir.path().join("ca"));
    let tls = ReloadingTls::load(&files).unwrap();
    let before = serving(&tls);
    assert_eq!(serving(&tls).alpn_protocols, vec![b"h2".to_vec()]);
    assert!(!tls.check(), "nothing changed");

    renew(&files, &dir.path().join("staging"));
    assert!(!tls.check(), "the first check only notes the change");
    assert!(tls.check(), "the second check loads it");
    assert!(!Arc::ptr_eq(&before, &serving(&tls)));
    assert_eq!(tls.status(), ReloadStatus { reloads: 1, last_error: None });
    assert!(!tls.check(), "loaded files are not reloaded");
}

#[test]
fn garbage_keeps_the_old_config_and_says_which_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = pki(&dir.path().join("ca"));
    let tls = ReloadingTls::load(&files).unwrap();
    let before = serving(&tls);

    std::fs::write(&files.cert, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n").unwrap();
    assert!(!tls.reload_now());
    assert!(Arc::ptr_eq(&before, &serving(&tls)), "the old configuration stays in service");
    let status = tls.status();
    assert_eq!(status.reloads, 0);
    let error = status.last_error.unwrap();
    assert!(error.contains("tls.cert") && error.contains("controller.crt"), "{error}");

    // Periodic checks do not retry (nor re-log) the same broken files.
    assert!(!tls.check());
    assert!(!tls.check());
    assert!(Arc::ptr_eq(&before, &serving(&tls)));

    // Fixed files go into service and clear the error.
    renew(&files, &dir.path().join("staging"));
    assert!(tls.reload_now());
    assert_eq!(tls.status(), ReloadStatus { reloads: 1, last_error: None });
}

#[test]
fn a_key_of_another_certificate_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let files = pki(&dir.path().join("ca"));
    let tls = ReloadingTls::load(&files).unwrap();
    // Half a renewal: the new key is in place, the certificate is not yet.
    let staging = dir.path().join("staging");
    std::fs::create_dir_all(&staging).unwrap();
    for name in ["ca.crt", "ca.key"] {
        std::fs::copy(files.ca.parent().unwrap().join(name), staging.join(name)).unwrap();
    }
    ca::issue(&staging, &Subject::Controller { names: vec!["localhost".into()] }, 60, true).unwrap();
    std::fs::rename(staging.join("controller.key"), &files.key).unwrap();
    assert!(!tls.reload_now());
    let error = tls.status().last_error.unwrap();
    assert!(error.contains("tls.key") && error.contains("does not fit"), "{error}");
}

#[test]
fn startup_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let files = pki(&dir.path().join("ca"));
    let missing = Tls { ca: dir.path().join("nope.crt"), ..files.clone() };
    let error = ReloadingTls::load(&missing).unwrap_err().to_string();
    assert!(error.contains("cannot read tls.ca") && error.contains("nope.crt"), "{error}");
    std::fs::write(&files.key, "hello").unwrap();
    let error = ReloadingTls::load(&files).unwrap_err().to_string();
    assert!(error.contains("tls.key") && error.contains("no usable PEM private key"), "{error}");
}
