//! [`LogStore`]: the request-log table in SQLite or PostgreSQL.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Once;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

use super::filter::{self, Arg, SEQ_SLACK_MS};
use super::schema::{pg_type, Kind, COLUMNS, MIGRATIONS};
use super::{blocks, seq_at_ms, seq_of, LogFilter, LogPatch, LogRecord};
use crate::StoreError;

/// Rows per INSERT statement on this path (PostgreSQL, and SQLite reads' pool in tests): one
/// unnamed statement carries many rows, so PostgreSQL parses once per 100 rows. (SQLite writes
/// take the native path in [`super::native`].)
const ROWS_PER_STATEMENT: usize = 100;

/// What to do when the log is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetentionMode {
    /// Delete the oldest rows to make room (default).
    #[default]
    DeleteOldest,
    /// Keep what is there; new rows are not stored (counted in metrics).
    StopInserting,
}

/// Bounds on the log.
#[derive(Debug, Clone, Default)]
pub struct Retention {
    pub max_rows: Option<u64>,
    pub max_age: Option<Duration>,
    pub mode: RetentionMode,
}

pub struct LogStore {
    pool: AnyPool,
    kind: Kind,
    /// SQLite only: the fast insert path.
    native: Option<super::native::NativeWriter>,
    /// SQLite only: the row count, kept here (this process is the file's only writer; a
    /// `COUNT(*)` would read the whole table, which has no index to count instead).
    rows: AtomicI64,
}

static DRIVERS: Once = Once::new();

impl LogStore {
    /// `sqlite://PATH` (created, WAL) or `postgres://…`; applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let mut file = None;
        let (kind, url) = if let Some(path) = url.strip_prefix("sqlite://") {
            let path = std::path::Path::new(path.split('?').next().unwrap_or(path));
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            file = Some(path.to_path_buf());
            (
                Kind::Sqlite,
                format!("sqlite://{}?mode=rwc", path.display()),
            )
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Kind::Postgres, url.to_owned())
        } else {
            return Err(StoreError::Unavailable(format!(
                "unsupported log store URL `{url}`: expected sqlite://PATH or postgres://…"
            )));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(if kind == Kind::Sqlite { 4 } else { 8 })
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if kind == Kind::Sqlite {
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                        conn.execute("PRAGMA busy_timeout = 5000").await?;
                    }
                    Ok(())
                })
            })
            .connect(&url)
            .await?;
        let mut store = LogStore {
            pool,
            kind,
            native: None,
            rows: AtomicI64::new(0),
        };
        store.migrate().await?;
        if let Some(path) = file {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM request_logs")
                .fetch_one(&store.pool)
                .await?;
            store.rows.store(n, Ordering::Relaxed);
            store.native = Some(super::native::NativeWriter::open(&path)?);
        }
        Ok(store)
    }

    pub fn backend_name(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
        }
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        self.pool
            .execute(
                "CREATE TABLE IF NOT EXISTS switchyard_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .await?;
        for m in MIGRATIONS {
            let (version, sql) = match self.kind {
                Kind::Sqlite => (&m.version, m.sqlite),
                Kind::Postgres => (&m.version, m.postgres),
            };
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM switchyard_migrations WHERE version = $1")
                    .bind(*version)
                    .fetch_optional(&self.pool)
                    .await?;
            if done.is_some() {
                continue;
            }
            let mut tx = self.pool.begin().await?;
            for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
                tx.execute(statement).await?;
            }
            sqlx::query(
                "INSERT INTO switchyard_migrations (version, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(*version)
            .bind(crate::cache::unix_ms_i64())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Writes `rows` (taking them: the SQLite path hands them to its thread without copying); on
    /// failure they come back with the error, for the spill file.
    pub async fn insert_owned(
        &self,
        rows: Vec<LogRecord>,
    ) -> Result<(), (StoreError, Vec<LogRecord>)> {
        match &self.native {
            Some(native) => {
                let n = native.insert(rows).await?;
                self.rows.fetch_add(n as i64, Ordering::Relaxed);
                Ok(())
            }
            None => self.insert_rows(&rows).await.map_err(|e| (e, rows)),
        }
    }

    /// The newest row key stored (SQLite), so new ids can be made to sort after it.
    pub async fn newest_seq(&self) -> Result<Option<i64>, StoreError> {
        if self.kind != Kind::Sqlite {
            return Ok(None);
        }
        Ok(sqlx::query_scalar("SELECT MAX(seq) FROM request_logs")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Writes `rows` in one transaction (multi-row INSERTs); a row whose id exists is skipped,
    /// so replaying a spill file twice stores nothing twice.
    pub async fn insert(&self, rows: &[LogRecord]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        if self.native.is_some() {
            return self.insert_owned(rows.to_vec()).await.map_err(|(e, _)| e);
        }
        self.insert_rows(rows).await
    }

    /// The sqlx path: multi-row `INSERT`s (PostgreSQL).
    async fn insert_rows(&self, rows: &[LogRecord]) -> Result<(), StoreError> {
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
                    if self.kind == Kind::Postgres {
                        sql.push_str("::");
                        sql.push_str(pg_type(column));
                    }
                }
                sql.push(')');
            }
            sql.push_str(" ON CONFLICT (id) DO NOTHING");
            // PostgreSQL: unnamed statements. sqlx declares a NULL's parameter type from the
            // `Any` value, which need not be the column's; a cached statement prepared with a NULL
            // in some column would then reject a number there on a later row.
            let mut q = sqlx::query(&sql).persistent(self.kind == Kind::Sqlite);
            for r in chunk {
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

    fn select(&self, with_bodies: bool) -> String {
        let mut cols: Vec<&str> = COLUMNS
            .iter()
            .copied()
            .filter(|c| with_bodies || !matches!(*c, "request_body" | "response_body"))
            .collect();
        if with_bodies && self.kind == Kind::Sqlite {
            cols.extend(["body_block", "body_at"]);
        }
        format!("SELECT {} FROM request_logs", cols.join(", "))
    }

    /// The column rows sort by: the row key in SQLite, the (time-ordered) id in PostgreSQL.
    fn order_key(&self) -> &'static str {
        match self.kind {
            Kind::Sqlite => "seq",
            Kind::Postgres => "id",
        }
    }

    /// Newest first, at most `limit`, without bodies.
    pub async fn list(&self, f: &LogFilter, limit: u32) -> Result<Vec<LogRecord>, StoreError> {
        let w = filter::build(f, self.kind).map_err(StoreError::Invalid)?;
        let sql = format!(
            "{}{} ORDER BY {} DESC LIMIT {}",
            self.select(false),
            w.sql,
            self.order_key(),
            limit
        );
        let rows = bind_all(sqlx::query(&sql), &w.args)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| decode(r, false)).collect()
    }

    /// Every matching row, oldest first, without bodies (analytics and exports).
    pub async fn scan(&self, f: &LogFilter) -> Result<Vec<LogRecord>, StoreError> {
        let w = filter::build(f, self.kind).map_err(StoreError::Invalid)?;
        let sql = format!(
            "{}{} ORDER BY {}",
            self.select(false),
            w.sql,
            self.order_key()
        );
        let rows = bind_all(sqlx::query(&sql), &w.args)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| decode(r, false)).collect()
    }

    /// SQLite: the row key of `id` — where the id says, else (rows from schema version 1, whose
    /// keys came from their arrival ms) near there; ids not made by the gateway are searched for.
    async fn locate(&self, id: &str) -> Result<Option<i64>, StoreError> {
        let find = |sql: &'static str, args: Vec<Arg>| async move {
            let row = bind_all(sqlx::query(sql).bind(id.to_owned()), &args)
                .fetch_optional(&self.pool)
                .await?;
            row.map(|r| r.try_get::<i64, _>("seq")).transpose()
        };
        let Some(seq) = seq_of(id) else {
            return Ok(find("SELECT seq FROM request_logs WHERE id = $1", vec![]).await?);
        };
        if let Some(found) = find(
            "SELECT seq FROM request_logs WHERE id = $1 AND seq = $2",
            vec![Arg::Int(seq)],
        )
        .await?
        {
            return Ok(Some(found));
        }
        let slack = seq_at_ms(SEQ_SLACK_MS);
        Ok(find(
            "SELECT seq FROM request_logs WHERE id = $1 AND seq >= $2 AND seq < $3",
            vec![Arg::Int(seq - slack), Arg::Int(seq + slack)],
        )
        .await?)
    }

    /// One row, bodies included.
    pub async fn get(&self, id: &str) -> Result<Option<LogRecord>, StoreError> {
        if self.kind == Kind::Postgres {
            let sql = format!("{} WHERE id = $1", self.select(true));
            let row = sqlx::query(&sql)
                .bind(id.to_owned())
                .fetch_optional(&self.pool)
                .await?;
            return row.as_ref().map(|r| decode(r, true)).transpose();
        }
        let Some(seq) = self.locate(id).await? else {
            return Ok(None);
        };
        let sql = format!("{} WHERE seq = $1", self.select(true));
        let Some(row) = sqlx::query(&sql)
            .bind(seq)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        let mut record = decode(&row, true)?;
        let block: Option<i64> = row.try_get("body_block")?;
        let at: Option<i64> = row.try_get("body_at")?;
        if let (Some(block), Some(at)) = (block, at) {
            let data: Vec<u8> =
                sqlx::query_scalar("SELECT data FROM request_log_bodies WHERE block = $1")
                    .bind(block)
                    .fetch_one(&self.pool)
                    .await?;
            let raw = blocks::open(&data).map_err(StoreError::Invalid)?;
            (record.request_body, record.response_body) =
                blocks::read(&raw, at as usize).map_err(StoreError::Invalid)?;
        }
        Ok(Some(record))
    }

    /// Applies `patch`; false when no such row.
    pub async fn patch(&self, id: &str, patch: &LogPatch) -> Result<bool, StoreError> {
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
        let key = match self.kind {
            Kind::Postgres => Arg::Text(id.to_owned()),
            Kind::Sqlite => match self.locate(id).await? {
                Some(seq) => Arg::Int(seq),
                None => return Ok(false),
            },
        };
        if sets.is_empty() {
            return Ok(self.get(id).await?.is_some());
        }
        args.push(key);
        let sql = format!(
            "UPDATE request_logs SET {} WHERE {} = ${}",
            sets.join(", "),
            self.order_key(),
            args.len()
        );
        let done = bind_all(sqlx::query(&sql), &args)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes the matching rows; returns how many.
    pub async fn delete(&self, f: &LogFilter) -> Result<u64, StoreError> {
        let w = filter::build(f, self.kind).map_err(StoreError::Invalid)?;
        let sql = format!("DELETE FROM request_logs{}", w.sql);
        let done = bind_all(sqlx::query(&sql), &w.args)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if self.kind == Kind::Sqlite {
            self.rows.fetch_sub(done as i64, Ordering::Relaxed);
            // any block may have lost rows: keep those some row still points at (each check is
            // a key-range lookup over the block's own rows)
            sqlx::query(
                "DELETE FROM request_log_bodies WHERE NOT EXISTS (SELECT 1 FROM request_logs r
                 WHERE r.seq BETWEEN request_log_bodies.first_seq AND request_log_bodies.last_seq
                 AND r.body_block = request_log_bodies.block)",
            )
            .execute(&self.pool)
            .await?;
        }
        Ok(done)
    }

    pub async fn count(&self) -> Result<u64, StoreError> {
        if self.kind == Kind::Sqlite {
            return Ok(self.rows.load(Ordering::Relaxed).max(0) as u64);
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM request_logs")
            .fetch_one(&self.pool)
            .await?;
        Ok(n as u64)
    }

    /// Applies `retention` (for `delete-oldest`); returns how many rows went.
    pub async fn enforce(&self, retention: &Retention, now_ms: i64) -> Result<u64, StoreError> {
        if retention.mode == RetentionMode::StopInserting {
            return Ok(0);
        }
        let mut gone = 0;
        if let Some(age) = retention.max_age {
            let cutoff = now_ms - age.as_millis() as i64;
            let sql = match self.kind {
                Kind::Sqlite => "DELETE FROM request_logs WHERE created_at < $1 AND seq < $2",
                Kind::Postgres => "DELETE FROM request_logs WHERE created_at < $1 AND $2 = $2",
            };
            gone += sqlx::query(sql)
                .bind(cutoff)
                .bind(seq_at_ms(cutoff + SEQ_SLACK_MS))
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        if let Some(max) = retention.max_rows {
            let excess = self.count().await?.saturating_sub(max);
            if excess > 0 {
                let sql = format!(
                    "DELETE FROM request_logs WHERE {key} IN (SELECT {key} FROM request_logs ORDER BY {key} LIMIT $1)",
                    key = self.order_key()
                );
                gone += sqlx::query(&sql)
                    .bind(excess as i64)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
            }
        }
        if self.kind == Kind::Sqlite && gone > 0 {
            self.rows.fetch_sub(gone as i64, Ordering::Relaxed);
            // retention takes the oldest rows: blocks wholly before the oldest left are unused
            sqlx::query(
                "DELETE FROM request_log_bodies WHERE last_seq < (SELECT COALESCE(MIN(seq), 9223372036854775807) FROM request_logs)",
            )
            .execute(&self.pool)
            .await?;
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
