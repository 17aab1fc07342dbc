//! The connection loop: HTTP/1.1 with the limits `axum::serve` does not
//! expose — a bounded time to send a request header (which also bounds how
//! long a kept-alive connection may sit idle), a cap on the size of a request
//! header and a cap on open connections — and a graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower::ServiceExt as _;

use crate::shutdown::Shutdown;

/// Hard cap on a request head (request line and header fields), in bytes:
/// past it the connection is answered 431 and closed before the head is
/// read to its end. The router answers 431 from a smaller size (see
/// `http::router::MAX_HEADER_BYTES`) with a problem document.
const HARD_HEADER_CAP: usize = 64 * 1024;

/// The limits of the connection loop.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest time to send a request's header; also the longest a
    /// kept-alive connection may wait idle for its next request.
    pub header_read_timeout: Duration,
    /// Most connections open at once; past it new ones wait in the backlog.
    pub max_connections: usize,
}

/// Serves `router` on `listener` until `shutdown` fires, then stops
/// accepting and waits for the open connections to finish their requests.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, shutdown: Shutdown) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let builder = Arc::new(builder(limits));
    // Every connection holds a receiver; `closed` resolves when all are gone.
    let (open_tx, open_rx) = watch::channel(());
    loop {
        let mut stop = shutdown.clone();
        let (stream, peer, slot) = tokio::select! {
            () = stop.wait() => break,
            accepted = accept(&listener, &slots) => accepted,
        };
        tokio::spawn(connection(Connection {
            stream,
            peer,
            router: router.clone(),
            builder: Arc::clone(&builder),
            shutdown: shutdown.clone(),
            _slot: slot,
            _open: open_rx.clone(),
        }));
    }
    drop(listener);
    drop(open_rx);
    open_tx.closed().await;
}

fn builder(limits: Limits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(HARD_HEADER_CAP)
        .max_buf_size(HARD_HEADER_CAP);
    builder
}

/// The next connection, once a slot is free.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> (TcpStream, SocketAddr, OwnedSemaphorePermit) {
    let Ok(slot) = Arc::clone(slots).acquire_owned().await else {
        // The semaphore is never closed.
        return std::future::pending().await;
    };
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => return (stream, peer, slot),
            // The peer gave up before we took it: nothing to do.
            Err(e) if is_connection_error(&e) => {}
            // Out of file descriptors and the like: wait rather than spin.
            Err(e) => {
                tracing::error!(error = %e, "cannot accept a connection; retrying in a second");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// One accepted connection and what it holds until it closes.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    builder: Arc<http1::Builder>,
    shutdown: Shutdown,
    _slot: OwnedSemaphorePermit,
    _open: watch::Receiver<()>,
}

async fn connection(c: Connection) {
    let Connection {
        stream,
        peer,
        router,
        builder,
        mut shutdown,
        _slot,
        _open,
    } = c;
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().oneshot(request.map(Body::new))
    });
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    let mut conn = std::pin::pin!(conn);
    let result = tokio::select! {
        result = conn.as_mut() => result,
        () = shutdown.wait() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(error = %e, "connection closed with an error");
    }
}
