//! A failed connection is named for what it is, with its fix, in the CLI's
//! admin client and in the agent: a certificate from another CA on either
//! side, an expired certificate on either side, a wrong name, http against a
//! TLS port and https against a plaintext one, nothing listening. Real
//! controllers on 127.0.0.1 with certificates made in the test.

use std::path::Path;
use std::time::Duration;

use rblfleet_agent::client::{ControllerClient, SendError};
use rblfleet_controller::ca::{self, Subject};
use rblfleet_controller::client::{AdminClient, AdminEndpoint, ClientError};
use rblfleet_proto::v1::ReportAck;
use rblfleet_tests::procs::free_port;
use rblfleet_tests::{Controller, Pki, valid_report};

const HOST: &str = "web07.example";

/// The admin client's error connecting to `url` and making one call (under
/// TLS 1.3 a refused client certificate only shows at the first call).
async fn admin_error(url: &str, ca: &Path, cert: &Path, key: &Path) -> String {
    let endpoint =
        AdminEndpoint { url: url.into(), ca: Some(ca.into()), cert: Some(cert.into()), key: Some(key.into()) };
    let error = match AdminClient::connect(&endpoint).await {
        Ok(mut client) => client.list_hosts().await.expect_err("the call went through"),
        Err(e) => e,
    };
    assert!(matches!(error, ClientError::Unreachable { .. }), "{error}");
    error.to_string()
}

/// The agent sending one report to `url` with these files.
async fn agent_send(
    url: &str,
    ca: &Path,
    cert: &Path,
    key: &Path,
    server_name: Option<&str>,
) -> Result<ReportAck, SendError> {
    let server_name = server_name.map(|n| format!("server_name = \"{n}\"\n")).unwrap_or_default();
    let toml = format!(
        "host_id = \"{HOST}\"\n[controller]\nurl = \"{url}\"\nca = {ca:?}\ncert = {cert:?}\nkey = {key:?}\n\
         {server_name}timeout = \"5s\"\n",
        ca = ca.display().to_string(),
        cert = cert.display().to_string(),
        key = key.display().to_string(),
    );
    let config = rblfleet_agent::Config::from_toml_str(&toml).unwrap();
    let mut client = ControllerClient::connect(&config.controller, false).unwrap();
    client.send(&valid_report(HOST, 1, 1)).await
}

/// The agent's error sending one report, and whether it needs an operator.
async fn agent_error(url: &str, ca: &Path, cert: &Path, key: &Path, server_name: Option<&str>) -> (String, bool) {
    match agent_send(url, ca, cert, key, server_name).await.expect_err("the report went through") {
        error @ SendError::Retry { needs_operator, .. } => (error.to_string(), needs_operator),
        other => panic!("not a retry: {other}"),
    }
}

fn assert_says(message: &str, words: &[&str]) {
    for w in words {
        assert!(message.contains(w), "{w:?} missing from: {message}");
    }
    assert!(!message.contains("is it running"), "a TLS failure blamed on a stopped controller: {message}");
}

/// A second CA with an admin and an agent certificate of the same names.
fn foreign_ca(dir: &Path) -> Pki {
    ca::init(dir, "someone else's CA", 30).unwrap();
    ca::issue(dir, &Subject::Controller { names: vec!["localhost".into(), "127.0.0.1".into()] }, 30, false).unwrap();
    Pki { dir: dir.to_path_buf() }
}

#[tokio::test]
async fn certificates_from_another_ca_are_named_on_both_sides() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let foreign = foreign_ca(&tmp.path().join("foreign"));
    let controller = Controller::start(&pki, &tmp.path().join("data"), 0, true).await;
    let admin_url = controller.admin_url();
    let agent_url = controller.agent_url();

    // The admin trusts another CA: the controller's certificate is unknown.
    let (cert, key) = pki.admin("noc");
    let e = admin_error(&admin_url, &foreign.ca_cert(), &cert, &key).await;
    assert_says(&e, &["certificate is not signed by the CA this client trusts", "--ca (RBLFLEET_CA)"]);

    // The admin's certificate comes from another CA: the controller refuses it.
    let (cert, key) = foreign.admin("noc");
    let e = admin_error(&admin_url, &pki.ca_cert(), &cert, &key).await;
    assert_says(&e, &["the controller does not accept this certificate", "--cert (RBLFLEET_CERT)"]);

    // The same two from the agent, which must wait for an operator.
    let (cert, key) = pki.agent(HOST);
    let (e, operator) = agent_error(&agent_url, &foreign.ca_cert(), &cert, &key, None).await;
    assert_says(&e, &["certificate is not signed by the CA this client trusts", "controller.ca"]);
    assert!(operator, "{e}");
    let (cert, key) = foreign.agent(HOST);
    let (e, operator) = agent_error(&agent_url, &pki.ca_cert(), &cert, &key, None).await;
    assert_says(&e, &["the controller does not accept this certificate", "controller.cert"]);
    assert!(operator, "{e}");
    controller.stop().await;
}

#[tokio::test]
async fn expired_certificates_are_named_on_both_sides() {
    let tmp = tempfile::tempdir().unwrap();
    // A CA whose controller, admin and agent certificates expire now.
    let dir = tmp.path().join("ca");
    ca::init(&dir, "test CA", 30).unwrap();
    let expired = Pki { dir: dir.clone() };
    ca::issue(&dir, &Subject::Controller { names: vec!["localhost".into(), "127.0.0.1".into()] }, 0, false).unwrap();
    ca::issue(&dir, &Subject::Admin { name: "noc".into() }, 0, false).unwrap();
    ca::issue(&dir, &Subject::Agent { host_id: HOST.into() }, 0, false).unwrap();
    // Certificates count whole seconds: step past not_after.
    tokio::time::sleep(Duration::from_millis(2100)).await;

    // The controller's own certificate expired.
    let controller = Controller::start(&expired, &tmp.path().join("data"), 0, true).await;
    let (cert, key) = expired.admin("noc");
    let e = admin_error(&controller.admin_url(), &expired.ca_cert(), &cert, &key).await;
    assert_says(&e, &["the controller's certificate has expired", "rblfleet ca issue"]);
    let (cert, key) = expired.agent(HOST);
    let (e, operator) = agent_error(&controller.agent_url(), &expired.ca_cert(), &cert, &key, None).await;
    assert_says(&e, &["the controller's certificate has expired"]);
    assert!(operator, "{e}");
    controller.stop().await;

    // A valid controller, expired client certificates from its CA.
    ca::issue(&dir, &Subject::Controller { names: vec!["localhost".into(), "127.0.0.1".into()] }, 30, true).unwrap();
    let controller = Controller::start(&expired, &tmp.path().join("data2"), 0, true).await;
    let (cert, key) = expired.admin("noc");
    let e = admin_error(&controller.admin_url(), &expired.ca_cert(), &cert, &key).await;
    assert_says(&e, &["refused this certificate as expired or not yet valid", "--admin NAME"]);
    let (cert, key) = expired.agent(HOST);
    let (e, _) = agent_error(&controller.agent_url(), &expired.ca_cert(), &cert, &key, None).await;
    assert_says(&e, &["refused this certificate as expired or not yet valid", "--agent HOST"]);
    controller.stop().await;
}

#[tokio::test]
async fn a_name_the_certificate_does_not_have_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ca");
    ca::init(&dir, "test CA", 30).unwrap();
    // Issued for a name only: agents dialling 127.0.0.1 do not match it.
    ca::issue(&dir, &Subject::Controller { names: vec!["controller.example".into()] }, 30, false).unwrap();
    let pki = Pki { dir };
    let controller = Controller::start(&pki, &tmp.path().join("data"), 0, true).await;

    let (cert, key) = pki.admin("noc");
    let e = admin_error(&controller.admin_url(), &pki.ca_cert(), &cert, &key).await;
    assert_says(&e, &["does not name the host in the URL", "--controller"]);

    let (cert, key) = pki.agent(HOST);
    let (e, operator) = agent_error(&controller.agent_url(), &pki.ca_cert(), &cert, &key, None).await;
    assert_says(&e, &["does not name the host in the URL", "controller.server_name"]);
    assert!(operator, "{e}");
    // The name the certificate has, via server_name, is accepted.
    let ack = agent_send(&controller.agent_url(), &pki.ca_cert(), &cert, &key, Some("controller.example")).await;
    assert!(ack.is_ok(), "{ack:?}");
    controller.stop().await;
}

#[tokio::test]
async fn http_and_https_on_the_wrong_port_are_named() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let (cert, key) = pki.admin("noc");

    // https:// against the plaintext loopback admin API.
    let plain = Controller::start(&pki, &tmp.path().join("plain"), 0, false).await;
    let https = plain.admin_url().replace("http://", "https://");
    let e = admin_error(&https, &pki.ca_cert(), &cert, &key).await;
    assert_says(&e, &["the port does not speak TLS"]);
    let (agent_cert, agent_key) = pki.agent(HOST);
    let (e, operator) = agent_error(&https, &pki.ca_cert(), &agent_cert, &agent_key, None).await;
    assert_says(&e, &["the port does not speak TLS", "controller.url"]);
    assert!(operator, "{e}");
    plain.stop().await;

    // http:// against an admin API that requires a certificate.
    let tls = Controller::start(&pki, &tmp.path().join("tls"), 0, true).await;
    let http = tls.admin_url().replace("https://", "http://");
    let e = admin_error(&http, &pki.ca_cert(), &cert, &key).await;
    assert_says(&e, &["it most likely expects TLS", "use an https:// URL"]);
    tls.stop().await;
}

#[tokio::test]
async fn nothing_listening_is_still_is_it_running() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let (cert, key) = pki.admin("noc");
    let url = format!("https://127.0.0.1:{}", free_port());
    let e = admin_error(&url, &pki.ca_cert(), &cert, &key).await;
    assert!(e.contains("connection refused") && e.contains("is it running?"), "{e}");
    let (cert, key) = pki.agent(HOST);
    let (e, operator) = agent_error(&url, &pki.ca_cert(), &cert, &key, None).await;
    assert!(e.contains("connection refused"), "{e}");
    assert!(!operator, "a stopped controller comes back by itself: {e}");
}
