//! The accept loop. Written by hand (rather than `axum::serve`) for three reasons: `TCP_NODELAY` on
//! every accepted socket (otherwise small SSE writes wait for the client's delayed ACK), the edge
//! wrapper around every request, and a graceful shutdown with a bounded grace period.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use switchyard_gateway::observe::Observer;
use tokio::net::TcpListener;

use crate::edge;

/// Serves `app` on `listener` until `shutdown` resolves, then stops accepting and lets in-flight
/// requests (streams included) finish for up to `grace`.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    observer: Option<Arc<Observer>>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) {
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
        let router = app.clone();
        let observer = observer.clone();
        let service = hyper::service::service_fn(move |request| {
            edge::handle(router.clone(), observer.clone(), request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
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
