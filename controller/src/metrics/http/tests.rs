#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::*;

/// Renders a fixed text, or fails when asked to: the server's behaviour is
/// under test here; the real exposition is scraped in the e2e tests.
struct Fixed(Result<String, String>);

impl Exposition for Fixed {
    fn render(&self) -> Result<String, String> {
        self.0.clone()
    }
}

async fn server(answer: Result<String, String>) -> (SocketAddr, watch::Sender<bool>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = watch::channel(false);
    let task = tokio::spawn(serve(listener, Arc::new(Fixed(answer)), stopped));
    (addr, stop, task)
}

/// Sends raw bytes and returns the whole response as text.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8(response).unwrap()
}

#[tokio::test]
async fn get_and_head_serve_the_exposition() {
    let body = "# TYPE x gauge\nx 1\n".to_string();
    let (addr, stop, task) = server(Ok(body.clone())).await;
    let get = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n").await;
    assert!(get.starts_with("HTTP/1.1 200 OK\r\n"), "{get}");
    assert!(get.contains("Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"), "{get}");
    assert!(get.contains(&format!("Content-Length: {}\r\n", body.len())), "{get}");
    assert!(get.ends_with(&format!("\r\n\r\n{body}")), "{get}");
    // hyper answers an HTTP/1.0 request in HTTP/1.0 (the hand-written server said 1.1).
    let query = exchange(addr, b"GET /metrics?x=1 HTTP/1.0\n\n").await;
    assert!(query.starts_with("HTTP/1.0 200 OK\r\n") && query.ends_with(&body), "{query}");
    let head = exchange(addr, b"HEAD /metrics HTTP/1.1\r\n\r\n").await;
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())) && head.ends_with("\r\n\r\n"), "{head}");
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn other_paths_methods_and_garbage_get_clear_errors() {
    let (addr, stop, task) = server(Ok(String::new())).await;
    for (request, status) in [
        (&b"GET / HTTP/1.1\r\n\r\n"[..], "404 Not Found"),
        (b"GET /metricsx HTTP/1.1\r\n\r\n", "404 Not Found"),
        (b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", "405 Method Not Allowed"),
        (b"GET /metrics\r\n\r\n", "400 Bad Request"),
        (b"GET /metrics HTTP/2.0\r\n\r\n", "400 Bad Request"),
        (b"GET metrics HTTP/1.1\r\n\r\n", "400 Bad Request"),
        (b"\xff\xfe /metrics HTTP/1.1\r\n\r\n", "400 Bad Request"),
        (b"GET http://a/metrics HTTP/1.1\r\n\r\n", "400 Bad Request"),
        (b"OPTIONS * HTTP/1.1\r\n\r\n", "400 Bad Request"),
    ] {
        let response = exchange(addr, request).await;
        assert!(response.starts_with(&format!("HTTP/1.1 {status}\r\n")), "{request:?} -> {response}");
        assert!(response.contains("Connection: close\r\n"), "{response}");
    }
    let allow = exchange(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n").await;
    assert!(allow.contains("Allow: GET, HEAD\r\n"), "{allow}");
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn oversized_heads_are_refused_and_the_server_keeps_serving() {
    let (addr, stop, task) = server(Ok("x 1\n".into())).await;
    // Exactly one byte over the cap: the server reads all of it before it
    // answers, so closing leaves no unread data (which would reset the
    // connection under the response).
    let mut big = b"GET /metrics HTTP/1.1\r\nX-Filler: ".to_vec();
    big.resize(MAX_HEAD + 1, b'a');
    let response = exchange(addr, &big).await;
    assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
    // A client that connects and leaves without a request costs nothing.
    drop(TcpStream::connect(addr).await.unwrap());
    let after = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
    assert!(after.starts_with("HTTP/1.1 200 OK\r\n") && after.ends_with("x 1\n"), "{after}");
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn a_failed_gathering_is_a_500_naming_the_cause() {
    let (addr, stop, task) = server(Err("storage I/O failed: disk gone".into())).await;
    let response = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 500 Internal Server Error\r\n"), "{response}");
    assert!(response.ends_with("cannot gather metrics: storage I/O failed: disk gone\n"), "{response}");
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn empty_lines_before_a_request_are_skipped_and_a_slow_head_is_dropped() {
    let (addr, stop, task) = server(Ok("x 1\n".into())).await;
    // RFC 9112 section 2.2: empty lines before the request line are ignored
    // (the hand-written server answered 400 to them).
    let after_blank = exchange(addr, b"\r\n\r\nGET /metrics HTTP/1.1\r\n\r\n").await;
    assert!(after_blank.starts_with("HTTP/1.1 200 OK\r\n") && after_blank.ends_with("x 1\n"), "{after_blank}");
    // A head still incomplete after READ_TIMEOUT: closed without an answer.
    let started = std::time::Instant::now();
    let slow = exchange(addr, b"GET /metrics HTTP/1.1\r\nHost: a\r\n").await;
    assert_eq!(slow, "");
    assert!(started.elapsed() >= READ_TIMEOUT, "{:?}", started.elapsed());
    stop.send(true).unwrap();
    task.await.unwrap();
}

#[tokio::test]
async fn connections_over_the_limit_get_503_until_a_slot_frees() {
    let (addr, stop, task) = server(Ok("x 1\n".into())).await;
    // MAX_CONNECTIONS clients that connect and send nothing hold every slot.
    let mut held = Vec::new();
    for _ in 0..MAX_CONNECTIONS {
        held.push(TcpStream::connect(addr).await.unwrap());
    }
    let busy = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
    assert!(busy.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{busy}");
    assert!(busy.ends_with("too many scrapes at once\n"), "{busy}");
    drop(held);
    // Slots come back as the idle clients leave.
    let mut after = String::new();
    for _ in 0..100 {
        after = exchange(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
        if after.starts_with("HTTP/1.1 200 OK\r\n") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(after.starts_with("HTTP/1.1 200 OK\r\n") && after.ends_with("x 1\n"), "{after}");
    stop.send(true).unwrap();
    task.await.unwrap();
}
