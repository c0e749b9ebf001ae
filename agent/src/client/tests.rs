#![allow(clippy::unwrap_used)]
use super::*;
use tonic::Code;

#[test]
fn status_mapping() {
    let rejected = [Code::InvalidArgument, Code::FailedPrecondition, Code::OutOfRange];
    for code in rejected {
        let e = SendError::from_status(&tonic::Status::new(code, "bad field ips"));
        assert!(matches!(e, SendError::Rejected { .. }), "{code:?}");
        assert!(e.to_string().contains("bad field ips"));
    }
    for code in [Code::PermissionDenied, Code::Unauthenticated] {
        let e = SendError::from_status(&tonic::Status::new(code, "x"));
        assert!(matches!(e, SendError::Retry { needs_operator: true, .. }));
    }
    for code in [Code::Unavailable, Code::DeadlineExceeded, Code::ResourceExhausted, Code::Cancelled, Code::Unknown] {
        let e = SendError::from_status(&tonic::Status::new(code, "x"));
        assert!(matches!(e, SendError::Retry { needs_operator: false, .. }));
    }
}

#[test]
fn overload_hint_is_read_and_bad_hints_ignored() {
    let with_hint = |value: &str| {
        let mut status = tonic::Status::resource_exhausted("over capacity");
        status.metadata_mut().insert(RETRY_PUSHBACK_KEY, value.parse().unwrap());
        SendError::from_status(&status)
    };
    assert_eq!(with_hint("2500").retry_after(), Some(Duration::from_millis(2500)));
    assert_eq!(with_hint("soon").retry_after(), None);
    assert_eq!(with_hint("99999999999").retry_after(), None, "more than an hour is not trusted");
    assert_eq!(SendError::from_status(&tonic::Status::unavailable("down")).retry_after(), None);
}

fn controller(dir: &Path) -> ControllerConfig {
    ControllerConfig {
        url: Some("https://127.0.0.1:1".into()),
        urls: None,
        ca: Some(dir.join("ca.crt")),
        cert: Some(dir.join("agent.crt")),
        key: Some(dir.join("agent.key")),
        server_name: None,
        timeout: Duration::from_secs(1),
    }
}

#[tokio::test]
async fn tls_file_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let e = ControllerClient::connect(&controller(dir.path()), false).unwrap_err();
    assert!(e.to_string().contains("controller.ca"), "{e}");
    assert!(e.to_string().contains("ca.crt"), "{e}");
    std::fs::write(dir.path().join("ca.crt"), "not pem").unwrap();
    let e = ControllerClient::connect(&controller(dir.path()), false).unwrap_err();
    assert!(matches!(e, ClientError::BadPem { what: "controller.ca", .. }), "{e}");
}

#[tokio::test]
async fn down_controller_is_not_fatal_until_send() {
    let mut config = controller(Path::new("/nonexistent"));
    config.url = Some("http://127.0.0.1:1".into());
    let mut client = ControllerClient::connect(&config, true).unwrap();
    let e = client.send(&HostReport::default()).await.unwrap_err();
    assert!(matches!(e, SendError::Retry { needs_operator: false, .. }), "{e}");
}

/// A self-signed certificate and its key, as PEM.
fn pair(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// Writes `content` to a temporary name and renames it over `path`, as
/// renewal tooling does.
fn replace(path: &Path, content: &str) {
    let staging = path.with_extension("new");
    std::fs::write(&staging, content).unwrap();
    std::fs::rename(&staging, path).unwrap();
}

#[tokio::test]
async fn renewed_files_rebuild_the_channel_and_broken_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let config = controller(dir.path());
    let (ca, _) = pair("ca.example");
    let (cert, key) = pair("web01.example");
    std::fs::write(config.ca.as_ref().unwrap(), &ca).unwrap();
    std::fs::write(config.cert.as_ref().unwrap(), &cert).unwrap();
    std::fs::write(config.key.as_ref().unwrap(), &key).unwrap();
    let mut client = ControllerClient::connect(&config, false).unwrap();
    assert!(!client.reload_if_changed().unwrap(), "nothing changed");

    let (cert, key) = pair("web01.example");
    replace(config.key.as_ref().unwrap(), &key);
    replace(config.cert.as_ref().unwrap(), &cert);
    assert!(client.reload_if_changed().unwrap());
    assert_eq!(client.reloads(), 1);
    assert!(!client.reload_if_changed().unwrap(), "loaded files are not reloaded");

    // Garbage written in place: reported once, the old channel stays.
    std::fs::write(config.cert.as_ref().unwrap(), "garbage").unwrap();
    let e = client.reload_if_changed().unwrap_err();
    assert!(matches!(e, ClientError::BadPem { what: "controller.cert", .. }), "{e}");
    assert!(!client.reload_if_changed().unwrap(), "the same broken files are reported once");
    assert_eq!(client.reloads(), 1);

    // A key that does not belong to the certificate is refused too.
    let (other, _) = pair("web01.example");
    replace(config.cert.as_ref().unwrap(), &other);
    let e = client.reload_if_changed().unwrap_err();
    assert!(matches!(e, ClientError::Setup { .. }), "{e}");

    // Put right, the files go into use.
    replace(config.cert.as_ref().unwrap(), &cert);
    assert!(client.reload_if_changed().unwrap());
    assert_eq!(client.reloads(), 2);
}

#[tokio::test]
async fn plaintext_clients_never_reload() {
    let mut config = controller(Path::new("/nonexistent"));
    config.url = Some("http://127.0.0.1:1".into());
    let mut client = ControllerClient::connect(&config, true).unwrap();
    assert!(!client.reload_if_changed().unwrap());
}
