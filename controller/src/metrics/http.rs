//! A minimal HTTP/1.1 server for one resource: `GET`/`HEAD /metrics`.
//!
//! Hand-rolled on tokio's `TcpListener` because a scrape endpoint needs one
//! request per connection and nothing else; hyper's server side would add
//! features and build time for no gain. It stays robust by construction:
//! the request head is capped at `MAX_HEAD` bytes and `READ_TIMEOUT`, each
//! response is written within `WRITE_TIMEOUT`, at most `MAX_CONNECTIONS`
//! are served at once, every connection is closed after one response, and
//! nothing in it panics on what a client sends (bad requests get 400).

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

use super::text::CONTENT_TYPE;

/// Largest request head (request line and headers) read, bytes.
pub const MAX_HEAD: usize = 8 * 1024;
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
pub const MAX_CONNECTIONS: usize = 16;

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
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(async move {
                let _ = respond(stream, 503, "Service Unavailable", "text/plain", b"too many scrapes at once\n", false)
                    .await;
            });
            continue;
        };
        let exposition = exposition.clone();
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(error) = handle(stream, exposition).await {
                tracing::debug!(%peer, %error, "metrics connection ended early");
            }
        });
    }
}

/// What went wrong reading a request head.
#[derive(Debug, PartialEq, Eq)]
enum Head {
    Complete(Vec<u8>),
    TooLarge,
    /// The peer closed before sending a whole head.
    Truncated,
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<Head> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Head::Truncated);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = head_end(&buf) {
            buf.truncate(end);
            return Ok(Head::Complete(buf));
        }
        if buf.len() > MAX_HEAD {
            return Ok(Head::TooLarge);
        }
    }
}

/// Where the head ends (blank line; bare LF tolerated as RFC 9112 allows).
fn head_end(buf: &[u8]) -> Option<usize> {
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = buf.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The answer to one request line.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Metrics { head_only: bool },
    NotFound,
    MethodNotAllowed,
    BadRequest(&'static str),
}

fn route(head: &[u8]) -> Route {
    let Ok(text) = std::str::from_utf8(head) else {
        return Route::BadRequest("the request head is not UTF-8");
    };
    let line = text.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Route::BadRequest("the request line is not METHOD TARGET VERSION");
    };
    if !version.starts_with("HTTP/1.") {
        return Route::BadRequest("only HTTP/1.x is served");
    }
    if method.is_empty() || !target.starts_with('/') {
        return Route::BadRequest("the request target must be a path");
    }
    let path = target.split('?').next().unwrap_or(target);
    match (method, path) {
        ("GET", "/metrics") => Route::Metrics { head_only: false },
        ("HEAD", "/metrics") => Route::Metrics { head_only: true },
        (_, "/metrics") => Route::MethodNotAllowed,
        _ => Route::NotFound,
    }
}

async fn handle(mut stream: TcpStream, exposition: Arc<dyn Exposition>) -> std::io::Result<()> {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => {
            return respond(stream, 408, "Request Timeout", "text/plain", b"request head too slow\n", false).await;
        }
    };
    let head = match head {
        Head::Complete(head) => head,
        Head::Truncated => return Ok(()),
        Head::TooLarge => {
            let body = format!("request head over {MAX_HEAD} bytes\n");
            return respond(stream, 431, "Request Header Fields Too Large", "text/plain", body.as_bytes(), false).await;
        }
    };
    match route(&head) {
        Route::Metrics { head_only } => {
            let rendered = tokio::task::spawn_blocking(move || exposition.render())
                .await
                .unwrap_or_else(|e| Err(format!("the metrics task failed: {e}")));
            match rendered {
                Ok(body) => respond(stream, 200, "OK", CONTENT_TYPE, body.as_bytes(), head_only).await,
                Err(error) => {
                    tracing::error!(%error, "cannot gather metrics");
                    let body = format!("cannot gather metrics: {error}\n");
                    respond(stream, 500, "Internal Server Error", "text/plain", body.as_bytes(), head_only).await
                }
            }
        }
        Route::NotFound => {
            respond(stream, 404, "Not Found", "text/plain", b"not found; metrics are at /metrics\n", false).await
        }
        Route::MethodNotAllowed => {
            respond(stream, 405, "Method Not Allowed", "text/plain", b"use GET or HEAD\n", false).await
        }
        Route::BadRequest(why) => {
            respond(stream, 400, "Bad Request", "text/plain", format!("{why}\n").as_bytes(), false).await
        }
    }
}

async fn respond(
    mut stream: TcpStream,
    code: u16,
    reason: &str,
    content_type: &str,
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let content_type = if content_type == "text/plain" { "text/plain; charset=utf-8" } else { content_type };
    let head = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n{}Connection: close\r\n\r\n",
        body.len(),
        if code == 405 { "Allow: GET, HEAD\r\n" } else { "" },
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        if !head_only {
            stream.write_all(body).await?;
        }
        stream.shutdown().await
    };
    tokio::time::timeout(WRITE_TIMEOUT, write)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "writing the response timed out")))
}

#[cfg(test)]
#[path = "http_tests.rs"]
mod tests;
