//! The PostgreSQL request log (shared by replicas): one row per request keyed by its id, through
//! sqlx, filters as SQL.

use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::db::Retention;
use super::filter::{self, Arg};
use super::schema::{pg_type, COLUMNS};
use super::{LogFilter, LogPatch, LogRecord};
use crate::StoreError;

/// Rows per INSERT statement: one unnamed statement carries many rows, so PostgreSQL parses
/// once per 100 rows.
const ROWS_PER_STATEMENT: usize = 100;

pub(crate) struct PgLog {
    pub pool: AnyPool,
}

/// The database refused a row's data — SQLSTATE class 22 (data exception: a value it cannot
/// hold) or 23 (integrity constraint) — as opposed to failing for every row alike (connection,
/// missing table, resources), which is worth retrying.
fn refused_by_database(e: &StoreError) -> bool {
    let StoreError::Database(sqlx::Error::Database(db)) = e else {
        return false;
    };
    db.code()
        .is_some_and(|c| c.starts_with("22") || c.starts_with("23"))
}

/// `r` with NUL characters (which PostgreSQL text cannot hold) replaced by U+FFFD; borrowed
/// unchanged when it has none (nearly always).
fn without_nul(r: &LogRecord) -> std::borrow::Cow<'_, LogRecord> {
    let has = |s: &Option<String>| s.as_deref().is_some_and(|s| s.contains('\0'));
    let fields = [
        &r.request_body,
        &r.response_body,
        &r.error,
        &r.metadata,
        &r.user_agent,
        &r.requested_model,
        &r.model,
        &r.provider,
        &r.api_key_id,
        &r.cache_status,
    ];
    if !fields.into_iter().any(has)
        && ![&r.path, &r.route, &r.method, &r.dialect, &r.id]
            .iter()
            .any(|s| s.contains('\0'))
    {
        return std::borrow::Cow::Borrowed(r);
    }
    let clean = |s: &Option<String>| s.as_ref().map(|s| s.replace('\0', "\u{fffd}"));
    std::borrow::Cow::Owned(LogRecord {
        request_body: clean(&r.request_body),
        response_body: clean(&r.response_body),
        error: clean(&r.error),
        metadata: clean(&r.metadata),
        user_agent: clean(&r.user_agent),
        requested_model: clean(&r.requested_model),
        model: clean(&r.model),
        provider: clean(&r.provider),
        api_key_id: clean(&r.api_key_id),
        cache_status: clean(&r.cache_status),
        path: r.path.replace('\0', "\u{fffd}"),
        route: r.route.replace('\0', "\u{fffd}"),
        method: r.method.replace('\0', "\u{fffd}"),
        dialect: r.dialect.replace('\0', "\u{fffd}"),
        id: r.id.replace('\0', "\u{fffd}"),
        ..r.clone()
    })
}

impl PgLog {
    /// Writes `rows` in one transaction (multi-row INSERTs); a row whose id exists is skipped,
    /// so replaying a spill file twice stores nothing twice.
    pub(crate) async fn insert(&self, rows: &[LogRecord]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let mut sql = format!("INSERT INTO request_logs ({}) VALUES ", COLUMNS.join(", "));
            let mut n = 0;
            for (i, _) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(',');
                }
                sql.push('(');
                for (c, column) in COLUMNS.iter().enumerate() {
                    if c > 0 {
                        sql.push(',');
                    }
                    n += 1;
                    sql.push('$');
                    sql.push_str(&n.to_string());
                    sql.push_str("::");
                    sql.push_str(pg_type(column));
                }
                sql.push(')');
            }
            sql.push_str(" ON CONFLICT (id) DO NOTHING");
            // unnamed statements: sqlx declares a NULL's parameter type from the `Any` value,
            // which need not be the column's; a cached statement prepared with a NULL in some
            // column would then reject a number there on a later row
            let mut q = sqlx::query(&sql).persistent(false);
            for r in chunk {
                let r = &*without_nul(r);
                q = q
                    .bind(r.id.clone())
                    .bind(r.created_at)
                    .bind(r.finished_at)
                    .bind(r.api_key_id.clone())
                    .bind(r.dialect.clone())
                    .bind(r.method.clone())
                    .bind(r.path.clone())
                    .bind(r.route.clone())
                    .bind(r.provider.clone())
                    .bind(r.requested_model.clone())
                    .bind(r.model.clone())
                    .bind(r.status)
                    .bind(i64::from(r.success))
                    .bind(i64::from(r.cached))
                    .bind(r.cache_status.clone())
                    .bind(r.step)
                    .bind(i64::from(r.stream))
                    .bind(r.input_tokens)
                    .bind(r.output_tokens)
                    .bind(r.cached_input_tokens)
                    .bind(r.reasoning_tokens)
                    .bind(i64::from(r.tokens_estimated))
                    .bind(r.cost_usd)
                    .bind(r.custom_cost_usd)
                    .bind(r.saved_cost_usd)
                    .bind(r.duration_ms)
                    .bind(r.ttft_ms)
                    .bind(r.upstream_ms)
                    .bind(r.overhead_ms)
                    .bind(r.metadata.clone())
                    .bind(r.user_agent.clone())
                    .bind(r.error.clone())
                    .bind(r.request_body.clone())
                    .bind(r.response_body.clone())
                    .bind(r.feedback)
                    .bind(r.score);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Writes `rows`; when the batch fails on a row the database refuses (its data, rather than
    /// the database being unreachable or the table wrong), writes them one by one and returns
    /// the ones it refused, to be set aside — one bad row never costs the batch, nor blocks the
    /// rows after it. Any other failure gives every unwritten row back, to be retried.
    pub(crate) async fn insert_salvaging(
        &self,
        rows: Vec<LogRecord>,
    ) -> Result<Vec<LogRecord>, (StoreError, Vec<LogRecord>)> {
        match self.insert(&rows).await {
            Ok(()) => return Ok(Vec::new()),
            Err(e) if refused_by_database(&e) => {}
            Err(e) => return Err((e, rows)),
        }
        let mut refused = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            match self.insert(std::slice::from_ref(row)).await {
                Ok(()) => {}
                Err(e) if refused_by_database(&e) => refused.push(row.clone()),
                // the database went away meanwhile: what is left is retried later (rows
                // already written are skipped then: inserts are idempotent by id)
                Err(e) => {
                    let mut rest = refused;
                    rest.extend_from_slice(&rows[i..]);
                    return Err((e, rest));
                }
            }
        }
        Ok(refused)
    }

    fn select(with_bodies: bool) -> String {
        let cols: Vec<&str> = COLUMNS
            .iter()
            .copied()
            .filter(|c| with_bodies || !matches!(*c, "request_body" | "response_body"))
            .collect();
        format!("SELECT {} FROM request_logs", cols.join(", "))
    }

    /// Newest first, at most `limit`, without bodies.
    pub(crate) async fn list(
        &self,
        f: &LogFilter,
        limit: u32,
    ) -> Result<Vec<LogRecord>, StoreError> {
        let w = filter::build(f).map_err(StoreError::Invalid)?;
        let sql = format!(
            "{}{} ORDER BY id DESC LIMIT {limit}",
            Self::select(false),
            w.sql
        );
        let rows = bind_all(sqlx::query(&sql), &w.args)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| decode(r, false)).collect()
    }

    /// Every matching row, oldest first, without bodies.
    pub(crate) async fn scan(&self, f: &LogFilter) -> Result<Vec<LogRecord>, StoreError> {
        let w = filter::build(f).map_err(StoreError::Invalid)?;
        let sql = format!("{}{} ORDER BY id", Self::select(false), w.sql);
        let rows = bind_all(sqlx::query(&sql), &w.args)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| decode(r, false)).collect()
    }

    /// One row, bodies included.
    pub(crate) async fn get(&self, id: &str) -> Result<Option<LogRecord>, StoreError> {
        let sql = format!("{} WHERE id = $1", Self::select(true));
        let row = sqlx::query(&sql)
            .bind(id.to_owned())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| decode(r, true)).transpose()
    }

    /// Applies `patch`; false when no such row.
    pub(crate) async fn patch(&self, id: &str, patch: &LogPatch) -> Result<bool, StoreError> {
        let mut sets = Vec::new();
        let mut args = Vec::new();
        if let Some(v) = patch.feedback {
            args.push(Arg::Int(v));
            sets.push(format!("feedback = ${}", args.len()));
        }
        if let Some(v) = patch.score {
            args.push(Arg::Real(v));
            sets.push(format!("score = ${}", args.len()));
        }
        if let Some(m) = &patch.metadata {
            args.push(Arg::Text(serde_json::Value::Object(m.clone()).to_string()));
            sets.push(format!("metadata = ${}", args.len()));
        }
        if sets.is_empty() {
            return Ok(self.get(id).await?.is_some());
        }
        args.push(Arg::Text(id.to_owned()));
        let sql = format!(
            "UPDATE request_logs SET {} WHERE id = ${}",
            sets.join(", "),
            args.len()
        );
        let done = bind_all(sqlx::query(&sql), &args)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes the matching rows; returns how many.
    pub(crate) async fn delete(&self, f: &LogFilter) -> Result<u64, StoreError> {
        let w = filter::build(f).map_err(StoreError::Invalid)?;
        let sql = format!("DELETE FROM request_logs{}", w.sql);
        Ok(bind_all(sqlx::query(&sql), &w.args)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    pub(crate) async fn count(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM request_logs")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// Applies `delete-oldest` retention; returns how many rows went.
    pub(crate) async fn enforce(
        &self,
        retention: &Retention,
        now_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut gone = 0;
        if let Some(age) = retention.max_age {
            gone += sqlx::query("DELETE FROM request_logs WHERE created_at < $1")
                .bind(now_ms - age.as_millis() as i64)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        if let Some(max) = retention.max_rows {
            let excess = self.count().await?.saturating_sub(max);
            if excess > 0 {
                gone += sqlx::query(
                    "DELETE FROM request_logs WHERE id IN (SELECT id FROM request_logs ORDER BY id LIMIT $1)",
                )
                .bind(excess as i64)
                .execute(&self.pool)
                .await?
                .rows_affected();
            }
        }
        Ok(gone)
    }
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    args: &[Arg],
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for a in args {
        q = match a {
            Arg::Int(v) => q.bind(*v),
            Arg::Real(v) => q.bind(*v),
            Arg::Text(v) => q.bind(v.clone()),
        };
    }
    q
}

fn decode(r: &AnyRow, with_bodies: bool) -> Result<LogRecord, StoreError> {
    let flag = |c: &str| -> Result<bool, sqlx::Error> { Ok(r.try_get::<i64, _>(c)? != 0) };
    Ok(LogRecord {
        id: r.try_get("id")?,
        created_at: r.try_get("created_at")?,
        finished_at: r.try_get("finished_at")?,
        api_key_id: r.try_get("api_key_id")?,
        dialect: r.try_get("dialect")?,
        method: r.try_get("method")?,
        path: r.try_get("path")?,
        route: r.try_get("route")?,
        provider: r.try_get("provider")?,
        requested_model: r.try_get("requested_model")?,
        model: r.try_get("model")?,
        status: r.try_get("status")?,
        success: flag("success")?,
        cached: flag("cached")?,
        cache_status: r.try_get("cache_status")?,
        step: r.try_get("step")?,
        stream: flag("stream")?,
        input_tokens: r.try_get("input_tokens")?,
        output_tokens: r.try_get("output_tokens")?,
        cached_input_tokens: r.try_get("cached_input_tokens")?,
        reasoning_tokens: r.try_get("reasoning_tokens")?,
        tokens_estimated: flag("tokens_estimated")?,
        cost_usd: r.try_get("cost_usd")?,
        custom_cost_usd: r.try_get("custom_cost_usd")?,
        saved_cost_usd: r.try_get("saved_cost_usd")?,
        duration_ms: r.try_get("duration_ms")?,
        ttft_ms: r.try_get("ttft_ms")?,
        upstream_ms: r.try_get("upstream_ms")?,
        overhead_ms: r.try_get("overhead_ms")?,
        metadata: r.try_get("metadata")?,
        user_agent: r.try_get("user_agent")?,
        error: r.try_get("error")?,
        request_body: if with_bodies {
            r.try_get("request_body")?
        } else {
            None
        },
        response_body: if with_bodies {
            r.try_get("response_body")?
        } else {
            None
        },
        feedback: r.try_get("feedback")?,
        score: r.try_get("score")?,
    })
}
