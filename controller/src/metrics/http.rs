//! The HTTP/1.1 server for one resource: `GET`/`HEAD /metrics`.
//!
//! hyper's HTTP/1 server (compiled in already for tonic) parses the
//! requests; this module only routes and bounds them: a request head over
//! `MAX_HEAD` bytes gets 431 and one not complete within `READ_TIMEOUT` is
//! dropped, each response is written within `WRITE_TIMEOUT`, at most
//! `MAX_CONNECTIONS` are served at once (the rest get 503), and every
//! connection is closed after one response (a scrape needs no keep-alive).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE as CONTENT_TYPE_HEADER, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, watch};

use super::text::CONTENT_TYPE;

/// Largest request head (request line and headers) read, bytes.
pub const MAX_HEAD: usize = 8 * 1024;
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_CONNECTIONS: usize = 16;

const PLAIN: &str = "text/plain; charset=utf-8";

/// Produces the exposition. Called on a blocking thread (it reads the store).
pub trait Exposition: Send + Sync + 'static {
    fn render(&self) -> Result<String, String>;
}

/// Serves until `stop` turns true.
pub async fn serve(listener: TcpListener, exposition: Arc<dyn Exposition>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Out of file descriptors and the like: wait instead of spinning.
                tracing::warn!(%error, "metrics listener could not accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let exposition = exposition.clone();
        // Over the limit, the connection is still answered (503), without rendering.
        let slot = slots.clone().try_acquire_owned().ok();
        tokio::spawn(async move {
            let busy = slot.is_none();
            let _slot = slot;
            if let Err(error) = connection(stream, exposition, busy).await {
                tracing::debug!(%peer, %error, "metrics connection ended early");
            }
        });
    }
}

/// Serves one request on `stream`, then closes it.
async fn connection(stream: TcpStream, exposition: Arc<dyn Exposition>, busy: bool) -> Result<(), String> {
    let answered = Arc::new(Notify::new());
    let on_answer = answered.clone();
    let service = service_fn(move |request: Request<Incoming>| {
        let exposition = exposition.clone();
        let on_answer = on_answer.clone();
        async move {
            let response = if busy {
                plain(StatusCode::SERVICE_UNAVAILABLE, "too many scrapes at once\n".into())
            } else {
                answer(&request, exposition).await
            };
            // From here on the response is being written: start its deadline.
            on_answer.notify_one();
            Ok::<_, Infallible>(response)
        }
    });
    let mut http = http1::Builder::new();
    http.keep_alive(false)
        .title_case_headers(true)
        // hyper answers 431 once this many bytes hold no complete head, so
        // one over `MAX_HEAD` is refused (as before) and all of it is read.
        .max_header_size(MAX_HEAD + 1)
        .header_read_timeout(READ_TIMEOUT)
        .timer(TokioTimer::new());
    let serving = http.serve_connection(TokioIo::new(stream), service);
    let deadline = async {
        answered.notified().await;
        tokio::time::sleep(WRITE_TIMEOUT).await;
    };
    tokio::select! {
        served = serving => served.map_err(|e| e.to_string()),
        () = deadline => Err("writing the response timed out".into()),
    }
}

/// The response to one parsed request.
async fn answer(request: &Request<Incoming>, exposition: Arc<dyn Exposition>) -> Response<Full<Bytes>> {
    let uri = request.uri();
    // Origin form only ("/metrics"), as a scrape sends it.
    if uri.scheme().is_some() || uri.authority().is_some() || !uri.path().starts_with('/') {
        return plain(StatusCode::BAD_REQUEST, "the request target must be a path\n".into());
    }
    if uri.path() != "/metrics" {
        return plain(StatusCode::NOT_FOUND, "not found; metrics are at /metrics\n".into());
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "use GET or HEAD\n".into());
        response.headers_mut().insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    // HEAD renders too, for the length; hyper sends no body for HEAD.
    let rendered = tokio::task::spawn_blocking(move || exposition.render())
        .await
        .unwrap_or_else(|e| Err(format!("the metrics task failed: {e}")));
    match rendered {
        Ok(body) => with_body(StatusCode::OK, CONTENT_TYPE, body),
        Err(error) => {
            tracing::error!(%error, "cannot gather metrics");
            plain(StatusCode::INTERNAL_SERVER_ERROR, format!("cannot gather metrics: {error}\n"))
        }
    }
}

fn plain(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    with_body(status, PLAIN, body)
}

fn with_body(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let length = body.len();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE_HEADER, HeaderValue::from_static(content_type));
    // Set here so a HEAD answer carries the length of the body it omits.
    headers.insert(CONTENT_LENGTH, HeaderValue::from(length));
    response
}

#[cfg(test)]
mod tests;
