//! Why a connection to the controller failed, named for what it is and
//! with the fix, instead of one "cannot reach … is it running?" for all.
//!
//! A failed gRPC call carries its cause as a chain of sources: tonic's
//! transport error or `Status` → hyper → an `io::Error` whose inner error
//! is a `rustls::Error` (the standard library's `io::Error::source` skips
//! that inner error, so the walk looks inside with `get_ref`). [`diagnose`]
//! walks the chain once and returns a closed [`Failure`]; [`Diagnosis`]
//! prints it with the fix in the words of the client that failed (the
//! admin CLI's options, or the agent's config keys).
//!
//! Under TLS 1.3 the client finishes its side of the handshake before the
//! server has checked the client's certificate, so "the controller does not
//! accept this certificate" arrives as a TLS alert at the first call, not
//! at connect: both places must be diagnosed.

use std::error::Error;
use std::fmt;
use std::io;

use rustls::{AlertDescription, CertificateError};

/// What went wrong, from the client's side of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// TCP connect refused: nothing listens on that port.
    Refused,
    /// The URL's host name does not resolve.
    NameNotResolved,
    /// No answer in time: a firewall dropping packets, a host that is down,
    /// or a server that accepted the connection and never answered.
    TimedOut,
    /// The controller's certificate is not signed by the CA the client trusts.
    ServerUnknownCa,
    /// The controller's certificate has expired.
    ServerExpired,
    /// The controller's certificate is not valid yet (a clock is wrong).
    ServerNotYetValid,
    /// The controller's certificate does not name the host the client asked for.
    ServerWrongName,
    /// The controller's certificate is unusable in another way (bad
    /// signature, wrong purpose, revoked).
    ServerBadCertificate,
    /// The controller refused the client's certificate (another CA, none
    /// sent, or not accepted for this service).
    ClientRejected,
    /// The controller refused the client's certificate as expired or not
    /// yet valid.
    ClientExpired,
    /// A TLS client met a peer that does not speak TLS (an `https://` URL
    /// pointing at a plaintext port, or at something else entirely).
    PeerNotTls,
    /// A plaintext client met a peer that speaks something else, most likely
    /// TLS (an `http://` URL pointing at a TLS port).
    PeerExpectsTls,
    /// None of the above; the raw cause is in [`Diagnosis::detail`].
    Other,
}

/// Which client failed: the fix names its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Client {
    /// The `rblfleet` CLI talking to the admin API.
    Admin,
    /// `rblfleet-agent` talking to the agent API.
    Agent,
}

/// A failure with the raw cause it was read from, printed as
/// "WHAT: FIX (CAUSE)".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnosis {
    pub failure: Failure,
    pub client: Client,
    /// The innermost cause as the TLS stack or the OS said it.
    pub detail: String,
}

/// Walks `error`'s source chain and names the failure. `tls` is whether
/// the client spoke TLS (an `https://` URL): the same garbled answer means
/// "not TLS" to a TLS client and "probably TLS" to a plaintext one.
pub fn diagnose(error: &(dyn Error + 'static), tls: bool, client: Client) -> Diagnosis {
    let chain: Vec<&(dyn Error + 'static)> = std::iter::successors(Some(error), |&e| e.source()).collect();
    let detail = chain.last().map(|e| e.to_string()).unwrap_or_default();
    // The TLS verdict first: it is the most specific, and a TLS failure
    // also shows up as a generic I/O error further out.
    let rustls = chain.iter().find_map(|e| rustls_error(*e));
    let failure = match rustls {
        Some(tls_error) => from_rustls(tls_error, tls),
        None => match chain.iter().find_map(|e| alert_in_text(*e)) {
            Some(failure) => failure,
            None => from_chain(&chain, tls),
        },
    };
    let detail = rustls.map_or(detail, |e| e.to_string());
    Diagnosis { failure, client, detail }
}

/// A `rustls::Error` at this link, directly or inside an `io::Error`.
fn rustls_error<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a rustls::Error> {
    error.downcast_ref::<rustls::Error>().or_else(|| {
        let inner = error.downcast_ref::<io::Error>()?.get_ref()?;
        inner.downcast_ref::<rustls::Error>()
    })
}

fn from_rustls(error: &rustls::Error, tls: bool) -> Failure {
    use rustls::Error as E;
    match error {
        E::InvalidCertificate(cert) => match cert {
            CertificateError::UnknownIssuer => Failure::ServerUnknownCa,
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => Failure::ServerExpired,
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => Failure::ServerNotYetValid,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                Failure::ServerWrongName
            }
            _ => Failure::ServerBadCertificate,
        },
        E::AlertReceived(alert) => from_alert(*alert),
        // Bytes that are no TLS record: an HTTP/2 server's GOAWAY, an HTTP/1
        // "400 Bad Request", an SSH banner.
        E::InvalidMessage(_) | E::PeerSentOversizedRecord if tls => Failure::PeerNotTls,
        _ => Failure::Other,
    }
}

/// The server's verdict on our certificate.
fn from_alert(alert: AlertDescription) -> Failure {
    match alert {
        AlertDescription::CertificateExpired => Failure::ClientExpired,
        AlertDescription::UnknownCA
        | AlertDescription::BadCertificate
        | AlertDescription::CertificateRequired
        | AlertDescription::CertificateUnknown
        | AlertDescription::UnsupportedCertificate
        | AlertDescription::CertificateRevoked
        | AlertDescription::AccessDenied => Failure::ClientRejected,
        _ => Failure::Other,
    }
}

/// An alert that arrived after the handshake (TLS 1.3: the server checks
/// our certificate while we already send the first request) reaches us
/// through h2, which keeps only an I/O error's kind and text: the rustls
/// type is gone, its Display ("received fatal alert: UnknownCA") is left.
fn alert_in_text(error: &(dyn Error + 'static)) -> Option<Failure> {
    let text = error.to_string();
    let name = text.split("received fatal alert: ").nth(1)?.split(|c: char| !c.is_ascii_alphanumeric()).next()?;
    let alerts = [
        AlertDescription::CertificateExpired,
        AlertDescription::UnknownCA,
        AlertDescription::BadCertificate,
        AlertDescription::CertificateRequired,
        AlertDescription::CertificateUnknown,
        AlertDescription::UnsupportedCertificate,
        AlertDescription::CertificateRevoked,
        AlertDescription::AccessDenied,
    ];
    alerts.into_iter().find(|alert| format!("{alert:?}") == name).map(from_alert)
}

/// No TLS verdict: the OS's or the HTTP/2 layer's.
fn from_chain(chain: &[&(dyn Error + 'static)], tls: bool) -> Failure {
    for error in chain {
        if let Some(io) = error.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return Failure::Refused,
                io::ErrorKind::TimedOut => return Failure::TimedOut,
                _ => {}
            }
        }
        if error.downcast_ref::<tonic::TimeoutExpired>().is_some() {
            return Failure::TimedOut;
        }
        // hyper-util's connector says "dns error" around getaddrinfo's
        // io::Error, whose kind is only "Uncategorized".
        let text = error.to_string();
        if text.starts_with("dns error") || text.contains("failed to lookup address information") {
            return Failure::NameNotResolved;
        }
    }
    let closed = chain.iter().any(|e| {
        e.downcast_ref::<io::Error>().is_some_and(|io| {
            matches!(
                io.kind(),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            )
        })
    });
    let http2_garbled = chain.iter().any(|e| {
        let text = e.to_string();
        text.contains("frame with invalid size") || text.contains("connection closed before message completed")
    });
    match (tls, closed || http2_garbled) {
        // The server hung up on our ClientHello: a plaintext HTTP/2 server
        // closes the connection on a bad preface.
        (true, true) if chain.iter().any(|e| e.to_string().contains("tls handshake eof")) => Failure::PeerNotTls,
        (false, true) => Failure::PeerExpectsTls,
        _ => Failure::Other,
    }
}

impl Failure {
    /// Whether retrying alone cannot help: a certificate, a name or a
    /// scheme is wrong and an operator has to change something. A refused
    /// connection, a timeout or a DNS failure may pass by itself.
    pub fn needs_operator(self) -> bool {
        !matches!(self, Failure::Refused | Failure::NameNotResolved | Failure::TimedOut | Failure::Other)
    }

    /// What happened, in a few words.
    pub fn what(self) -> &'static str {
        match self {
            Failure::Refused => "connection refused: nothing listens on that address and port",
            Failure::NameNotResolved => "the host name in the URL does not resolve",
            Failure::TimedOut => "no answer in time",
            Failure::ServerUnknownCa => "the controller's certificate is not signed by the CA this client trusts",
            Failure::ServerExpired => "the controller's certificate has expired",
            Failure::ServerNotYetValid => "the controller's certificate is not valid yet",
            Failure::ServerWrongName => "the controller's certificate does not name the host in the URL",
            Failure::ServerBadCertificate => "the controller's certificate is not usable",
            Failure::ClientRejected => "the controller does not accept this certificate",
            Failure::ClientExpired => "the controller refused this certificate as expired or not yet valid",
            Failure::PeerNotTls => "the port does not speak TLS",
            Failure::PeerExpectsTls => "the port does not speak plaintext HTTP/2 (it most likely expects TLS)",
            Failure::Other => "the connection failed",
        }
    }

    /// The fix, in one sentence naming `client`'s options.
    pub fn fix(self, client: Client) -> String {
        let o = Options::of(client);
        match self {
            Failure::Refused => match client {
                Client::Admin => {
                    "is it running? Start it with `rblfleet serve --config /etc/rblfleet/controller.toml`, \
                                  or point --controller (RBLFLEET_CONTROLLER) at it"
                        .into()
                }
                Client::Agent => format!("is the controller running, and is {} its agent API address?", o.url),
            },
            Failure::NameNotResolved => format!("check the host name in {} and this host's DNS resolver", o.url),
            Failure::TimedOut => {
                format!("check that the controller's host is up and that no firewall drops the port in {}", o.url)
            }
            Failure::ServerUnknownCa => format!(
                "give the fleet's CA certificate (ca.crt from `rblfleet ca init`) as {}, or {} points at another server",
                o.ca, o.url
            ),
            Failure::ServerExpired => "renew it on the CA host (`rblfleet ca issue --dir DIR --controller NAME… \
                                       --force`) and restart the controller; if it should still be valid, check \
                                       this host's clock"
                .into(),
            Failure::ServerNotYetValid => {
                "check this host's clock and the CA host's clock (`timedatectl`): one of them is wrong".into()
            }
            Failure::ServerWrongName => format!(
                "use a host name or IP the controller's certificate was issued for in {}{}, or re-issue it with \
                 `rblfleet ca issue --dir DIR --controller NAME… --force`",
                o.url, o.server_name
            ),
            Failure::ServerBadCertificate => {
                "re-issue the controller's certificate with `rblfleet ca issue --dir DIR --controller NAME… --force`"
                    .into()
            }
            Failure::ClientRejected => format!(
                "{} must hold a certificate from the controller's CA (`{}`) and {} its key",
                o.cert, o.issue, o.key
            ),
            Failure::ClientExpired => {
                format!("re-issue it (`{} --force`) and check this host's clock", o.issue)
            }
            Failure::PeerNotTls => {
                format!("check the port in {}: it should be the controller's TLS port ({})", o.url, o.tls_port)
            }
            Failure::PeerExpectsTls => {
                format!("use an https:// URL in {} with {}, {} and {}", o.url, o.ca, o.cert, o.key)
            }
            Failure::Other => format!("check {} and the controller's log", o.url),
        }
    }
}

impl fmt::Display for Diagnosis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.failure.what(), self.failure.fix(self.client), self.detail)
    }
}

/// The names a client's settings go by.
struct Options {
    url: &'static str,
    ca: &'static str,
    cert: &'static str,
    key: &'static str,
    issue: &'static str,
    server_name: &'static str,
    tls_port: &'static str,
}

impl Options {
    fn of(client: Client) -> Options {
        match client {
            Client::Admin => Options {
                url: "--controller (RBLFLEET_CONTROLLER)",
                ca: "--ca (RBLFLEET_CA)",
                cert: "--cert (RBLFLEET_CERT)",
                key: "--key (RBLFLEET_KEY)",
                issue: "rblfleet ca issue --dir DIR --admin NAME",
                server_name: "",
                tls_port: "admin_api.listen with admin_api.require_cert",
            },
            Client::Agent => Options {
                url: "controller.url",
                ca: "controller.ca",
                cert: "controller.cert",
                key: "controller.key",
                issue: "rblfleet ca issue --dir DIR --agent HOST",
                server_name: " (or set controller.server_name to one)",
                tls_port: "agent_api.listen, default 7443",
            },
        }
    }
}

#[cfg(test)]
mod tests;
