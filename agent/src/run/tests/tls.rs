//! Mutual TLS against a real tonic server: the agent's certificate names the
//! host, the controller's CA is verified, and a foreign certificate fails at
//! the first RPC (TLS 1.3) as a retryable error.

use std::path::Path;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, SanType};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use super::*;

struct Pki {
    ca_pem: String,
    server: (String, String),
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

fn leaf(issuer: &CertifiedIssuer<'static, KeyPair>, sans: &[&str], uri: Option<&str>) -> (String, String) {
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, "leaf");
    if let Some(uri) = uri {
        params.subject_alt_names.push(SanType::URI(uri.try_into().unwrap()));
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

async fn tls_controller(pki: &Pki) -> Controller {
    let tls = ServerTlsConfig::new()
        .identity(Identity::from_pem(&pki.server.0, &pki.server.1))
        .client_ca_root(Certificate::from_pem(&pki.ca_pem));
    let server = Server::builder().tls_config(tls).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Controller::serve_with(listener, Mode::Accept, server)
}

fn tls_config(addr: SocketAddr, dir: &Path, ca_pem: &str, agent: &(String, String)) -> Config {
    std::fs::write(dir.join("ca.crt"), ca_pem).unwrap();
    std::fs::write(dir.join("agent.crt"), &agent.0).unwrap();
    std::fs::write(dir.join("agent.key"), &agent.1).unwrap();
    Config::from_toml_str(&format!(
        "[controller]\nurl = \"https://{addr}\"\nca = \"{d}/ca.crt\"\n\
         cert = \"{d}/agent.crt\"\nkey = \"{d}/agent.key\"\ntimeout = \"2s\"\n\
         [outbox]\ndir = \"{d}/outbox\"\n\
         [logs]\npaths = [\"{d}/mail.log\"]\n[queue]\nmta = \"none\"\n",
        d = dir.display()
    ))
    .unwrap()
}

#[tokio::test]
async fn mtls_round_trip_with_host_id_from_the_certificate() {
    let ca = ca("rblfleet test CA");
    let pki = Pki { ca_pem: ca.pem(), server: leaf(&ca, &["127.0.0.1", "localhost"], None) };
    let controller = tls_controller(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let agent_cert = leaf(&ca, &[], Some("urn:rblfleet:agent:web07.example.net"));
    let config = tls_config(controller.addr, dir.path(), &pki.ca_pem, &agent_cert);

    let mut agent = Agent::open(config, RunOptions::default()).await.unwrap();
    assert_eq!(agent.host_id(), "web07.example.net");
    agent.tick().unwrap();
    let out = agent.flush().await;
    assert_eq!(out.sent, 1, "{:?}", out.last_error);
    let state = controller.state.lock().unwrap();
    assert!(state.peer_cert);
    assert_eq!(state.last.as_ref().unwrap().host_id, "web07.example.net");
}

#[tokio::test]
async fn foreign_client_certificate_fails_at_the_first_rpc_and_is_retried() {
    let ca = ca("rblfleet test CA");
    let pki = Pki { ca_pem: ca.pem(), server: leaf(&ca, &["127.0.0.1"], None) };
    let controller = tls_controller(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let foreign = leaf(&self::ca("someone else"), &[], Some("urn:rblfleet:agent:web07"));
    let config = tls_config(controller.addr, dir.path(), &pki.ca_pem, &foreign);

    let mut agent = Agent::open(config, RunOptions::default()).await.unwrap();
    agent.tick().unwrap();
    let out = agent.flush().await;
    assert_eq!(out.sent, 0);
    assert!(matches!(out.last_error, Some(AgentError::Send(SendError::Retry { .. }))), "{:?}", out.last_error);
    assert_eq!(agent.backlog(), 1);
    assert_eq!(controller.state.lock().unwrap().attempts, 0);
}

#[tokio::test]
async fn wrong_server_name_is_refused() {
    let ca = ca("rblfleet test CA");
    let pki = Pki { ca_pem: ca.pem(), server: leaf(&ca, &["controller.example.net"], None) };
    let controller = tls_controller(&pki).await;
    let dir = tempfile::tempdir().unwrap();
    let agent_cert = leaf(&ca, &[], Some("urn:rblfleet:agent:web07"));
    let mut config = tls_config(controller.addr, dir.path(), &pki.ca_pem, &agent_cert);

    let mut agent = Agent::open(config.clone(), RunOptions::default()).await.unwrap();
    agent.tick().unwrap();
    assert!(agent.flush().await.last_error.is_some());
    drop(agent);

    config.controller.server_name = Some("controller.example.net".into());
    let mut agent = Agent::open(config, RunOptions::default()).await.unwrap();
    assert_eq!(agent.flush().await.sent, 1);
}
