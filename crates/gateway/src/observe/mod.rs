//! The "record" step: every request becomes a log record, metrics and (optionally) a trace span —
//! off the request path.
//!
//! The edge fills an [`Observation`] (what it saw: timings, status, the reply's provider and model,
//! the captured bodies) when a response ends and hands it to the [`Observer`], which turns it into
//! a [`LogRecord`] right away (usage parsed from the answer while it is still in the cache, cost
//! priced), updates the metrics, and queues it for one writer task that writes rows in batches.
//! Nothing is dropped: a full queue or a failing store spills rows to an append-only file that is
//! replayed into the store; shutdown drains the queue. With the request log off all of this runs
//! but the rows: metrics, traces and the settling of limits and budgets need every answer priced.
//!
//! # Layout
//! - `body`: [`ObservedBody`], the response body wrapper that times and captures the answer.
//! - [`controls`]: the `cf-aig-metadata` / `-collect-log-payload` / `-custom-cost` headers.
//! - [`record`]: [`record::finish`], the one place a request's record is made from its context.
//! - `finalize`: observation → record (usage, cost, estimated tokens).
//! - `pricing`: the price table.
//! - `tokens`: local token counts (tiktoken) when a provider reports none.
//! - `writer`: the queue, the batching writer task, the spill file.
//! - `metrics`: the Prometheus registry.
//! - [`analytics`]: grouped figures over log rows (API and CLI).
//! - `otlp`: OpenTelemetry spans over OTLP/HTTP.

pub mod analytics;
mod body;
pub mod controls;
pub(crate) mod finalize;
mod metrics;
mod otlp;
pub(crate) mod pricing;
pub mod record;
mod spill;
pub(crate) mod tokens;
mod writer;

use std::time::Duration;

use bytes::Bytes;
use switchyard_store::logs::LogRecord;

pub use self::body::ObservedBody;
pub use self::writer::{Observer, FLUSH_BOUND};
pub use crate::context::CallNote;
pub use crate::reply::ServedNote;

/// What the edge saw of one request.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    pub id: String,
    /// The gateway key the request used.
    pub api_key_id: Option<String>,
    /// Unix ms when the request arrived.
    pub received_ms: i64,
    pub method: String,
    pub path: String,
    /// The route template, for metrics labels.
    pub route: &'static str,
    pub user_agent: Option<String>,
    /// W3C `traceparent` of the incoming request.
    pub traceparent: Option<String>,
    pub status: u16,
    pub error: Option<String>,
    pub call: Option<CallNote>,
    pub served: Option<ServedNote>,
    /// From arrival to the response head, to the first body byte, and to the end.
    pub head: Duration,
    pub first_byte: Option<Duration>,
    pub total: Duration,
    /// The answer as sent (up to the payload cap), and its last bytes when longer (usage sits
    /// at the end of streams).
    pub response_head: Vec<Bytes>,
    pub response_tail: Vec<Bytes>,
    pub response_bytes: u64,
    /// The client went away before the answer ended.
    pub aborted: bool,
}

/// A finished record plus the facts the metrics need that the row does not keep.
#[derive(Default)]
pub struct Finished {
    pub record: LogRecord,
    pub route: &'static str,
    pub traceparent: Option<String>,
    /// The bodies to store, when they are kept apart from the record ([`Bodies::Apart`]).
    pub payload: Payload,
}

/// Where a finished record's bodies go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bodies {
    /// Into the record's `request_body` / `response_body` strings.
    Text,
    /// Into [`Finished::payload`], as the request's and answer's own buffers (the SQLite log
    /// packs them straight into its block: no copy into strings, no UTF-8 pass).
    Apart,
}

/// The bodies a record stores, not yet cut to the payload cap.
#[derive(Debug, Default)]
pub struct Payload {
    pub request: Option<Bytes>,
    /// The answer's kept head, in the chunks it came in.
    pub response: Option<Vec<Bytes>>,
}
