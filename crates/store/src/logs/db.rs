//! [`LogStore`]: the request log in SQLite ([`super::sqlite`]) or PostgreSQL
//! ([`super::postgres`]): opening, migrations, and the calls both answer.

use std::sync::Once;
use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use super::postgres::PgLog;
use super::responses::{self, Bound, StoredResponse};
use super::schema::{Kind, MIGRATIONS};
use super::sqlite::SqliteLog;
use super::{LogFilter, LogPatch, LogRecord, PackedRows};
use crate::StoreError;

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
    backend: Backend,
}

enum Backend {
    Sqlite(SqliteLog),
    Postgres(PgLog),
}

static DRIVERS: Once = Once::new();

impl LogStore {
    /// `sqlite://PATH` (created, WAL) or `postgres://…`; applies pending migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        DRIVERS.call_once(sqlx::any::install_default_drivers);
        let mut file = None;
        let (kind, url) = if let Some(path) = url.strip_prefix("sqlite://") {
            let path = std::path::Path::new(path.split('?').next().unwrap_or(path));
            crate::private::prepare(path)?;
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
            .max_connections(if kind == Kind::Sqlite { 1 } else { 8 })
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
        migrate(&pool, kind).await?;
        let backend = match file {
            Some(path) => {
                // the schema is in place: from here on rusqlite drives the file
                pool.close().await;
                Backend::Sqlite(SqliteLog::open(&path).await?)
            }
            None => Backend::Postgres(PgLog { pool }),
        };
        Ok(LogStore { backend })
    }

    /// Whether rows are stored in blocks ([`Self::append_packed`] is this store's own format:
    /// SQLite) rather than one per request.
    pub fn packs_blocks(&self) -> bool {
        matches!(self.backend, Backend::Sqlite(_))
    }

    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Writes `rows` (taking them: the SQLite path hands them to its thread without copying); on
    /// failure they come back with the error, for the spill file. A row whose id is stored
    /// already is skipped, so replaying a spill file twice stores nothing twice.
    pub async fn insert_owned(
        &self,
        rows: Vec<LogRecord>,
    ) -> Result<(), (StoreError, Vec<LogRecord>)> {
        match &self.backend {
            Backend::Sqlite(s) => s.insert(rows, true).await,
            Backend::Postgres(p) => p.insert(&rows).await.map_err(|e| (e, rows)),
        }
    }

    /// [`Self::insert_owned`] for rows this process just made and writes once (the log
    /// writer's batches): SQLite skips looking for stored copies of them.
    pub async fn append_new(
        &self,
        rows: Vec<LogRecord>,
    ) -> Result<(), (StoreError, Vec<LogRecord>)> {
        match &self.backend {
            Backend::Sqlite(s) => s.insert(rows, false).await,
            Backend::Postgres(p) => p.insert(&rows).await.map_err(|e| (e, rows)),
        }
    }

    /// Writes rows the caller packed as they were made (see [`PackedRows`]); they come back
    /// emptied, for reuse, or as they were on failure (for the spill file). SQLite stores the
    /// blocks as packed; PostgreSQL, which keeps a row per request, inserts them one by one.
    pub async fn append_packed(
        &self,
        packed: PackedRows,
    ) -> Result<PackedRows, (StoreError, PackedRows)> {
        match &self.backend {
            Backend::Sqlite(s) => s.insert_packed(packed).await,
            Backend::Postgres(p) => {
                let rows = match packed.records() {
                    Ok(rows) => rows,
                    Err(e) => return Err((StoreError::Invalid(e), packed)),
                };
                match p.insert(&rows).await {
                    Ok(()) => {
                        let mut packed = packed;
                        packed.clear();
                        Ok(packed)
                    }
                    Err(e) => Err((e, packed)),
                }
            }
        }
    }

    /// Writes `rows`, setting aside (returning) the ones the database refuses while writing the
    /// rest (PostgreSQL: a failed batch is retried row by row); `Err` with every row not written
    /// when the store cannot be written at all (to be spilled and retried).
    pub async fn insert_salvaging(
        &self,
        rows: Vec<LogRecord>,
    ) -> Result<Vec<LogRecord>, (StoreError, Vec<LogRecord>)> {
        match &self.backend {
            Backend::Sqlite(s) => s.insert(rows, true).await.map(|()| Vec::new()),
            Backend::Postgres(p) => p.insert_salvaging(rows).await,
        }
    }

    /// [`Self::insert_owned`] from a borrowed slice.
    pub async fn insert(&self, rows: &[LogRecord]) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.insert(rows.to_vec(), true).await.map_err(|(e, _)| e),
            Backend::Postgres(p) => p.insert(rows).await,
        }
    }

    /// The newest row key stored (SQLite), so new ids can be made to sort after it.
    pub async fn newest_seq(&self) -> Result<Option<i64>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.newest_seq().await,
            Backend::Postgres(_) => Ok(None),
        }
    }

    /// Newest first, at most `limit`, without bodies.
    pub async fn list(&self, f: &LogFilter, limit: u32) -> Result<Vec<LogRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.list(f, limit).await,
            Backend::Postgres(p) => p.list(f, limit).await,
        }
    }

    /// Every matching row, oldest first, without bodies (analytics and exports).
    pub async fn scan(&self, f: &LogFilter) -> Result<Vec<LogRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.scan(f).await,
            Backend::Postgres(p) => p.scan(f).await,
        }
    }

    /// One row, bodies included.
    pub async fn get(&self, id: &str) -> Result<Option<LogRecord>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.get(id).await,
            Backend::Postgres(p) => p.get(id).await,
        }
    }

    /// Applies `patch`; false when no such row.
    pub async fn patch(&self, id: &str, patch: &LogPatch) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.patch(id, patch).await,
            Backend::Postgres(p) => p.patch(id, patch).await,
        }
    }

    /// Deletes the matching rows; returns how many.
    pub async fn delete(&self, f: &LogFilter) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => s.delete(f).await,
            Backend::Postgres(p) => p.delete(f).await,
        }
    }

    pub async fn count(&self) -> Result<u64, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => Ok(s.count()),
            Backend::Postgres(p) => p.count().await,
        }
    }

    /// Applies `retention` (for `delete-oldest`) to the log and to stored responses alike;
    /// returns how many log rows went.
    pub async fn enforce(&self, retention: &Retention, now_ms: i64) -> Result<u64, StoreError> {
        if retention.mode == RetentionMode::StopInserting {
            return Ok(0);
        }
        let bound = Bound {
            before: retention.max_age.map(|a| now_ms - a.as_millis() as i64),
            max_rows: retention.max_rows,
        };
        match &self.backend {
            Backend::Sqlite(s) => {
                s.responses(move |c| responses::sqlite::enforce(c, bound))
                    .await?;
                s.enforce(retention, now_ms).await
            }
            Backend::Postgres(p) => {
                responses::postgres::enforce(&p.pool, bound).await?;
                p.enforce(retention, now_ms).await
            }
        }
    }

    /// Keeps `response` (replacing one stored under its id).
    pub async fn put_response(&self, response: StoredResponse) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                s.responses(move |c| responses::sqlite::put(c, &response))
                    .await
            }
            Backend::Postgres(p) => responses::postgres::put(&p.pool, &response).await,
        }
    }

    /// The stored response `id` and the ones it continued, newest first (at most `max`): the
    /// chain ends early where an earlier response is no longer kept (its `previous` says which).
    pub async fn response_chain(
        &self,
        id: &str,
        max: usize,
    ) -> Result<Vec<StoredResponse>, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let id = id.to_owned();
                s.read_responses(move |c| responses::sqlite::chain(c, &id, max))
                    .await
            }
            Backend::Postgres(p) => responses::postgres::chain(&p.pool, id, max).await,
        }
    }

    /// The stored response `id`, if kept.
    pub async fn get_response(&self, id: &str) -> Result<Option<StoredResponse>, StoreError> {
        Ok(self.response_chain(id, 1).await?.pop())
    }

    /// Deletes the stored response `id`; false when there was none.
    pub async fn delete_response(&self, id: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Sqlite(s) => {
                let id = id.to_owned();
                s.responses(move |c| responses::sqlite::delete(c, &id))
                    .await
            }
            Backend::Postgres(p) => responses::postgres::delete(&p.pool, id).await,
        }
    }
}

async fn migrate(pool: &AnyPool, kind: Kind) -> Result<(), StoreError> {
    pool.execute(
        "CREATE TABLE IF NOT EXISTS switchyard_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    for m in MIGRATIONS {
        let sql = match kind {
            Kind::Sqlite => m.sqlite,
            Kind::Postgres => m.postgres,
        };
        let done: Option<i64> =
            sqlx::query_scalar("SELECT version FROM switchyard_migrations WHERE version = $1")
                .bind(m.version)
                .fetch_optional(pool)
                .await?;
        if done.is_some() {
            continue;
        }
        let mut tx = pool.begin().await?;
        for statement in sql.split(';').filter(|s| !s.trim().is_empty()) {
            tx.execute(statement).await?;
        }
        sqlx::query(
            "INSERT INTO switchyard_migrations (version, applied_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(m.version)
        .bind(crate::cache::unix_ms_i64())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(())
}
