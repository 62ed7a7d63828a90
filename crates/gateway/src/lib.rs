//! The gateway: what happens to a request between the HTTP edge and the provider.
//!
//! The server crate is the edge (request id and clock, authentication, origin checks, body limits,
//! the `cf-aig-*` headers parsed, errors rendered in the caller's dialect). Everything else is
//! [`Gateway::handle`], which takes what the edge parsed (a [`Call`]: an API request, a native
//! passthrough, a universal step list). An API call's life cycle is one function of named steps
//! over one [`RequestContext`]:
//!
//! ```text
//! api         route_auto   `model = "auto"`: the hybrid router picks the tier (or runs the cascade,
//!                          which re-enters `handle` for each tier)
//!             resolve      a dynamic route walked, else the model the body names; the body parsed,
//!                          validated, rewritten or translated for the provider (`prepare`)
//!             authorize    the gateway key meets the model
//!             admit        rate limits; budgets reserve what the request may cost (a ticket)
//!             cache        lookup: a stored answer, an identical call in flight, a similar prompt
//!             forward      the provider called — over HTTP or in process (local models) —
//!                          retried, then the fallbacks; a 2xx checked, translated back
//!             cache        store: the answer kept, followers fed
//!             finish       the reply says who answered, carries the ticket and the routing
//! edge        respond      who answered noted in the context; `observe::record::finish` makes the
//!                          record (log row, metrics, trace, the ticket settled) when the body ends
//! ```
//! Provider-native calls go to `Gateway::native`, the universal endpoint to `Gateway::universal`
//! (both admitted here, forwarded by `passthrough`).
//!
//! # Public API
//! [`Gateway`] with the call, reply and context types ([`ApiRequest`], [`NativeRequest`],
//! [`Reply`], [`ServedNote`], [`RequestContext`]), the error type [`GatewayError`], the
//! in-process provider seam [`InProcess`], the record step ([`observe`]), the key store and
//! stored provider keys ([`control`]), local models ([`local`]); [`tools`] for the CLI. The rest is
//! private, and no file imports another in a circle (`tests/layering.rs`).
//!
//! # Layout (bottom to top)
//! - `api`, `clock`, `error`: which API a client called; time and ids; who failed and why.
//! - `answer`: what an answer says about itself (usage, text) and its JSON ⇄ stream codecs.
//! - `translate`: client dialect ⇄ provider dialect through `switchyard_protocol::dialect`.
//! - `router`, `balance`: model addressing (aliases, `provider/model`, bare names) and load
//!   balancing with a circuit breaker; `call`: a request prepared for its provider.
//! - `relay`: [`ReplyBody`] — buffered JSON, or an upstream stream relayed with an idle timeout.
//! - `usage`, `retry`: stream usage asked for and stripped; retry controls, policy and attempts.
//! - `reply`, `context`: the answer and who served it; the per-request context and its notes.
//! - [`control`]: gateway keys, stored provider keys, rate limits and budgets (ticket).
//! - `cache`: exact and semantic response cache with coalescing; `dynamic`: route graphs.
//! - [`local`], `in_process`, `hybrid`: local models as an in-process provider; `model = "auto"`.
//! - `pipeline`: [`Gateway`] and its steps; `passthrough`, `universal`: native and universal calls.
//! - [`observe`]: the record step — request log, cost, metrics, traces (off the request path).

mod answer;
mod api;
mod balance;
mod cache;
mod call;
mod clock;
mod context;
pub mod control;
mod dynamic;
mod error;
mod hybrid;
mod in_process;
pub mod local;
mod local_speech;
pub mod observe;
mod passthrough;
mod pipeline;
mod relay;
mod reply;
mod retry;
mod router;
mod stored;
mod translate;
mod universal;
mod usage;

// the life cycle: one call in, one reply out, the context it ran in
pub use api::ClientApi;
pub use context::{CallNote, RequestContext};
pub use error::{ErrorOrigin, GatewayError};
pub use in_process::{InProcess, InProcessCall};
pub use passthrough::NativeRequest;
pub use pipeline::{ApiRequest, Call, Gateway};
pub use relay::ReplyBody;
pub use reply::{Reply, Routed, ServedNote};
// what a call carries and what a reply reports
pub use answer::{usage_of, TokenUsage};
pub use cache::{parse_key, CacheControls, CacheStats, CacheStatus, Purge, ResponseCache};
pub use retry::RetryControls;
pub use router::ModelRouter;
pub use stored::ItemsQuery;
pub use universal::redacted_for_log;
pub use usage::UsageSlot;

/// What the command-line tools use besides the gateway: router training and evaluation, token
/// counts.
pub mod tools {
    pub use crate::hybrid::{eval, knn, rules::Signals};
    pub use crate::observe::tokens::count_text;
}

/// Internals the criterion benchmarks measure directly; not an API.
#[doc(hidden)]
pub mod bench {
    pub use crate::cache::semantic::index::{dot, Index, Vector};
    pub use crate::hybrid::{knn, Hybrid};
    pub use crate::observe::finalize::finalize;
    pub use crate::observe::pricing::PriceTable;
}
