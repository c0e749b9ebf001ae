//! Each controller reachable *and* this identity accepted: one `Hello` call
//! per controller URL over the agent's own transport (mutual TLS with the configured files),
//! which stores nothing. A failure is named for what it is — nothing
//! listening, a firewall, the controller's certificate from another CA or
//! for another name, this certificate refused or expired, a plaintext
//! controller — because "unreachable" sends the operator to the wrong host.
//!
//! The answer carries the controller's clock; the skew row compares it with
//! this host's, halfway through the round trip.

use rblfleet_shell::term::error_chain;
use std::path::Path;
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

/// One row `controller` per controller URL, `clock_skew` from the first
/// that answered, and with several URLs `controller_in_use`: the one the
/// running agent sends to. With several, one that fails while another
/// accepts this identity is a warning (the agent fails over to the other).
pub async fn checks(config: &Config, insecure: bool) -> Vec<Check> {
    let c = &config.controller;
    let urls = match c.controllers() {
        Ok(urls) => urls,
        Err((key, reason)) => {
            return vec![Check::failure(NAME, format!("{key}: {reason}"), "correct [controller] (see the config row)")];
        }
    };
    let host_id = identity::resolve_host_id(config, insecure).unwrap_or_default();
    // At once, so that one hung controller does not use up the others' time.
    let tasks: Vec<_> = urls
        .iter()
        .map(|url| {
            let (url, c, host_id) = (url.url.clone(), c.clone(), host_id.clone());
            (url.clone(), tokio::spawn(async move { one(&url, &c, &host_id, insecure).await }))
        })
        .collect();
    let mut rows = Vec::with_capacity(urls.len() + 2);
    let mut skew_row = None;
    for (url, task) in tasks {
        let (row, skew) = task.await.unwrap_or_else(|e| {
            (Check::failure(NAME, format!("{url}: the check failed: {e}"), super::HINTS.report), None)
        });
        rows.push(row);
        skew_row = skew_row.or(skew);
    }
    if urls.len() > 1 {
        let accepted = rows.iter().filter(|r| r.status == super::Status::Ok).count();
        if accepted > 0 {
            for row in rows.iter_mut().filter(|r| r.status == super::Status::Failure) {
                row.status = super::Status::Warning;
                row.detail = format!("{} (the agent fails over to another controller)", row.detail);
            }
        }
        rows.push(in_use(&config.outbox.dir));
    }
    rows.extend(skew_row);
    rows
}

/// The row of the controller at `url` and, when it answered, its clock skew.
async fn one(url: &str, c: &ControllerConfig, host_id: &str, insecure: bool) -> (Check, Option<Check>) {
    let endpoint = match endpoint(c, url, insecure) {
        Ok(endpoint) => endpoint,
        Err(e) => {
            return (Check::failure(NAME, format!("{url}: {e}"), "correct [controller] (see the config row)"), None);
        }
    };
    let server_name = c.server_name_for(url).unwrap_or_default();
    let channel = match endpoint.connect().await {
        Ok(channel) => channel,
        Err(e) => return (transport_failure(url, &error_chain(&e), &server_name, c), None),
    };
    let mut client = AgentServiceClient::new(channel);
    let sent = Instant::now();
    let sent_ms = now_ms();
    let answer = client.hello(HelloRequest { host_id: host_id.to_string() }).await;
    let rtt_ms = i64::try_from(sent.elapsed().as_millis()).unwrap_or(i64::MAX);
    let hello = match answer {
        Ok(response) => response.into_inner(),
        Err(status) => return (status_failure(url, &status, &server_name, c), None),
    };
    let accepted = Check::ok(
        NAME,
        format!("{url}: accepted as host {} (controller {}, {rtt_ms} ms round trip)", hello.host_id, hello.version),
    );
    let skew_ms = hello.now_ms - (sent_ms + rtt_ms / 2);
    (accepted, Some(skew(skew_ms, hello.max_clock_skew_ms)))
}

/// Which controller the running agent sends to, from the record it keeps
/// beside its outbox (`store::in_use`).
pub fn in_use(outbox: &Path) -> Check {
    const ROW: &str = "controller_in_use";
    match crate::store::in_use::read(outbox) {
        Ok(Some(record)) => {
            let ago_ms = now_ms().saturating_sub(i64::try_from(record.since_ms).unwrap_or(i64::MAX)).max(0);
            let ago = humantime::format_duration(std::time::Duration::from_secs(ago_ms.unsigned_abs() / 1000));
            let mut detail = format!("the agent sends to {} (since {ago} ago", record.url);
            if let Some(previous) = &record.previous {
                detail.push_str(&format!(", switched from {previous}"));
                if let Some(reason) = &record.reason {
                    detail.push_str(&format!(": {reason}"));
                }
            }
            detail.push(')');
            Check::ok(ROW, detail)
        }
        Ok(None) => Check::ok(ROW, "no report acknowledged yet by any controller"),
        Err(e) => Check::warning(ROW, e.to_string(), "the agent rewrites it at its next change of controller"),
    }
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

/// The agent's transport to `url`, built from the same keys as the agent's client.
fn endpoint(c: &ControllerConfig, url: &str, insecure: bool) -> Result<Endpoint, String> {
    let mut endpoint = Endpoint::from_shared(url.to_string())
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
        .domain_name(c.server_name_for(url)?);
    endpoint = endpoint.tls_config(tls).map_err(|e| format!("TLS setup failed: {}", error_chain(&e)))?;
    Ok(endpoint)
}

/// A refusal by status: the connection worked and the controller said no,
/// or the status carries a transport error (TLS 1.3 reports a refused
/// client certificate on the first request, not at connect).
fn status_failure(url: &str, status: &tonic::Status, server_name: &str, c: &ControllerConfig) -> Check {
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
            transport_failure(url, &text, server_name, c)
        }
    }
}

/// A transport error named for what it is, from its text (rustls and
/// hyper say what happened; tonic wraps it as "transport error").
/// `name` is the TLS name checked on this controller's certificate.
pub fn transport_failure(url: &str, text: &str, name: &str, c: &ControllerConfig) -> Check {
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
