//! The request-log schema: versioned migrations per database, and the column list.
//!
//! PostgreSQL keeps one row per request keyed by its id (replicas share it). SQLite is laid out
//! for the single writer of an embedded log. Version 2 keyed rows by `seq` — the top 60 bits of
//! the gateway's UUIDv7 ids ([`super::seq_of`]) — with bodies out of line in compressed blocks;
//! version 3 packs the rows themselves into blocks too ([`super::rowblocks`]): one table row per
//! writer batch, indexed by its span of row keys. The rows of a version-2 table are moved into
//! blocks in code when the store opens (`rowblocks::upgrade_v2`).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Sqlite,
    Postgres,
}

/// One schema version: the SQL for each database (`;`-separated statements, applied once).
pub(crate) struct Migration {
    pub version: i64,
    pub sqlite: &'static str,
    pub postgres: &'static str,
}

const V1: &str = "CREATE TABLE IF NOT EXISTS request_logs (
        id TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL,
        finished_at BIGINT NOT NULL,
        api_key_id TEXT,
        dialect TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        route TEXT NOT NULL,
        provider TEXT,
        requested_model TEXT,
        model TEXT,
        status BIGINT NOT NULL,
        success BIGINT NOT NULL,
        cached BIGINT NOT NULL,
        cache_status TEXT,
        step BIGINT NOT NULL,
        stream BIGINT NOT NULL,
        input_tokens BIGINT,
        output_tokens BIGINT,
        cached_input_tokens BIGINT,
        reasoning_tokens BIGINT,
        tokens_estimated BIGINT NOT NULL,
        cost_usd DOUBLE PRECISION,
        custom_cost_usd DOUBLE PRECISION,
        saved_cost_usd DOUBLE PRECISION,
        duration_ms DOUBLE PRECISION NOT NULL,
        ttft_ms DOUBLE PRECISION,
        upstream_ms DOUBLE PRECISION,
        overhead_ms DOUBLE PRECISION,
        metadata TEXT,
        user_agent TEXT,
        error TEXT,
        request_body TEXT,
        response_body TEXT,
        feedback BIGINT,
        score DOUBLE PRECISION
    );
    CREATE INDEX IF NOT EXISTS request_logs_created ON request_logs (created_at);
    CREATE INDEX IF NOT EXISTS request_logs_model ON request_logs (provider, model)";

/// SQLite: `seq` as the row key (rowid), no secondary indexes, bodies in blocks. Existing rows
/// get `seq` from their arrival ms and their order within it, and keep their inline bodies.
const V2_SQLITE: &str = "CREATE TABLE request_logs_v2 (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        finished_at BIGINT NOT NULL,
        api_key_id TEXT,
        dialect TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        route TEXT NOT NULL,
        provider TEXT,
        requested_model TEXT,
        model TEXT,
        status BIGINT NOT NULL,
        success BIGINT NOT NULL,
        cached BIGINT NOT NULL,
        cache_status TEXT,
        step BIGINT NOT NULL,
        stream BIGINT NOT NULL,
        input_tokens BIGINT,
        output_tokens BIGINT,
        cached_input_tokens BIGINT,
        reasoning_tokens BIGINT,
        tokens_estimated BIGINT NOT NULL,
        cost_usd DOUBLE PRECISION,
        custom_cost_usd DOUBLE PRECISION,
        saved_cost_usd DOUBLE PRECISION,
        duration_ms DOUBLE PRECISION NOT NULL,
        ttft_ms DOUBLE PRECISION,
        upstream_ms DOUBLE PRECISION,
        overhead_ms DOUBLE PRECISION,
        metadata TEXT,
        user_agent TEXT,
        error TEXT,
        request_body TEXT,
        response_body TEXT,
        feedback BIGINT,
        score DOUBLE PRECISION,
        body_block BIGINT,
        body_at BIGINT
    );
    INSERT INTO request_logs_v2 (seq, id, created_at, finished_at, api_key_id, dialect, method, path, route, provider, requested_model, model, status, success, cached, cache_status, step, stream, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, tokens_estimated, cost_usd, custom_cost_usd, saved_cost_usd, duration_ms, ttft_ms, upstream_ms, overhead_ms, metadata, user_agent, error, request_body, response_body, feedback, score)
        SELECT created_at * 4096 + ROW_NUMBER() OVER (PARTITION BY created_at ORDER BY id) - 1,
        id, created_at, finished_at, api_key_id, dialect, method, path, route, provider, requested_model, model, status, success, cached, cache_status, step, stream, input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, tokens_estimated, cost_usd, custom_cost_usd, saved_cost_usd, duration_ms, ttft_ms, upstream_ms, overhead_ms, metadata, user_agent, error, request_body, response_body, feedback, score
        FROM request_logs;
    DROP TABLE request_logs;
    ALTER TABLE request_logs_v2 RENAME TO request_logs;
    CREATE TABLE IF NOT EXISTS request_log_bodies (
        block INTEGER PRIMARY KEY,
        first_seq BIGINT NOT NULL,
        last_seq BIGINT NOT NULL,
        data BLOB NOT NULL
    )";

/// SQLite: row blocks. `first_seq`/`last_seq` span the row keys in a block and
/// `first_at`/`last_at` their `created_at`; the index serves both "blocks after a key, newest
/// first" and "blocks holding a key".
const V3_SQLITE: &str = "CREATE TABLE IF NOT EXISTS request_log_blocks (
        block INTEGER PRIMARY KEY,
        first_seq BIGINT NOT NULL,
        last_seq BIGINT NOT NULL,
        first_at BIGINT NOT NULL,
        last_at BIGINT NOT NULL,
        n_rows BIGINT NOT NULL,
        rows BLOB NOT NULL,
        bodies BLOB
    );
    CREATE INDEX IF NOT EXISTS request_log_blocks_span ON request_log_blocks (last_seq, first_seq);
    CREATE INDEX IF NOT EXISTS request_log_blocks_first ON request_log_blocks (first_seq)";

/// Schema versions, in order.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        sqlite: V1,
        postgres: V1,
    },
    Migration {
        version: 2,
        sqlite: V2_SQLITE,
        postgres: "",
    },
    Migration {
        version: 3,
        sqlite: V3_SQLITE,
        postgres: "",
    },
    Migration {
        version: 4,
        sqlite: super::responses::TABLE_SQL,
        postgres: super::responses::TABLE_SQL,
    },
];

/// Every column, in insert order.
pub(crate) const COLUMNS: &[&str] = &[
    "id",
    "created_at",
    "finished_at",
    "api_key_id",
    "dialect",
    "method",
    "path",
    "route",
    "provider",
    "requested_model",
    "model",
    "status",
    "success",
    "cached",
    "cache_status",
    "step",
    "stream",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "reasoning_tokens",
    "tokens_estimated",
    "cost_usd",
    "custom_cost_usd",
    "saved_cost_usd",
    "duration_ms",
    "ttft_ms",
    "upstream_ms",
    "overhead_ms",
    "metadata",
    "user_agent",
    "error",
    "request_body",
    "response_body",
    "feedback",
    "score",
];

/// The PostgreSQL type of each column, for explicit parameter casts: a NULL is sent untyped, and
/// in a multi-row `VALUES` list PostgreSQL would otherwise resolve such a parameter as `text` and
/// then reject the same statement when it carries a number.
pub(crate) fn pg_type(column: &str) -> &'static str {
    match column {
        "created_at"
        | "finished_at"
        | "status"
        | "success"
        | "cached"
        | "step"
        | "stream"
        | "input_tokens"
        | "output_tokens"
        | "cached_input_tokens"
        | "reasoning_tokens"
        | "tokens_estimated"
        | "feedback" => "BIGINT",
        "cost_usd" | "custom_cost_usd" | "saved_cost_usd" | "duration_ms" | "ttft_ms"
        | "upstream_ms" | "overhead_ms" | "score" => "DOUBLE PRECISION",
        _ => "TEXT",
    }
}
