//! The HTTP edge of Switchyard.
//!
//! # Layout
//! - [`app`]: `fn app(state) -> Router`, every route in one place (testable with `oneshot`).
//! - [`routes`]: handlers per dialect (`openai`) plus health.
//! - [`edge`]: what wraps every request: a request id, `server-timing`, the access log line, and a
//!   caught panic turned into a 500.
//! - [`guard`]: the admin token and gateway keys, a layer in front of every route.
//! - [`origin`]: what web pages may do — loopback `Host` only, allowed origins with CORS, JSON
//!   bodies — a layer in front of the guard.
//! - [`body`]: reading request bodies within `max_body_bytes` (413 without reading the rest).
//! - [`record`]: the edge's part of the request log: arrival facts, the observed response body.
//! - [`render`]: [`switchyard_gateway::GatewayError`] → HTTP response in the caller's dialect.
//! - [`listener`]: the accept loop: `TCP_NODELAY`, HTTP/1.1 keep-alive, graceful shutdown.
//! - [`state`]: [`AppState`], shared by handlers.

pub mod app;
pub mod body;
pub mod edge;
pub mod guard;
pub mod listener;
pub mod origin;
pub mod record;
pub mod render;
pub mod routes;
pub mod state;

pub use app::app;
pub use listener::{serve, ServeOptions};
pub use state::AppState;
