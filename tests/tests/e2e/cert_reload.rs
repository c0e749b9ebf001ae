//! Renewed certificates go into service on both sides without a restart, and
//! a broken renewal keeps the old certificates working.

use std::path::Path;
use std::time::Duration;

use rblfleet_agent::{Agent, Config as AgentConfig, RunOptions};
use rblfleet_controller::ca::{self, Subject};
use rblfleet_tests::{Controller, Pki, agent_toml, controller_config};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

const HOST: &str = "web05.example";
/// A name only the renewed controller certificate carries.
const NEW_NAME: &str = "renewed.test";

/// Issues `subject` from a copy of the CA in `staging`, then renames key and
/// certificate over `key` and `cert`, one after the other, as an admin's
/// tooling does (each rename atomic, the pair not).
fn renew(pki: &Pki, staging: &Path, subject: &Subject, cert: &Path, key: &Path) {
    std::fs::create_dir_all(staging).unwrap();
    for name in ["ca.crt", "ca.key"] {
        std::fs::copy(pki.dir.join(name), staging.join(name)).unwrap();
    }
    let issued = ca::issue(staging, subject, 60, true).unwrap();
    std::fs::rename(&issued.key, key).unwrap();
    std::fs::rename(&issued.cert, cert).unwrap();
}

/// Whether a new TLS connection verifying the controller as `name` succeeds.
async fn controller_answers_as(pki: &Pki, url: &str, name: &str) -> bool {
    let (cert, key) = pki.agent(HOST);
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(pki.ca_cert()).unwrap()))
        .identity(Identity::from_pem(std::fs::read(cert).unwrap(), std::fs::read(key).unwrap()))
        .domain_name(name);
    Endpoint::from_shared(url.to_string()).unwrap().tls_config(tls).unwrap().connect().await.is_ok()
}

async fn send_one(agent: &mut Agent) {
    agent.tick().unwrap();
    let outcome = agent.flush().await;
    assert_eq!(outcome.sent, 1, "{outcome:?}");
    assert_eq!(agent.backlog(), 0);
}

#[tokio::test]
async fn certificates_renewed_on_both_sides_without_restart_or_lost_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let mut config = controller_config(&pki, &tmp.path().join("data"), 0, false);
    config.tls.reload_interval = Duration::from_millis(100);
    let controller = Controller::start_with(config).await;
    let url = controller.agent_url();
    let tls = controller.running.tls.clone().unwrap();
    let toml = agent_toml(&pki, HOST, &url, &tmp.path().join("outbox"));
    let mut agent = Agent::open(AgentConfig::from_toml_str(&toml).unwrap(), RunOptions::default()).await.unwrap();
    let (agent_cert, agent_key) = pki.agent(HOST);
    let mut sent = 0;
    send_one(&mut agent).await;
    sent += 1;
    assert!(!controller_answers_as(&pki, &url, NEW_NAME).await, "the first certificate does not carry {NEW_NAME}");

    // 1. The controller's certificate is renewed (with one more name).
    let names = vec!["localhost".into(), "127.0.0.1".into(), NEW_NAME.into()];
    let (cert, key) = (pki.dir.join("controller.crt"), pki.dir.join("controller.key"));
    renew(&pki, &tmp.path().join("staging1"), &Subject::Controller { names }, &cert, &key);
    let mut waited = Duration::ZERO;
    while !controller_answers_as(&pki, &url, NEW_NAME).await {
        assert!(waited < Duration::from_secs(10), "the renewed controller certificate never went into service");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    assert_eq!(tls.status().reloads, 1, "{:?}", tls.status());
    assert!(controller_answers_as(&pki, &url, "localhost").await);
    send_one(&mut agent).await;
    sent += 1;

    // 2. Garbage written in place over the controller's certificate: reported,
    //    and the renewed certificate stays in service.
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\ntruncated by a full disk\n").unwrap();
    let mut waited = Duration::ZERO;
    while tls.status().last_error.is_none() {
        assert!(waited < Duration::from_secs(10), "the broken certificate file was never reported");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += Duration::from_millis(50);
    }
    let error = tls.status().last_error.unwrap();
    assert!(error.contains("tls.cert") && error.contains("controller.crt"), "{error}");
    assert!(controller_answers_as(&pki, &url, NEW_NAME).await, "the previous certificate left service");
    send_one(&mut agent).await;
    sent += 1;

    // 3. The agent's certificate is renewed: the agent reconnects with it.
    //    A certificate for another host proves the agent really uses the new
    //    files: the controller refuses it, and the reports wait in the outbox.
    let other = Subject::Agent { host_id: "other.example".into() };
    renew(&pki, &tmp.path().join("staging2"), &other, &agent_cert, &agent_key);
    agent.tick().unwrap();
    let outcome = agent.flush().await;
    assert_eq!(outcome.sent, 0, "a certificate for another host was accepted: {outcome:?}");
    let refusal = outcome.last_error.unwrap().to_string();
    assert!(refusal.contains("other.example"), "{refusal}");
    assert_eq!(agent.backlog(), 1);

    // 4. Garbage in place over the agent's certificate: reported, the agent
    //    keeps the channel it has (still refused here, still kept).
    std::fs::write(&agent_cert, "garbage").unwrap();
    agent.tick().unwrap();
    assert_eq!(agent.flush().await.sent, 0);
    assert_eq!(agent.backlog(), 2);

    // 5. The right renewal arrives: the backlog goes through, nothing lost.
    let own = Subject::Agent { host_id: HOST.into() };
    renew(&pki, &tmp.path().join("staging3"), &own, &agent_cert, &agent_key);
    agent.tick().unwrap();
    let outcome = agent.flush().await;
    assert_eq!(outcome.sent, 3, "{outcome:?}");
    sent += 3;
    send_one(&mut agent).await;
    sent += 1;
    drop(agent);

    let host: serde_json::Value =
        serde_json::from_str(&controller.cli(&["host", HOST, "--format", "json"]).await.unwrap()).unwrap();
    assert_eq!(host["reports_stored"], sent);
    assert_eq!(host["seq_gaps"], 0);
    controller.stop().await;
}

/// Handshakes run beside each other: a client that connects and says
/// nothing holds one task, not the listener.
#[tokio::test]
async fn a_stalled_handshake_does_not_hold_up_other_agents() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("ca"));
    let controller = Controller::start(&pki, &tmp.path().join("data"), 0, false).await;
    let stalled: Vec<_> = {
        let mut held = Vec::new();
        for _ in 0..8 {
            held.push(tokio::net::TcpStream::connect(controller.running.agent_addr).await.unwrap());
        }
        held
    };
    let (cert, key) = pki.agent(HOST);
    let report = async {
        let mut client =
            rblfleet_tests::raw_agent_client(&controller.agent_url(), &pki.ca_cert(), Some((&cert, &key))).await?;
        client.report(rblfleet_tests::valid_report(HOST, 1, 1)).await.map_err(anyhow::Error::from)?;
        anyhow::Ok(())
    };
    tokio::time::timeout(Duration::from_secs(5), report).await.expect("stalled handshakes held the listener").unwrap();
    drop(stalled);
    controller.stop().await;
}
