//! The CA and the controller certificate: expiry (warning 30 days ahead),
//! the chain to the CA, the key, and the names agents connect to.
//!
//! The chain is verified the way agents will verify it (rustls' webpki
//! verifier, ring), but at an instant inside both certificates' validity:
//! expiry has its own row, and an expired certificate must not hide a
//! certificate from another CA.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, Error as TlsError, RootCertStore};
use x509_parser::extensions::GeneralName;
use x509_parser::pem::Pem;

use super::Check;
use crate::config::Config;

/// Warn this long before a certificate expires.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 86_400);

/// What the checks need from one certificate.
#[derive(Debug, Clone)]
pub struct CertInfo {
    pub der: Vec<u8>,
    pub not_before: SystemTime,
    pub not_after: SystemTime,
    pub is_ca: bool,
    /// Subject alternative names: DNS names and IP addresses, as text.
    pub names: Vec<String>,
}

/// Reads the first certificate of a PEM file.
pub fn read_cert(path: &Path) -> Result<CertInfo, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let not_cert = |why: String| format!("{}: not a PEM certificate: {why}", path.display());
    let pem = Pem::iter_from_buffer(&bytes)
        .filter_map(Result::ok)
        .find(|p| p.label == "CERTIFICATE")
        .ok_or_else(|| not_cert("no BEGIN CERTIFICATE block".into()))?;
    let cert = pem.parse_x509().map_err(|e| not_cert(e.to_string()))?;
    let at = |secs: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push(dns.to_ascii_lowercase()),
                GeneralName::IPAddress(raw) => {
                    let ip = match raw.len() {
                        4 => <[u8; 4]>::try_from(*raw).ok().map(IpAddr::from),
                        16 => <[u8; 16]>::try_from(*raw).ok().map(IpAddr::from),
                        _ => None,
                    };
                    names.extend(ip.map(|ip| ip.to_string()));
                }
                _ => {}
            }
        }
    }
    Ok(CertInfo {
        not_before: at(cert.validity().not_before.timestamp()),
        not_after: at(cert.validity().not_after.timestamp()),
        is_ca: cert.is_ca(),
        names,
        der: pem.contents.clone(),
    })
}

fn date(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string().get(..10).unwrap_or_default().to_string()
}

/// The expiry verdict of one certificate, with `renew` as the fix.
pub fn expiry(name: &str, what: &str, cert: &CertInfo, now: SystemTime, renew: &str) -> Check {
    if now < cert.not_before {
        return Check::failure(
            name,
            format!(
                "{what} is not valid before {}: the clock is behind, or it was issued ahead",
                date(cert.not_before)
            ),
            "check the clock (the clock row), or re-issue the certificate",
        );
    }
    let Ok(left) = cert.not_after.duration_since(now) else {
        return Check::failure(name, format!("{what} expired on {}", date(cert.not_after)), renew);
    };
    let days = left.as_secs() / 86_400;
    if left < EXPIRY_WARNING {
        Check::warning(name, format!("{what} expires in {days} days ({})", date(cert.not_after)), renew)
    } else {
        Check::ok(name, format!("{what} valid until {} ({days} days)", date(cert.not_after)))
    }
}

/// Every certificate row. Under `--insecure` there are no certificates.
pub fn checks(config: &Config, agent_names: &[String], insecure: bool) -> Vec<Check> {
    if insecure {
        return vec![Check::warning(
            "certificates",
            "development mode (--insecure): plaintext, no certificates; any local process can report as any host",
            "never run --insecure outside a development machine",
        )];
    }
    let now = SystemTime::now();
    let ca_dir = config.tls.ca.parent().map(|d| d.display().to_string()).unwrap_or_else(|| ".".into());
    let mut rows = Vec::new();
    let ca = match read_cert(&config.tls.ca) {
        Ok(ca) if !ca.is_ca => {
            rows.push(Check::failure(
                "ca_cert",
                format!("tls.ca {} is not a CA certificate", config.tls.ca.display()),
                "point tls.ca at the ca.crt of `rblfleet ca init`",
            ));
            None
        }
        Ok(ca) => {
            let renew = "make a new CA and re-issue every certificate before this date (docs/operations.md)";
            rows.push(expiry("ca_cert", "the CA certificate", &ca, now, renew));
            Some(ca)
        }
        Err(e) => {
            rows.push(Check::failure("ca_cert", e, "point tls.ca at the ca.crt of `rblfleet ca init`"));
            None
        }
    };
    let cert = match read_cert(&config.tls.cert) {
        Ok(cert) => cert,
        Err(e) => {
            rows.push(Check::failure(
                "controller_cert",
                e,
                "point tls.cert at the controller.crt of `rblfleet ca issue --controller`",
            ));
            return rows;
        }
    };
    let renew = reissue(&ca_dir, &cert.names);
    let chain = ca.as_ref().map(|ca| chain(ca, &cert));
    rows.push(match chain {
        Some(Err(why)) => Check::failure(
            "controller_cert",
            format!("tls.cert is not signed by the CA in tls.ca: {why}; agents will refuse the connection"),
            format!("issue it from this CA ({renew}), or point tls.ca at the CA that signed it"),
        ),
        _ => expiry("controller_cert", "the controller certificate", &cert, now, &renew),
    });
    rows.push(key_matches(config, &cert));
    rows.push(names_row(config, &cert, agent_names, &ca_dir));
    rows
}

/// The command that re-issues the controller certificate for `names`.
fn reissue(ca_dir: &str, names: &[String]) -> String {
    format!("rblfleet ca issue --dir {ca_dir} --controller {} --force, then restart the controller", names.join(","))
}

/// Verifies `cert` against `ca` at an instant both are valid.
fn chain(ca: &CertInfo, cert: &CertInfo) -> Result<(), String> {
    let mut roots = RootCertStore::empty();
    roots.add(CertificateDer::from(ca.der.clone())).map_err(|e| format!("the CA certificate is unusable: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("cannot build a verifier: {e}"))?;
    let start = ca.not_before.max(cert.not_before) + Duration::from_secs(1);
    let when = UnixTime::since_unix_epoch(start.duration_since(UNIX_EPOCH).unwrap_or_default());
    // Any name: a name mismatch is the names row's business.
    let name = ServerName::try_from("rblfleet-doctor.invalid").map_err(|e| e.to_string())?;
    match verifier.verify_server_cert(&CertificateDer::from(cert.der.clone()), &[], &name, &[], when) {
        Ok(_) => Ok(()),
        Err(TlsError::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        )) => Ok(()),
        Err(TlsError::InvalidCertificate(CertificateError::UnknownIssuer)) => {
            Err("it was issued by another CA (unknown issuer)".into())
        }
        Err(TlsError::InvalidCertificate(CertificateError::BadSignature)) => {
            Err("its signature does not verify with the CA's key".into())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The private key belongs to the certificate (the server would start, and
/// every handshake would fail).
fn key_matches(config: &Config, cert: &CertInfo) -> Check {
    const NAME: &str = "controller_key";
    let key = match PrivateKeyDer::from_pem_file(&config.tls.key) {
        Ok(key) => key,
        Err(e) => {
            return Check::failure(
                NAME,
                format!("cannot read the key {}: {e}", config.tls.key.display()),
                "point tls.key at the controller.key issued with the certificate",
            );
        }
    };
    let provider = rustls::crypto::ring::default_provider();
    match rustls::sign::CertifiedKey::from_der(vec![CertificateDer::from(cert.der.clone())], key, &provider) {
        Ok(_) => Check::ok(NAME, format!("{} matches the certificate", config.tls.key.display())),
        Err(e) => Check::failure(
            NAME,
            format!("{} does not go with tls.cert: {e}", config.tls.key.display()),
            "use the key issued together with the certificate (same directory, same name)",
        ),
    }
}

/// The names agents connect to must be in the certificate: the
/// `--agent-name`s given, and the agent listener's address unless it is
/// every interface.
fn names_row(config: &Config, cert: &CertInfo, agent_names: &[String], ca_dir: &str) -> Check {
    const NAME: &str = "cert_names";
    let listen = config.agent_api.listen.ip();
    let mut wanted: Vec<String> =
        agent_names.iter().map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase()).collect();
    if !listen.is_unspecified() {
        wanted.push(listen.to_string());
    }
    let have = cert.names.join(", ");
    if wanted.is_empty() {
        return Check::ok(
            NAME,
            format!("the certificate names {have}; agents must connect with one of them (give --agent-name to check)"),
        );
    }
    let missing: Vec<String> =
        wanted.iter().filter(|w| !cert.names.iter().any(|n| name_matches(n, w))).cloned().collect();
    if missing.is_empty() {
        return Check::ok(NAME, format!("{} in the certificate ({have})", wanted.join(", ")));
    }
    let all: Vec<String> = cert.names.iter().chain(&missing).cloned().collect();
    Check::failure(
        NAME,
        format!("agents connecting to {} will refuse the certificate: it names only {have}", missing.join(", ")),
        format!("{}; or set the agents' controller.server_name to a name it has", reissue(ca_dir, &all)),
    )
}

/// A SAN matches a name exactly, or as a one-label wildcard (`*.example.net`).
fn name_matches(san: &str, name: &str) -> bool {
    if san == name {
        return true;
    }
    match (san.strip_prefix("*."), name.split_once('.')) {
        (Some(suffix), Some((label, rest))) => !label.is_empty() && rest == suffix,
        _ => false,
    }
}
