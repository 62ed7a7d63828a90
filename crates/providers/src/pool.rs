//! Upstream connections: a small keep-alive pool of HTTP/1.1 connections, each driven *in the task
//! that uses it*.
//!
//! hyper's pooled client spawns a task per connection and hands body chunks to the request's task
//! through a channel, so every SSE event costs two task switches and its own write to the client.
//! Here a checked-out connection is polled by the request's own task — while waiting for the
//! response headers and while relaying the body — so all the chunks that one read brings in are
//! decoded and handed on in a single pass, and the server side writes them with one syscall. HTTP
//! parsing and framing remain hyper's.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Uri;
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper_rustls::{HttpsConnector, MaybeHttpsStream};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use tower_service::Service;

type Io = MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>;
pub(crate) type Connector = HttpsConnector<HttpConnector>;

/// Idle connections older than this are closed rather than reused (servers commonly drop idle
/// keep-alive connections after 60–120 s).
const IDLE_TIMEOUT: Duration = Duration::from_secs(55);
const MAX_IDLE: usize = 256;

/// One HTTP/1.1 connection: the handle that sends requests and the state machine that drives I/O.
pub(crate) struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    driver: Pin<Box<http1::Connection<Io, Full<Bytes>>>>,
    /// The driver finished: the connection is closed (cleanly or not).
    closed: bool,
    /// Came from the pool (so it may have been closed by the server while idle).
    pub(crate) reused: bool,
    idle_since: Instant,
}

impl Conn {
    /// Drives the connection's I/O; call before polling anything that depends on it.
    pub(crate) fn drive(&mut self, cx: &mut Context<'_>) {
        if !self.closed && self.driver.as_mut().poll(cx).is_ready() {
            self.closed = true;
        }
    }

    /// Waits until the connection can take a request. `false` if it turned out to be closed.
    pub(crate) async fn ready(&mut self) -> bool {
        std::future::poll_fn(|cx| {
            self.drive(cx);
            if self.closed {
                return Poll::Ready(false);
            }
            self.sender.poll_ready(cx).map(|r| r.is_ok())
        })
        .await
    }

    /// Sends a request and drives the connection until the response headers arrive.
    pub(crate) async fn send(
        &mut self,
        request: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<hyper::body::Incoming>, hyper::Error> {
        let response = self.sender.send_request(request);
        let mut response = std::pin::pin!(response);
        std::future::poll_fn(|cx| {
            self.drive(cx);
            response.as_mut().poll(cx)
        })
        .await
    }
}

/// The idle connections to one provider, newest last (LIFO keeps the warmest ones busy).
pub(crate) struct Pool {
    connector: Connector,
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    pub(crate) fn new(connector: Connector) -> Arc<Self> {
        Arc::new(Pool {
            connector,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The most recently used idle connection that is still fresh.
    pub(crate) fn checkout(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(mut conn) = idle.pop() {
            if conn.idle_since.elapsed() < IDLE_TIMEOUT && !conn.closed {
                conn.reused = true;
                return Some(conn);
            }
        }
        None
    }

    /// Returns a connection whose exchange completed, for the next request.
    pub(crate) fn checkin(&self, mut conn: Conn) {
        if conn.closed {
            return;
        }
        conn.idle_since = Instant::now();
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < MAX_IDLE {
                idle.push(conn);
            }
        }
    }

    /// Opens a new connection (TCP, TLS for https) and performs the HTTP/1.1 handshake.
    pub(crate) async fn connect(&self, origin: &Uri) -> Result<Conn, ConnectError> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|e| ConnectError(e.to_string()))?;
        let io = connector
            .call(origin.clone())
            .await
            .map_err(|e| ConnectError(crate::provider::error_chain(&*e)))?;
        let (sender, driver) = http1::Builder::new()
            .handshake(io)
            .await
            .map_err(|e| ConnectError(e.to_string()))?;
        Ok(Conn {
            sender,
            driver: Box::pin(driver),
            closed: false,
            reused: false,
            idle_since: Instant::now(),
        })
    }
}

/// Why a new connection could not be opened.
#[derive(Debug)]
pub(crate) struct ConnectError(pub(crate) String);
