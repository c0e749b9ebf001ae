//! Accepted TCP connections, TLS handshakes done, as the stream tonic serves.
//!
//! Our own acceptor instead of tonic's `ServerTlsConfig`, so each handshake
//! uses the configuration in service at that moment (see `tls.rs`). Each
//! handshake runs in its own task with a time limit, like tonic's: a client
//! that stalls mid-handshake holds one task, not the accept loop. The streams
//! are `tokio_rustls::server::TlsStream<TcpStream>`, for which tonic fills in
//! `Request::peer_certs()`: the agent API's identity check depends on it.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::server::TlsStream;
use tokio_stream::Stream;

use super::tls::ReloadingTls;

/// Longer than any sane handshake over a WAN, short enough that idle
/// half-open connections do not pile up.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections waiting for tonic to pick them up; the accept loop waits when full.
const QUEUE: usize = 64;

/// The stream of handshaken connections. Dropping it (tonic does at
/// shutdown) stops the accept loop and closes the listening socket.
#[derive(Debug)]
pub struct TlsIncoming {
    rx: mpsc::Receiver<TlsStream<TcpStream>>,
}

impl Stream for TlsIncoming {
    type Item = Result<TlsStream<TcpStream>, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx).map(|next| next.map(Ok))
    }
}

/// Starts accepting on `listener`, handshaking with `tls`'s current config.
pub fn tls_incoming(listener: TcpListener, tls: Arc<ReloadingTls>, what: &'static str) -> TlsIncoming {
    let (tx, rx) = mpsc::channel(QUEUE);
    tokio::spawn(accept_loop(listener, tls, tx, what));
    TlsIncoming { rx }
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<ReloadingTls>,
    tx: mpsc::Sender<TlsStream<TcpStream>>,
    what: &'static str,
) {
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors or a connection reset before
                    // accept: wait a little rather than spin, and go on.
                    tracing::warn!(%error, api = what, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = tx.closed() => return,
        };
        let _ = tcp.set_nodelay(true);
        tokio::spawn(handshake(tcp, peer, tls.acceptor(), tx.clone(), what));
    }
}

async fn handshake(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: tokio_rustls::TlsAcceptor,
    tx: mpsc::Sender<TlsStream<TcpStream>>,
    what: &'static str,
) {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
        Ok(Ok(stream)) => {
            let _ = tx.send(stream).await;
        }
        // Debug, as tonic logs it: port scanners and load balancer probes
        // fail handshakes all day. The client sees the named alert.
        Ok(Err(error)) => tracing::debug!(%peer, %error, api = what, "TLS handshake failed"),
        Err(_) => tracing::debug!(%peer, api = what, "TLS handshake timed out"),
    }
}
