//! Stored responses (the OpenAI Responses API's `store`): each kept with its own input items and
//! the response it continued (`previous_response_id`), so a conversation is a chain read back in
//! one recursive query and a long one costs storage in proportion to its length, not its square.
//! Next to the request log and bounded by the same retention. One table in both databases; the
//! SQLite side runs on the log's own connections ([`super::native`]).

use sqlx::{AnyPool, Row};

use crate::StoreError;

/// One stored response.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredResponse {
    /// `resp_…`, as the client was given it.
    pub id: String,
    /// Unix ms.
    pub created_at: i64,
    /// The gateway key that made it: only that key may read, continue or delete it.
    pub api_key_id: Option<String>,
    /// The response it continued (`previous_response_id`).
    pub previous: Option<String>,
    /// This request's own input items (earlier turns are in `previous`'s chain), a JSON array.
    pub input: String,
    /// The `response` object, JSON.
    pub response: String,
}

pub(crate) const TABLE_SQL: &str = "CREATE TABLE IF NOT EXISTS stored_responses (
        id TEXT PRIMARY KEY,
        created_at BIGINT NOT NULL,
        api_key_id TEXT,
        previous_id TEXT,
        input TEXT NOT NULL,
        response TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS stored_responses_created ON stored_responses (created_at)";

const UPSERT: &str =
    "INSERT INTO stored_responses (id, created_at, api_key_id, previous_id, input, response)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (id) DO UPDATE SET created_at = excluded.created_at,
        api_key_id = excluded.api_key_id, previous_id = excluded.previous_id,
        input = excluded.input, response = excluded.response";
/// A response and the ones it continued, newest first, at most `$2` of them.
const CHAIN: &str =
    "WITH RECURSIVE chain (id, created_at, api_key_id, previous_id, input, response, depth) AS (
        SELECT id, created_at, api_key_id, previous_id, input, response, 0
        FROM stored_responses WHERE id = $1
        UNION ALL
        SELECT s.id, s.created_at, s.api_key_id, s.previous_id, s.input, s.response, c.depth + 1
        FROM stored_responses s JOIN chain c ON s.id = c.previous_id
        WHERE c.depth + 1 < $2
    )
    SELECT id, created_at, api_key_id, previous_id, input, response FROM chain ORDER BY depth";
const DELETE: &str = "DELETE FROM stored_responses WHERE id = $1";
const DELETE_OLDER: &str = "DELETE FROM stored_responses WHERE created_at < $1";
const COUNT: &str = "SELECT COUNT(*) FROM stored_responses";
const DELETE_OLDEST: &str = "DELETE FROM stored_responses WHERE id IN
    (SELECT id FROM stored_responses ORDER BY created_at, id LIMIT $1)";

/// What retention removes: rows older than `before` (Unix ms), then the oldest beyond `max_rows`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Bound {
    pub before: Option<i64>,
    pub max_rows: Option<u64>,
}

/// The SQLite side (rusqlite, on the log's connections).
pub(crate) mod sqlite {
    use rusqlite::{params, Connection};

    use super::{Bound, StoredResponse};

    fn failed(e: rusqlite::Error) -> String {
        format!("sqlite: {e}")
    }

    pub(crate) fn put(c: &Connection, r: &StoredResponse) -> Result<(), String> {
        c.execute(
            super::UPSERT,
            params![
                r.id,
                r.created_at,
                r.api_key_id,
                r.previous,
                r.input,
                r.response
            ],
        )
        .map(drop)
        .map_err(failed)
    }

    pub(crate) fn chain(
        c: &Connection,
        id: &str,
        max: usize,
    ) -> Result<Vec<StoredResponse>, String> {
        let mut statement = c.prepare_cached(super::CHAIN).map_err(failed)?;
        let rows = statement
            .query_map(params![id, max as i64], |row| {
                Ok(StoredResponse {
                    id: row.get(0)?,
                    created_at: row.get(1)?,
                    api_key_id: row.get(2)?,
                    previous: row.get(3)?,
                    input: row.get(4)?,
                    response: row.get(5)?,
                })
            })
            .map_err(failed)?;
        rows.collect::<Result<_, _>>().map_err(failed)
    }

    pub(crate) fn delete(c: &Connection, id: &str) -> Result<bool, String> {
        c.execute(super::DELETE, [id])
            .map(|n| n > 0)
            .map_err(failed)
    }

    pub(crate) fn enforce(c: &Connection, bound: Bound) -> Result<u64, String> {
        let mut gone = 0;
        if let Some(before) = bound.before {
            gone += c.execute(super::DELETE_OLDER, [before]).map_err(failed)? as u64;
        }
        if let Some(max) = bound.max_rows {
            let n: i64 = c
                .query_row(super::COUNT, [], |r| r.get(0))
                .map_err(failed)?;
            let excess = (n.max(0) as u64).saturating_sub(max);
            if excess > 0 {
                gone += c
                    .execute(super::DELETE_OLDEST, [excess as i64])
                    .map_err(failed)? as u64;
            }
        }
        Ok(gone)
    }
}

/// The PostgreSQL side (sqlx).
pub(crate) mod postgres {
    use super::*;

    fn clean(s: &str) -> String {
        // PostgreSQL text cannot hold NUL
        s.replace('\0', "\u{fffd}")
    }

    pub(crate) async fn put(pool: &AnyPool, r: &StoredResponse) -> Result<(), StoreError> {
        sqlx::query(UPSERT)
            .bind(clean(&r.id))
            .bind(r.created_at)
            .bind(r.api_key_id.as_deref().map(clean))
            .bind(r.previous.as_deref().map(clean))
            .bind(clean(&r.input))
            .bind(clean(&r.response))
            .execute(pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn chain(
        pool: &AnyPool,
        id: &str,
        max: usize,
    ) -> Result<Vec<StoredResponse>, StoreError> {
        let rows = sqlx::query(CHAIN)
            .bind(id)
            .bind(max as i64)
            .fetch_all(pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredResponse {
                    id: row.try_get("id")?,
                    created_at: row.try_get("created_at")?,
                    api_key_id: row.try_get("api_key_id")?,
                    previous: row.try_get("previous_id")?,
                    input: row.try_get("input")?,
                    response: row.try_get("response")?,
                })
            })
            .collect()
    }

    pub(crate) async fn delete(pool: &AnyPool, id: &str) -> Result<bool, StoreError> {
        let done = sqlx::query(DELETE).bind(id).execute(pool).await?;
        Ok(done.rows_affected() > 0)
    }

    pub(crate) async fn enforce(pool: &AnyPool, bound: Bound) -> Result<u64, StoreError> {
        let mut gone = 0;
        if let Some(before) = bound.before {
            gone += sqlx::query(DELETE_OLDER)
                .bind(before)
                .execute(pool)
                .await?
                .rows_affected();
        }
        if let Some(max) = bound.max_rows {
            let n: i64 = sqlx::query_scalar(COUNT).fetch_one(pool).await?;
            let excess = (n.max(0) as u64).saturating_sub(max);
            if excess > 0 {
                gone += sqlx::query(DELETE_OLDEST)
                    .bind(excess as i64)
                    .execute(pool)
                    .await?
                    .rows_affected();
            }
        }
        Ok(gone)
    }
}
