//! Agents are who their certificate says, and nobody else.

use rblfleet_controller::ca;
use rblfleet_tests::{Controller, Pki, raw_agent_client, valid_report};
use tonic::Code;

#[tokio::test]
async fn agent_claiming_another_host_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let controller = Controller::start(&pki, &tmp.path().join("data"), 0, false).await;
    let (cert, key) = pki.agent("host-a.example");
    let mut client = raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await.unwrap();

    let status = client.report(valid_report("host-b.example", 1, 1)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(
        status.message().contains("\"host-b.example\"") && status.message().contains("\"host-a.example\""),
        "{}",
        status.message()
    );
    // The same client reporting as itself is accepted.
    let ack = client.report(valid_report("host-a.example", 1, 1)).await.unwrap().into_inner();
    assert_eq!((ack.seq, ack.duplicate), (1, false));

    let hosts = controller.cli(&["hosts", "--format", "json"]).await.unwrap();
    assert!(!hosts.contains("host-b.example"), "{hosts}");
    controller.stop().await;
}

#[tokio::test]
async fn agent_without_certificate_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let controller = Controller::start(&pki, &tmp.path().join("data"), 0, false).await;
    // Under TLS 1.3 the handshake may "succeed" and fail at the first RPC: make one.
    let result = match raw_agent_client(&controller.agent_url(), &pki.ca_cert(), None).await {
        Ok(mut client) => client.report(valid_report("host-a.example", 1, 1)).await.map(|_| ()),
        Err(e) => Err(tonic::Status::unavailable(e.to_string())),
    };
    assert!(result.is_err(), "a client without a certificate got through");
    assert_eq!(controller.cli(&["hosts", "--format", "json"]).await.unwrap().trim(), "[]");
    controller.stop().await;
}

#[tokio::test]
async fn agent_with_foreign_ca_certificate_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let controller = Controller::start(&pki, &tmp.path().join("data"), 0, false).await;
    // Another CA issues a certificate for the same host name.
    let foreign = tmp.path().join("foreign");
    ca::init(&foreign, "foreign CA", 30).unwrap();
    let issued = ca::issue(&foreign, &ca::Subject::Agent { host_id: "host-a.example".into() }, 30, false).unwrap();
    let result =
        match raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&issued.cert, &issued.key))).await {
            Ok(mut client) => client.report(valid_report("host-a.example", 1, 1)).await.map(|_| ()),
            Err(e) => Err(tonic::Status::unavailable(e.to_string())),
        };
    assert!(result.is_err(), "a certificate from a foreign CA got through");
    assert_eq!(controller.cli(&["hosts", "--format", "json"]).await.unwrap().trim(), "[]");
    controller.stop().await;
}

#[tokio::test]
async fn admin_certificate_cannot_report() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let controller = Controller::start(&pki, &tmp.path().join("data"), 0, false).await;
    let (cert, key) = pki.admin("host-a.example");
    let mut client = raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await.unwrap();
    let status = client.report(valid_report("host-a.example", 1, 1)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("needs an agent certificate"), "{}", status.message());
    controller.stop().await;
}
