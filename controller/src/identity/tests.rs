#![allow(clippy::unwrap_used)]

use std::path::Path;

use rcgen::{CertificateParams, KeyPair, SanType};

use super::*;
use crate::identity::check_host_id;

/// A self-signed certificate whose only SAN is `uri`, as DER and PEM.
fn cert(uri: &str) -> (Vec<u8>, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names.push(SanType::URI(uri.try_into().unwrap()));
    let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
    (cert.der().to_vec(), cert.pem())
}

#[test]
fn reads_agent_and_admin_identities() {
    let (der, _) = cert("urn:rblfleet:agent:web07.example.net");
    let identity = from_der(&der).unwrap();
    assert_eq!(identity, Identity { role: Role::Agent, name: "web07.example.net".into() });
    assert_eq!(identity.uri(), "urn:rblfleet:agent:web07.example.net");
    let (der, _) = cert("urn:rblfleet:admin:alice");
    assert_eq!(from_der(&der).unwrap().uri(), "urn:rblfleet:admin:alice");
    assert!(matches!(from_der(&cert("https://example.net/").0), Err(IdentityError::Missing)));
}

/// Ids on both sides of every clause of the rule, as TOML and a URI can carry them.
const IDS: &[&str] = &[
    "web07",
    "web07.example.net",
    "WEB_07-b.",
    "0",
    "",
    "web 07",
    "web07/mail",
    "host:443",
    "web@example",
    "-web07",
    ".web07",
    "../etc/passwd",
    "hôte.example",
    "web\t07",
];

/// The agent starts with an id (from its config or its certificate) exactly
/// when the controller would store reports under it: both call the one rule in
/// `rblfleet_proto::contract`.
#[test]
fn an_id_the_agent_accepts_is_exactly_an_id_the_controller_accepts() {
    let long = "x".repeat(253);
    let too_long = "x".repeat(254);
    let mut accepted = 0;
    for id in IDS.iter().copied().chain([long.as_str(), too_long.as_str()]) {
        let controller = check_host_id(id).is_ok();
        accepted += usize::from(controller);

        let toml = format!("host_id = {id:?}\n[controller]\nurl = \"http://127.0.0.1:1\"\n");
        let agent_config = rblfleet_agent::Config::from_toml_str(&toml).is_ok();
        assert_eq!(agent_config, controller, "host_id = {id:?} in the agent's config");

        // A URI SAN is ASCII; the non-ASCII id cannot be in a certificate at all.
        let uri = format!("{AGENT_URI_PREFIX}{id}");
        if uri.is_ascii() {
            let (der, pem) = cert(&uri);
            let agent_cert =
                rblfleet_agent::identity::host_id_from_cert_pem(pem.as_bytes(), Path::new("agent.crt")).is_ok();
            // The controller reads any non-empty name from the certificate,
            // then refuses reports whose host id breaks the rule.
            let controller_cert = from_der(&der).is_ok_and(|i| check_host_id(&i.name).is_ok());
            assert_eq!(agent_cert, controller_cert, "certificate {uri:?}");
            assert_eq!(agent_cert, controller, "certificate {uri:?}");
        }
    }
    assert_eq!(accepted, 5, "the table should hold valid ids too");
}
