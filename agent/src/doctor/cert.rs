//! The agent certificate and the CA: expiry (a warning 30 days ahead: a
//! fleet issued on one day expires on one day), the identity in the SAN URI
//! against `host_id`, and whether the certificate comes from the CA the
//! agent trusts for the controller (the fleet's one CA signs both).
//!
//! The issuing CA is compared by name and key identifier, not by signature
//! (the agent carries no signature verifier of its own): two CAs with the
//! same name and no key identifiers pass here, and the controller row's
//! handshake then names the refusal.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;
use x509_parser::pem::Pem;

use super::Check;
use crate::Config;
use crate::identity;

/// Warn this long before a certificate expires.
pub const EXPIRY_WARNING: Duration = Duration::from_secs(30 * 86_400);

const REISSUE: &str = "on the controller host: rblfleet ca issue --agent HOST, then copy the bundle here";

/// The rows `agent_cert` and `ca_cert`.
pub fn checks(config: &Config, insecure: bool) -> Vec<Check> {
    let c = &config.controller;
    let Some(cert_path) = c.cert.as_deref() else {
        let detail = if insecure {
            "development mode (--insecure): plaintext, no certificate; the controller trusts any host id"
        } else {
            "controller.cert is not set"
        };
        return vec![Check::warning("agent_cert", detail, "issue one: rblfleet ca issue --agent HOST")];
    };
    let now = SystemTime::now();
    let mut rows = Vec::new();
    let ca_pem = c.ca.as_deref().map(read);
    let cert_pem = read(cert_path);
    rows.push(match &cert_pem {
        Err(e) => Check::failure("agent_cert", e.clone(), REISSUE),
        Ok((bytes, pem)) => {
            let ca = ca_pem.as_ref().and_then(|r| r.as_ref().ok()).map(|(_, pem)| pem);
            agent_row(config, cert_path, bytes, pem, ca, now)
        }
    });
    rows.push(match (&ca_pem, c.ca.as_deref()) {
        (Some(Ok((_, pem))), _) => match parse(pem) {
            Ok(ca) if ca.is_ca() => expiry(
                "ca_cert",
                "the CA certificate",
                &ca,
                now,
                "the fleet's CA is renewed on the controller host (docs/operations.md); then re-issue",
            ),
            Ok(_) => Check::failure(
                "ca_cert",
                "controller.ca is not a CA certificate",
                "point controller.ca at the fleet's ca.crt",
            ),
            Err(e) => Check::failure("ca_cert", e, "point controller.ca at the fleet's ca.crt"),
        },
        (Some(Err(e)), _) => Check::failure("ca_cert", e.clone(), "point controller.ca at the fleet's ca.crt"),
        (None, _) => Check::warning("ca_cert", "controller.ca is not set", "point controller.ca at the fleet's ca.crt"),
    });
    rows
}

/// Expiry, identity and issuer of the agent certificate, worst first.
fn agent_row(config: &Config, path: &Path, bytes: &[u8], pem: &Pem, ca: Option<&Pem>, now: SystemTime) -> Check {
    const NAME: &str = "agent_cert";
    let cert = match parse(pem) {
        Ok(cert) => cert,
        Err(e) => return Check::failure(NAME, format!("{}: {e}", path.display()), REISSUE),
    };
    let host_id = match identity::host_id_from_cert_pem(bytes, path) {
        Ok(id) => id,
        Err(e) => return Check::failure(NAME, e.to_string(), REISSUE),
    };
    if let Some(configured) = &config.host_id
        && *configured != host_id
    {
        return Check::failure(
            NAME,
            format!(
                "host_id = {configured:?}, but the certificate is for {host_id:?}: the controller refuses every report"
            ),
            format!("remove host_id from the config (the certificate names the host), or issue one for {configured}"),
        );
    }
    if let Some(ca) = ca.and_then(|ca| parse(ca).ok())
        && let Some(why) = other_issuer(&cert, &ca)
    {
        return Check::failure(
            NAME,
            format!("{host_id}: issued by another CA than controller.ca ({why}); the controller refuses the handshake"),
            "re-issue it from the fleet's CA: rblfleet ca issue --agent HOST, on the controller host",
        );
    }
    expiry(NAME, &format!("{host_id}'s certificate"), &cert, now, REISSUE)
}

/// Why `cert` was not issued by `ca`, if it visibly was not.
fn other_issuer(cert: &X509Certificate<'_>, ca: &X509Certificate<'_>) -> Option<String> {
    if cert.issuer().as_raw() != ca.subject().as_raw() {
        return Some(format!("issuer \"{}\", CA \"{}\"", cert.issuer(), ca.subject()));
    }
    let aki = cert.extensions().iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::AuthorityKeyIdentifier(aki) => aki.key_identifier.as_ref().map(|k| k.0.to_vec()),
        _ => None,
    });
    let ski = ca.extensions().iter().find_map(|e| match e.parsed_extension() {
        ParsedExtension::SubjectKeyIdentifier(ski) => Some(ski.0.to_vec()),
        _ => None,
    });
    match (aki, ski) {
        (Some(aki), Some(ski)) if aki != ski => Some("same CA name, another CA key".to_string()),
        _ => None,
    }
}

/// The expiry verdict of one certificate, with `renew` as the fix.
pub fn expiry(name: &str, what: &str, cert: &X509Certificate<'_>, now: SystemTime, renew: &str) -> Check {
    let at = |secs: i64| UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).unwrap_or(0));
    let (not_before, not_after) =
        (at(cert.validity().not_before.timestamp()), at(cert.validity().not_after.timestamp()));
    if now < not_before {
        return Check::failure(
            name,
            format!("{what} is not valid before {}: this host's clock is behind", date(not_before)),
            "set the clock (timedatectl set-ntp true, or chrony)",
        );
    }
    let Ok(left) = not_after.duration_since(now) else {
        return Check::failure(name, format!("{what} expired on {}", date(not_after)), renew);
    };
    let days = left.as_secs() / 86_400;
    if left < EXPIRY_WARNING {
        Check::warning(name, format!("{what} expires in {days} days ({})", date(not_after)), renew)
    } else {
        Check::ok(name, format!("{what} valid until {} ({days} days)", date(not_after)))
    }
}

fn date(at: SystemTime) -> String {
    humantime::format_rfc3339_seconds(at).to_string().get(..10).unwrap_or_default().to_string()
}

/// A PEM file's bytes and its first CERTIFICATE block.
fn read(path: &Path) -> Result<(Vec<u8>, Pem), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let pem = Pem::iter_from_buffer(&bytes)
        .filter_map(Result::ok)
        .find(|p| p.label == "CERTIFICATE")
        .ok_or_else(|| format!("{}: no PEM certificate (BEGIN CERTIFICATE)", path.display()))?;
    Ok((bytes, pem))
}

fn parse(pem: &Pem) -> Result<X509Certificate<'_>, String> {
    pem.parse_x509().map_err(|e| format!("not a valid certificate: {e}"))
}
