//! The controller reachable *and* this identity accepted: one `Hello` call
//! over the agent's own transport (mutual TLS with the configured files),
//! which stores nothing. A failure is named for what it is — nothing
//! listening, a firewall, the controller's certificate from another CA or
//! for another name, this certificate refused or expired, a plaintext
//! controller — because "unreachable" sends the operator to the wrong host.
//!
//! The answer carries the controller's clock; the skew row compares it with
//! this host's, halfway through the round trip.

use rblfleet_shell::term::error_chain;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use rblfleet_proto::v1::HelloRequest;
use rblfleet_proto::v1::agent_service_client::AgentServiceClient;
use tonic::Code;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use super::Check;
use crate::Config;
use crate::config::ControllerConfig;
use crate::identity;

const NAME: &str = "controller";

/// The rows `controller` and, when it answered, `clock_skew`.
pub async fn checks(config: &Config, insecure: bool) -> Vec<Check> {
    let c = &config.controller;
    let url = c.url.trim().to_string();
    let endpoint = match endpoint(c, insecure) {
        Ok(endpoint) => endpoint,
        Err(e) => {
            return vec![Check::failure(NAME, format!("{url}: {e}"), "correct [controller] (see the config row)")];
        }
    };
    let host_id = identity::resolve_host_id(config, insecure).unwrap_or_default();
    let channel = match endpoint.connect().await {
        Ok(channel) => channel,
        Err(e) => return vec![transport_failure(&url, &error_chain(&e), c)],
    };
    let mut client = AgentServiceClient::new(channel);
    let sent = Instant::now();
    let sent_ms = now_ms();
    let answer = client.hello(HelloRequest { host_id: host_id.clone() }).await;
    let rtt_ms = i64::try_from(sent.elapsed().as_millis()).unwrap_or(i64::MAX);
    let hello = match answer {
        Ok(response) => response.into_inner(),
        Err(status) => return vec![status_failure(&url, &status, c)],
    };
    let accepted = Check::ok(
        NAME,
        format!("{url}: accepted as host {} (controller {}, {rtt_ms} ms round trip)", hello.host_id, hello.version),
    );
    let skew_ms = hello.now_ms - (sent_ms + rtt_ms / 2);
    vec![accepted, skew(skew_ms, hello.max_clock_skew_ms)]
}

/// The clock-skew verdict: past the controller's limit its reports are
/// refused; past half of it, one more drift away.
pub fn skew(skew_ms: i64, limit_ms: i64) -> Check {
    const NAME: &str = "clock_skew";
    let way = if skew_ms > 0 { "behind" } else { "ahead of" };
    let secs = |ms: i64| ms.unsigned_abs() as f64 / 1000.0;
    let detail = format!(
        "this host's clock is {:.1} s {way} the controller's (the controller accepts {:.0} s)",
        secs(skew_ms),
        secs(limit_ms)
    );
    let fix = "synchronise the clock (timedatectl set-ntp true, or chrony) on this host and the controller";
    if limit_ms > 0 && skew_ms.abs() > limit_ms {
        Check::failure(NAME, format!("{detail}: reports are refused"), fix)
    } else if limit_ms > 0 && skew_ms.abs() > limit_ms / 2 {
        Check::warning(NAME, detail, fix)
    } else {
        Check::ok(NAME, detail)
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The agent's transport, built from the same keys as the agent's client.
fn endpoint(c: &ControllerConfig, insecure: bool) -> Result<Endpoint, String> {
    let mut endpoint = Endpoint::from_shared(c.url.trim().to_string())
        .map_err(|e| format!("not a URL: {e}"))?
        .timeout(c.timeout)
        .connect_timeout(c.timeout);
    if insecure {
        return Ok(endpoint);
    }
    let read = |what: &str, path: Option<&std::path::Path>| -> Result<Vec<u8>, String> {
        let path = path.ok_or_else(|| format!("controller.{what} is not set"))?;
        std::fs::read(path).map_err(|e| format!("cannot read controller.{what} {}: {e}", path.display()))
    };
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca", c.ca.as_deref())?))
        .identity(Identity::from_pem(read("cert", c.cert.as_deref())?, read("key", c.key.as_deref())?))
        .domain_name(c.effective_server_name()?);
    endpoint = endpoint.tls_config(tls).map_err(|e| format!("TLS setup failed: {}", error_chain(&e)))?;
    Ok(endpoint)
}

/// A refusal by status: the connection worked and the controller said no,
/// or the status carries a transport error (TLS 1.3 reports a refused
/// client certificate on the first request, not at connect).
fn status_failure(url: &str, status: &tonic::Status, c: &ControllerConfig) -> Check {
    match status.code() {
        Code::Unauthenticated | Code::PermissionDenied => Check::failure(
            NAME,
            format!("{url} answers but refuses this identity: {}", status.message()),
            "issue this host's certificate from the fleet's CA (rblfleet ca issue --agent HOST) and remove a mismatching host_id",
        ),
        Code::Unimplemented => Check::warning(
            NAME,
            format!("{url} accepted the TLS handshake, but is too old to confirm the identity (no Hello call)"),
            "upgrade the controller",
        ),
        _ => {
            let text = match std::error::Error::source(status).map(error_chain) {
                Some(source) if source.starts_with(status.message()) => source,
                Some(source) => format!("{}: {source}", status.message()),
                None => status.message().to_string(),
            };
            transport_failure(url, &text, c)
        }
    }
}

/// A transport error named for what it is, from its text (rustls and
/// hyper say what happened; tonic wraps it as "transport error").
pub fn transport_failure(url: &str, text: &str, c: &ControllerConfig) -> Check {
    let name = c.effective_server_name().unwrap_or_default();
    let has = |needle: &str| text.contains(needle);
    let (what, fix) = if has("UnknownIssuer") {
        (
            "the controller's certificate is not from controller.ca (unknown issuer)".to_string(),
            "point controller.ca at the CA that signed the controller's certificate (the fleet's ca.crt)".to_string(),
        )
    } else if has("NotValidForName") {
        (
            format!("the controller's certificate does not name {name:?}"),
            "set controller.server_name to a name in its certificate, or re-issue it with this name".to_string(),
        )
    } else if has("invalid peer certificate: Expired") || has("certificate: Expired") {
        (
            "the controller's certificate has expired".to_string(),
            "renew it on the controller host (rblfleet doctor there)".to_string(),
        )
    } else if has("NotValidYet") {
        (
            "the controller's certificate is not valid yet: a clock is wrong".to_string(),
            "synchronise the clocks".to_string(),
        )
    } else if has("CertificateExpired") {
        (
            "the controller refuses this host's certificate: expired".to_string(),
            "re-issue it: rblfleet ca issue --agent HOST".to_string(),
        )
    } else if has("UnknownCA") || has("BadCertificate") || has("CertificateRequired") || has("DecryptError") {
        (
            "the controller refuses this host's certificate (not from its CA)".to_string(),
            "issue it from the controller's CA: rblfleet ca issue --agent HOST".to_string(),
        )
    } else if has("broken pipe") || has("onnection reset") || has("stream closed") || has("connection closed") {
        // TLS 1.3: the client's handshake is over before the server judges
        // its certificate; a refusal then arrives as a closed connection
        // (or as the alert, if it is read first).
        (
            "the controller closed the connection after the handshake: most likely it refuses this host's \
             certificate (from another CA, or expired)"
                .to_string(),
            "check the agent_cert row; issue it from the controller's CA: rblfleet ca issue --agent HOST".to_string(),
        )
    } else if has("InvalidContentType") || has("corrupt message") || has("CorruptMessage") {
        (
            "the controller does not speak TLS on this port (plaintext, --insecure?)".to_string(),
            "run the controller with its certificates, or check the port in controller.url".to_string(),
        )
    } else if has("onnection refused") {
        (
            "nothing listens there (connection refused)".to_string(),
            "start the controller, or correct the port in controller.url".to_string(),
        )
    } else if has("dns error") || has("failed to lookup") {
        ("the controller's name does not resolve".to_string(), "correct the host in controller.url".to_string())
    } else if has("timed out") || has("deadline") {
        (
            format!("no answer within {}", humantime::format_duration(c.timeout)),
            "check the firewall between this host and the controller".to_string(),
        )
    } else {
        ("cannot reach the controller".to_string(), "check controller.url and that the controller runs".to_string())
    };
    Check::failure(NAME, format!("{url}: {what} ({text})"), fix)
}
