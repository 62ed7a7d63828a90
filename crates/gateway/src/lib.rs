//! The gateway pipeline: what happens to a request between the HTTP edge and the provider.
//!
//! Where one API call goes today (the server crate is the edge: request id, authentication in
//! its `guard`, origin checks, the body read and the controls parsed in `routes/call.rs`):
//!
//! ```text
//! Gateway::handle   hybrid routing (`model = "auto"`: which tier, or the cascade)
//!  └ serve          route: a dynamic route walked, else `prepare` (parse, resolve the model,
//!                   rewrite or translate the body) ─► the key meets the model ─► admit
//!                   (limits; budgets reserve their estimate)
//!     └ answer      cache: plan the key, look up, coalesce onto an identical call in flight
//!        └ forward  the provider called, retried, then the alias's fallbacks (`with_retries`,
//!                   `call_and_translate`: a 2xx checked to be an answer, translated back)
//! edge              the reply rendered; `observe::finalize` prices it, settles the ticket,
//!                   writes the log row, metrics and trace once the body has gone out
//! ```
//! Provider-native calls enter at [`Gateway::native`], the universal endpoint at
//! [`Gateway::universal`] (both admitted here, forwarded by [`passthrough`]). Issue 22 gives
//! this life cycle one owner: one function of named steps, one per-request context.
//!
//! # Layout
//! - [`balance`]: load balancing over an alias's deployments, with a circuit breaker.
//! - [`router`]: model addressing — `provider/model`, `[[models]]` aliases, bare declared names.
//! - [`pipeline`]: [`Gateway`] and `handle`, the life cycle; `verify`, a 2xx checked to be the
//!   answer it claims to be.
//! - [`relay`]: [`ReplyBody`], the response body: buffered JSON, or an upstream SSE stream relayed
//!   chunk by chunk with an idle timeout and a clean error event if the upstream breaks.
//! - [`observe`]: the record step — request log, cost, metrics, traces (off the request path).
//! - [`error`]: [`GatewayError`]: who failed (client / upstream / internal), whether a retry could
//!   help, and what to tell the caller.
//! - [`passthrough`]: provider-native requests (`/{provider}/…`) admitted (what can be metered is
//!   priced by its usage) and forwarded with credentials injected.
//! - [`cache`]: the response cache — exact keys, stream-aware replay, coalescing, any backend.
//! - [`context`]: [`RequestContext`], per-request identity and clocks.
//! - [`control`]: gateway API keys and the admin token (who may call what), stored provider keys,
//!   rate limits and budgets (reserved at admission, settled by a ticket).
//! - [`retry`]: retry/fallback controls and policy, and the record of failed attempts.
//! - [`usage`]: asking OpenAI-family providers for stream usage, and stripping it for clients.
//! - [`dynamic`]: dynamic routes (`dynamic/NAME`), node graphs walked per request.
//! - [`hybrid`]: `model = "auto"` — local tier unless a rule escalates; `router eval`.
//! - [`local`]: the local runtime as a provider: `[[models]]` with a `source` become runtime
//!   models; calls to provider `local` are answered in-process.
//! - [`universal`]: the universal endpoint — provider-native steps tried in order.
//! - [`translate`]: client dialect ⇄ provider dialect through the canonical model (only when they
//!   differ), including the streaming [`translate::Transcoder`].

pub mod answer;
pub mod api;
pub mod balance;
pub mod cache;
pub mod call;
pub mod clock;
pub mod context;
pub mod control;
pub mod dynamic;
pub mod error;
pub mod hybrid;
pub mod in_process;
pub mod local;
pub mod observe;
pub mod passthrough;
pub mod pipeline;
pub mod relay;
pub mod reply;
pub mod retry;
pub mod router;
pub mod translate;
pub mod universal;
pub mod usage;

pub use api::ClientApi;
pub use cache::{CacheControls, CacheStatus, ResponseCache};
pub use context::RequestContext;
pub use error::{ErrorOrigin, GatewayError};
pub use in_process::{InProcess, InProcessCall};
pub use passthrough::NativeRequest;
pub use pipeline::{ApiRequest, Gateway};
pub use relay::ReplyBody;
pub use reply::Reply;
pub use router::{ModelRouter, Route};
