#![allow(clippy::unwrap_used)]

use super::*;

/// An error with a source, like tonic's and hyper's wrappers.
#[derive(Debug)]
struct Wrap(&'static str, Box<dyn Error + Send + Sync>);

impl fmt::Display for Wrap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Error for Wrap {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(self.1.as_ref())
    }
}

/// A rustls error as the TLS stream returns it: inside an io::Error, inside
/// two wrappers.
fn wrapped_tls(error: rustls::Error) -> Wrap {
    Wrap(
        "transport error",
        Box::new(Wrap("client error (Connect)", Box::new(io::Error::new(io::ErrorKind::InvalidData, error)))),
    )
}

fn failure(error: &(dyn Error + 'static), tls: bool) -> Failure {
    diagnose(error, tls, Client::Agent).failure
}

#[test]
fn rustls_inside_io_error_is_found() {
    let e = wrapped_tls(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer));
    let d = diagnose(&e, true, Client::Admin);
    assert_eq!(d.failure, Failure::ServerUnknownCa);
    assert!(d.to_string().contains("--ca (RBLFLEET_CA)"), "{d}");
    assert!(d.detail.contains("UnknownIssuer") || d.detail.contains("unknown issuer"), "{}", d.detail);
}

#[test]
fn certificate_errors_each_have_their_failure() {
    let cases = [
        (CertificateError::Expired, Failure::ServerExpired),
        (CertificateError::NotValidYet, Failure::ServerNotYetValid),
        (CertificateError::NotValidForName, Failure::ServerWrongName),
        (CertificateError::BadSignature, Failure::ServerBadCertificate),
    ];
    for (cert, expected) in cases {
        assert_eq!(failure(&wrapped_tls(rustls::Error::InvalidCertificate(cert)), true), expected);
    }
}

#[test]
fn alerts_from_the_server_are_about_our_certificate() {
    for alert in [AlertDescription::UnknownCA, AlertDescription::BadCertificate, AlertDescription::CertificateRequired]
    {
        assert_eq!(failure(&wrapped_tls(rustls::Error::AlertReceived(alert)), true), Failure::ClientRejected);
    }
    let expired = wrapped_tls(rustls::Error::AlertReceived(AlertDescription::CertificateExpired));
    assert_eq!(failure(&expired, true), Failure::ClientExpired);
    let d = diagnose(&wrapped_tls(rustls::Error::AlertReceived(AlertDescription::UnknownCA)), true, Client::Agent);
    assert!(d.to_string().starts_with("the controller does not accept this certificate: controller.cert"), "{d}");
}

#[test]
fn a_garbled_record_means_the_peer_is_not_tls() {
    let e = wrapped_tls(rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType));
    assert_eq!(failure(&e, true), Failure::PeerNotTls);
}

#[test]
fn os_errors_are_refused_timeout_or_dns() {
    let refused = Wrap("transport error", Box::new(io::Error::from(io::ErrorKind::ConnectionRefused)));
    assert_eq!(failure(&refused, true), Failure::Refused);
    let timeout = Wrap("transport error", Box::new(io::Error::from(io::ErrorKind::TimedOut)));
    assert_eq!(failure(&timeout, false), Failure::TimedOut);
    let tonic_timeout = Wrap("transport error", Box::new(tonic::TimeoutExpired(())));
    assert_eq!(failure(&tonic_timeout, false), Failure::TimedOut);
    let dns = Wrap(
        "dns error",
        Box::new(io::Error::other("failed to lookup address information: Name or service not known")),
    );
    assert_eq!(failure(&dns, true), Failure::NameNotResolved);
}

#[test]
fn a_closed_connection_means_tls_expected_only_to_a_plaintext_client() {
    let closed = Wrap("transport error", Box::new(io::Error::from(io::ErrorKind::ConnectionReset)));
    assert_eq!(failure(&closed, false), Failure::PeerExpectsTls);
    assert_eq!(failure(&closed, true), Failure::Other);
}

#[test]
fn unknown_failures_keep_their_cause() {
    let e = Wrap("transport error", Box::new(io::Error::other("something new")));
    let d = diagnose(&e, true, Client::Admin);
    assert_eq!(d.failure, Failure::Other);
    assert_eq!(d.detail, "something new");
}

#[test]
fn an_alert_that_lost_its_type_in_h2_is_read_from_its_text() {
    // What h2 hands on: an io::Error rebuilt from the kind and the text.
    let text = rustls::Error::AlertReceived(AlertDescription::UnknownCA).to_string();
    let e = Wrap("h2 protocol error", Box::new(io::Error::new(io::ErrorKind::ConnectionAborted, text)));
    assert_eq!(failure(&e, true), Failure::ClientRejected);
    let text = rustls::Error::AlertReceived(AlertDescription::CertificateExpired).to_string();
    let e = Wrap("h2 protocol error", Box::new(io::Error::other(text)));
    assert_eq!(failure(&e, true), Failure::ClientExpired);
    let e = Wrap("h2 protocol error", Box::new(io::Error::other("received fatal alert: HandshakeFailure")));
    assert_eq!(failure(&e, true), Failure::Other);
}
