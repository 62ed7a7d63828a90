//! The HTTP edge of Switchyard: edge concerns only. A request gets its id, clock and context,
//! passes the origin checks and authentication, has its body read within limits and its `cf-aig-*`
//! headers parsed, and goes to `Gateway::handle` as a `Call`; the reply (or error, rendered in the
//! caller's dialect) goes back, and `observe::record::finish` records it. Admission, key checks,
//! BYOK, routing, caching and translation all live in the gateway.
//!
//! # Layout
//! - [`app`]: `fn app(state) -> Router`, every route in one place (testable with `oneshot`).
//! - [`routes`]: handlers per API shape — OpenAI (`openai`), Anthropic (`anthropic`), provider-native
//!   and Cloudflare's URL shapes (`native`), Workers AI's `/ai/run` (`workers_ai`) — sharing
//!   `call`; the admin API (`admin`, `keys`, `secrets`, `logs`) and health.
//! - [`edge`]: what wraps every request: a request id, `server-timing`, the access log line, and a
//!   caught panic turned into a 500.
//! - [`guard`]: the admin token and gateway keys, a layer in front of every route.
//! - [`origin`]: what web pages may do — loopback `Host` only, allowed origins with CORS, JSON
//!   bodies — a layer in front of the guard.
//! - [`body`]: reading request bodies within `max_body_bytes` (413 without reading the rest).
//! - [`record`]: the edge's part of the record step: arrival facts, the `cf-aig-log-id` header,
//!   the response handed to the gateway's `observe::record::finish`.
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
