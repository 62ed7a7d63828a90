//! The accept loop. Written by hand (rather than `axum::serve`) for four reasons: `TCP_NODELAY` on
//! every accepted socket (otherwise small SSE writes wait for the client's delayed ACK), the edge
//! wrapper around every request, a cap on open connections (past it a new one is answered 503 and
//! closed, never queued), and a graceful shutdown with a bounded grace period.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use switchyard_gateway::observe::Observer;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use crate::edge;

/// How the listener behaves, from `[server]`.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// How long in-flight requests may finish after shutdown begins.
    pub grace: Duration,
    /// Open connections at most.
    pub max_connections: usize,
    /// API requests being handled at most (see [`edge::handle`]).
    pub max_in_flight: usize,
}

impl ServeOptions {
    pub fn new(server: &switchyard_config::ServerConfig) -> Self {
        ServeOptions {
            grace: server.shutdown_grace,
            max_connections: server.max_connections,
            max_in_flight: server.max_in_flight,
        }
    }
}

/// What a connection past the cap gets before it is closed.
const FULL_BODY: &str = "{\"error\":{\"message\":\"the gateway has its maximum of open connections (server.max_connections); retry shortly\",\"type\":\"server_error\",\"code\":\"overloaded\"}}";

fn full_answer() -> Vec<u8> {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{FULL_BODY}",
        FULL_BODY.len()
    )
    .into_bytes()
}

/// Counts a connection open until dropped.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and lets in-flight
/// requests (streams included) finish for up to `options.grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    observer: Option<Arc<Observer>>,
    shutdown: impl Future<Output = ()>,
    options: ServeOptions,
) {
    let grace = options.grace;
    let open = Arc::new(AtomicUsize::new(0));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .keep_alive(true)
        .header_read_timeout(Duration::from_secs(30));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Typically EMFILE; back off briefly instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(%peer, "could not set TCP_NODELAY: {e}");
        }
        if open.fetch_add(1, Ordering::Relaxed) >= options.max_connections {
            open.fetch_sub(1, Ordering::Relaxed);
            if let Some(o) = &observer {
                o.metrics()
                    .refused_connections
                    .fetch_add(1, Ordering::Relaxed);
            }
            tracing::warn!(%peer, "connection refused: {} open (server.max_connections)", options.max_connections);
            let mut stream = stream;
            tokio::spawn(async move {
                let _ =
                    tokio::time::timeout(Duration::from_secs(1), stream.write_all(&full_answer()))
                        .await;
            });
            continue;
        }
        let guard = Open(Arc::clone(&open));
        let router = app.clone();
        let observer = observer.clone();
        let max_in_flight = options.max_in_flight;
        let service = hyper::service::service_fn(move |request| {
            edge::handle(router.clone(), observer.clone(), max_in_flight, request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _open = guard;
            if let Err(e) = connection.await {
                tracing::debug!(%peer, "connection ended with an error: {e}");
            }
        });
    }
    drop(listener);
    tracing::info!(
        "shutting down: no longer accepting; waiting up to {} ms for in-flight requests",
        grace.as_millis()
    );
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections finished"),
        () = tokio::time::sleep(grace) => tracing::warn!("grace period over; closing the remaining connections"),
    }
}
