//! The request log: one row per request, in SQLite (default, a WAL file) or PostgreSQL (shared by
//! replicas), through sqlx's `Any` driver so both run the same SQL.
//!
//! # Layout
//! - this file: [`LogRecord`], [`LogFilter`], [`LogPatch`].
//! - [`db`]: [`LogStore`] — schema migrations, batch inserts, queries, retention.
//! - [`native`]: the SQLite insert path (a dedicated thread, one statement per batch).
//! - [`filter`]: a filter → SQL `WHERE` clause with numbered parameters.

mod db;
mod filter;
mod native;

use serde::{Deserialize, Serialize};

pub use self::db::{LogStore, Retention, RetentionMode};

/// One request, as stored and as `GET /api/logs` returns it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogRecord {
    /// UUIDv7 (sorts by arrival); returned to the client as `cf-aig-log-id`.
    pub id: String,
    /// When the request arrived (Unix ms) and when its answer ended.
    pub created_at: i64,
    pub finished_at: i64,
    pub api_key_id: Option<String>,
    /// `openai` | `anthropic` | `native`.
    pub dialect: String,
    pub method: String,
    pub path: String,
    /// The route template (`/v1/chat/completions`, `/{provider}/{*rest}`).
    pub route: String,
    pub provider: Option<String>,
    /// The model the client asked for, and the upstream model that answered.
    pub requested_model: Option<String>,
    pub model: Option<String>,
    pub status: i64,
    pub success: bool,
    pub cached: bool,
    /// `hit` | `coalesced` | `miss` | `bypass` when the cache took part.
    pub cache_status: Option<String>,
    /// Index of the step (fallback / universal endpoint) that answered.
    pub step: i64,
    pub stream: bool,
    pub input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub cached_input_tokens: Option<i64>,
    pub reasoning_tokens: Option<i64>,
    /// The token figures were counted locally, not reported by the provider.
    pub tokens_estimated: bool,
    /// USD from the pricing table; `None` when the model has no price (never a guess). 0 on hits.
    pub cost_usd: Option<f64>,
    /// `cf-aig-custom-cost`, when the client set one.
    pub custom_cost_usd: Option<f64>,
    /// On cache hits: what the answer cost when it was first made.
    pub saved_cost_usd: Option<f64>,
    pub duration_ms: f64,
    pub ttft_ms: Option<f64>,
    pub upstream_ms: Option<f64>,
    pub overhead_ms: Option<f64>,
    /// `cf-aig-metadata`: a flat JSON object of at most 5 entries.
    pub metadata: Option<String>,
    pub user_agent: Option<String>,
    pub error: Option<String>,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    /// +1 / −1 from `PATCH /api/logs/{id}`.
    pub feedback: Option<i64>,
    pub score: Option<f64>,
}

/// What `GET /api/logs`, `DELETE /api/logs` and analytics select.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogFilter {
    /// Unix ms, inclusive / exclusive.
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub provider: Option<String>,
    pub model: Option<String>,
    pub status: Option<i64>,
    pub success: Option<bool>,
    pub cached: Option<bool>,
    /// `key=value` on `cf-aig-metadata`.
    pub metadata: Option<String>,
    pub min_cost: Option<f64>,
    /// Cursor: only rows older than this id (the `next` of the previous page).
    pub before: Option<String>,
}

/// `PATCH /api/logs/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogPatch {
    pub feedback: Option<i64>,
    pub score: Option<f64>,
    /// Replaces the metadata (a flat object, as `cf-aig-metadata`).
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}
