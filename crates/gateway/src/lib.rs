//! The gateway pipeline: what happens to a request between the HTTP edge and the provider.
//!
//! ```text
//! parse+validate ─► authenticate ─► rate-limit/budget ─► cache lookup ─► route
//!     ─► call provider ─► translate back ─► record
//! ```
//! [`Gateway::handle`] is that life cycle in one function; each step is a named call. Steps that
//! later work adds (auth, limits, cache, fallbacks) slot in there.
//!
//! # Layout
//! - [`balance`]: load balancing over an alias's deployments, with a circuit breaker.
//! - [`router`]: model addressing — `provider/model`, `[[models]]` aliases, bare declared names.
//! - [`pipeline`]: [`Gateway`] and `handle`, the life cycle.
//! - [`relay`]: [`ReplyBody`], the response body: buffered JSON, or an upstream SSE stream relayed
//!   chunk by chunk with an idle timeout and a clean error event if the upstream breaks.
//! - [`observe`]: the record step — request log, cost, metrics, traces (off the request path).
//! - [`error`]: [`GatewayError`]: who failed (client / upstream / internal), whether a retry could
//!   help, and what to tell the caller.
//! - [`passthrough`]: provider-native requests (`/{provider}/…`) forwarded with credentials injected.
//! - [`cache`]: the response cache — exact keys, stream-aware replay, coalescing, any backend.
//! - [`context`]: [`RequestContext`], per-request identity and clocks.
//! - [`control`]: gateway API keys and the admin token (who may call what).
//! - [`retry`]: retry/fallback controls and policy, and the record of failed attempts.
//! - [`usage`]: asking OpenAI-family providers for stream usage, and stripping it for clients.
//! - [`dynamic`]: dynamic routes (`dynamic/NAME`), node graphs walked per request.
//! - [`hybrid`]: `model = "auto"` — local tier unless a rule escalates; `router eval`.
//! - [`local`]: the local runtime as a provider: `[[models]]` with a `source` become runtime
//!   models; calls to provider `local` are answered in-process.
//! - [`universal`]: the universal endpoint — provider-native steps tried in order.
//! - [`translate`]: client dialect ⇄ provider dialect through the canonical model (only when they
//!   differ), including the streaming [`translate::Transcoder`].

pub mod balance;
pub mod cache;
pub mod context;
pub mod control;
pub mod dynamic;
pub mod error;
pub mod hybrid;
pub mod local;
pub mod observe;
pub mod passthrough;
pub mod pipeline;
pub mod relay;
pub mod retry;
pub mod router;
pub mod translate;
pub mod universal;
pub mod usage;

pub use cache::{CacheControls, CacheStatus, ResponseCache};
pub use context::RequestContext;
pub use error::{ErrorOrigin, GatewayError};
pub use passthrough::NativeRequest;
pub use pipeline::{ApiRequest, ClientApi, Gateway, Reply};
pub use relay::ReplyBody;
pub use router::{ModelRouter, Route};
