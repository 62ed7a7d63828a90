//! The request log: one record per request, in SQLite (default, a WAL file) or PostgreSQL (shared
//! by replicas).
//!
//! # Layout
//! - this file: [`LogRecord`], [`LogFilter`], [`LogPatch`].
//! - [`schema`]: versioned migrations (the SQLite and PostgreSQL layouts) and the column list.
//! - [`db`]: [`LogStore`] — opening, migrating, and the calls each backend answers.
//! - [`postgres`]: one row per request through sqlx; filters as SQL.
//! - [`sqlite`]: rows packed in compressed blocks; [`rowblocks`] its operations, [`codec`] the
//!   rows' encoding, [`blocks`] the bodies', [`native`] its writer thread and reader connection.
//! - [`filter`]: a filter → SQL `WHERE` clause, or a row matcher.
//! - [`responses`]: stored responses (the Responses API's `store`), in the same database.

mod blocks;
mod codec;
mod db;
mod filter;
mod native;
mod packed;
mod postgres;
mod responses;
mod rowblocks;
mod schema;
mod sqlite;

use serde::{Deserialize, Serialize};

pub use self::db::{LogStore, Retention, RetentionMode};
pub use self::packed::PackedRows;
pub use self::responses::StoredResponse;

/// The SQLite row key of a gateway log id: the top 60 bits of its UUIDv7 (48 bits of Unix ms and
/// the 12-bit counter the gateway puts in `rand_a`), unique per process and increasing with time.
/// `None` for anything else.
pub fn seq_of(id: &str) -> Option<i64> {
    let b = id.as_bytes();
    if b.len() != 36 || b[8] != b'-' || b[13] != b'-' || b[14] != b'7' || b[18] != b'-' {
        return None;
    }
    let hex = |s: &str| u64::from_str_radix(s, 16).ok();
    let ms = hex(id.get(0..8)?)? << 16 | hex(id.get(9..13)?)?;
    let counter = hex(id.get(15..18)?)?;
    Some((ms << 12 | counter) as i64)
}

/// [`seq_of`] of an id's 128 bits (`None` unless it is a UUIDv7).
pub(crate) fn seq_of_value(id: u128) -> Option<i64> {
    let hi = (id >> 64) as u64;
    // 48 bits of ms, the version nibble, 12 bits of counter
    (hi >> 12 & 0xf == 7).then_some(((hi >> 16) << 12 | (hi & 0xfff)) as i64)
}

/// `seq` of the first id of Unix ms `ms`.
pub(crate) fn seq_at_ms(ms: i64) -> i64 {
    ms.max(0) << 12
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_of_reads_ms_and_counter() {
        assert_eq!(
            seq_of("01900000-0001-7abc-8000-000000000000"),
            Some(((0x0190_0000_0001_i64) << 12) | 0xabc)
        );
        assert_eq!(seq_of("01900000-0001-4abc-8000-000000000000"), None, "v4");
        assert_eq!(seq_of("0190-00000001"), None);
        assert_eq!(seq_of("0190000g-0001-7abc-8000-000000000000"), None);
    }

    #[test]
    fn an_ids_value_gives_the_same_seq() {
        let id = "01900000-0001-7abc-8000-0000000000ff";
        let v = codec::uuid_value(id).unwrap();
        assert_eq!(v, 0x01900000_0001_7abc_8000_0000000000ff);
        assert_eq!(seq_of_value(v), seq_of(id));
        let v4 = codec::uuid_value("01900000-0001-4abc-8000-000000000000").unwrap();
        assert_eq!(seq_of_value(v4), None);
        for bad in [
            "01900000-0001-7ABC-8000-000000000000",
            "0190000g-0001-7abc-8000-000000000000",
            "01900000-0001-7abc-8000-00000000000",
            "01900000x0001-7abc-8000-000000000000",
        ] {
            assert_eq!(codec::uuid_value(bad), None, "{bad}");
        }
    }
}
