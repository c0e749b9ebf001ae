//! HTTP(S) webhooks: one POST per message, over hyper with rustls (ring
//! provider, Mozilla's roots from webpki-roots, so no system store or
//! second crypto provider is involved).

use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::DeliveryError;
use crate::alerts::body::Rendered;

/// Reply bodies quoted in errors are cut to this many bytes.
const ERROR_BODY_BYTES: usize = 300;

/// A webhook endpoint. The URL often holds a token (Slack, Teams), so it
/// is never logged or shown in errors.
#[derive(Clone)]
pub struct Webhook {
    uri: hyper::Uri,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").field("host", &self.uri.host()).finish_non_exhaustive()
    }
}

impl Webhook {
    /// `url` was checked by the config (http or https with a host).
    pub fn new(url: &str) -> Result<Webhook, DeliveryError> {
        let uri: hyper::Uri = url.parse().map_err(|_| DeliveryError::Setup("the webhook URL does not parse".into()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| DeliveryError::Setup(format!("TLS setup: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let https =
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(https);
        Ok(Webhook { uri, client })
    }

    /// POSTs the message; any 2xx answer is a delivery.
    pub async fn send(&self, message: &Rendered) -> Result<(), DeliveryError> {
        let request = hyper::Request::post(self.uri.clone())
            .header(hyper::header::CONTENT_TYPE, message.content_type)
            .header(hyper::header::USER_AGENT, concat!("rblfleet/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(Bytes::from(message.body.clone())))
            .map_err(|e| DeliveryError::Setup(format!("building the request: {e}")))?;
        let response = self.client.request(request).await.map_err(|e| DeliveryError::Connect(describe(&e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body =
            Limited::new(response.into_body(), 64 * 1024).collect().await.map(|b| b.to_bytes()).unwrap_or_default();
        let mut text = String::from_utf8_lossy(&body).trim().to_string();
        if text.len() > ERROR_BODY_BYTES {
            let mut end = ERROR_BODY_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
        }
        Err(DeliveryError::Http { status: status.as_u16(), body: text })
    }
}

/// The error and its causes in one line (hyper's top-level message alone
/// says only "client error (Connect)").
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
