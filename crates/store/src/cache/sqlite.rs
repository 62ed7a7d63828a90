//! A cache file that survives restarts: one SQLite table in WAL mode, bounded by bytes (oldest
//! entries go first), expired rows swept in the background.

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{unix_ms, BackendStats, CacheKey, CacheRecord, Purge, StoreError, VectorRecord};

/// Schema versions, applied in order; `PRAGMA user_version` records the last one applied.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE cache_entries (
        key BLOB PRIMARY KEY,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        stored_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        size INTEGER NOT NULL,
        value BLOB NOT NULL
    );
    CREATE INDEX cache_entries_model ON cache_entries (model, provider);
    CREATE INDEX cache_entries_expires ON cache_entries (expires_at);",
    "CREATE TABLE cache_vectors (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        expires_at INTEGER NOT NULL,
        value BLOB NOT NULL
    );
    CREATE INDEX cache_vectors_expires ON cache_vectors (expires_at);",
    "ALTER TABLE cache_entries ADD COLUMN tag BLOB;
    CREATE INDEX cache_entries_tag ON cache_entries (tag) WHERE tag IS NOT NULL;",
];

/// How often expired rows are deleted and the size bound enforced.
const SWEEP_EVERY: Duration = Duration::from_secs(30);

pub struct SqliteCache {
    inner: Arc<Inner>,
}

struct Inner {
    pool: SqlitePool,
    max_bytes: u64,
    /// Approximate bytes stored (exact after each sweep): a put that crosses `max_bytes` triggers a
    /// sweep at once rather than waiting for the timer.
    approx_bytes: AtomicU64,
    evictions: AtomicU64,
    sweeping: tokio::sync::Mutex<()>,
    /// A sweep triggered by a put is queued (at most one at a time).
    sweep_queued: std::sync::atomic::AtomicBool,
}

impl SqliteCache {
    /// Opens (creating if needed) the cache file at `path` and starts its sweeper.
    pub async fn open(path: &std::path::Path, max_bytes: u64) -> Result<Self, StoreError> {
        crate::private::prepare(path)?;
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        migrate(&pool).await?;
        let inner = Arc::new(Inner {
            pool,
            max_bytes,
            approx_bytes: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            sweeping: tokio::sync::Mutex::new(()),
            sweep_queued: std::sync::atomic::AtomicBool::new(false),
        });
        inner.sweep().await?;
        tokio::spawn(sweeper(Arc::downgrade(&inner)));
        Ok(SqliteCache { inner })
    }

    pub async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>, StoreError> {
        let row = sqlx::query("SELECT value FROM cache_entries WHERE key = ? AND expires_at > ?")
            .bind(&key[..])
            .bind(unix_ms() as i64)
            .fetch_optional(&self.inner.pool)
            .await?;
        Ok(row.map(|r| Bytes::from(r.get::<Vec<u8>, _>(0))))
    }

    pub async fn put(&self, record: CacheRecord) -> Result<(), StoreError> {
        let now = unix_ms();
        let size = record.value.len() as u64;
        sqlx::query(
            "INSERT OR REPLACE INTO cache_entries (key, provider, model, tag, stored_at, expires_at, size, value)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&record.key[..])
        .bind(&record.provider)
        .bind(&record.model)
        .bind(record.tag.as_ref().map(|t| &t[..]))
        .bind(now as i64)
        .bind(now.saturating_add(record.ttl.as_millis() as u64) as i64)
        .bind(size as i64)
        .bind(&record.value[..])
        .execute(&self.inner.pool)
        .await?;
        let total = self.inner.approx_bytes.fetch_add(size, Ordering::Relaxed) + size;
        if total > self.inner.max_bytes && !self.inner.sweep_queued.swap(true, Ordering::AcqRel) {
            let inner = self.inner.clone();
            tokio::spawn(async move {
                if let Err(e) = inner.sweep().await {
                    tracing::warn!("cache sweep failed: {e}");
                }
            });
        }
        Ok(())
    }

    pub async fn purge(&self, purge: &Purge) -> Result<u64, StoreError> {
        let pool = &self.inner.pool;
        let done = match purge {
            Purge::All => {
                sqlx::query("DELETE FROM cache_vectors")
                    .execute(pool)
                    .await?;
                sqlx::query("DELETE FROM cache_entries")
                    .execute(pool)
                    .await?
            }
            Purge::Key(key) => {
                sqlx::query("DELETE FROM cache_entries WHERE key = ?")
                    .bind(&key[..])
                    .execute(pool)
                    .await?
            }
            Purge::Tag(tag) => {
                sqlx::query("DELETE FROM cache_entries WHERE tag = ?")
                    .bind(&tag[..])
                    .execute(pool)
                    .await?
            }
            Purge::Model {
                provider: Some(provider),
                model,
            } => {
                sqlx::query("DELETE FROM cache_entries WHERE model = ? AND provider = ?")
                    .bind(model)
                    .bind(provider)
                    .execute(pool)
                    .await?
            }
            Purge::Model {
                provider: None,
                model,
            } => {
                sqlx::query("DELETE FROM cache_entries WHERE model = ?")
                    .bind(model)
                    .execute(pool)
                    .await?
            }
        };
        self.inner.sweep().await?;
        Ok(done.rows_affected())
    }

    pub async fn vectors_append(&self, record: VectorRecord) -> Result<(), StoreError> {
        let id = sqlx::query("INSERT INTO cache_vectors (expires_at, value) VALUES (?, ?)")
            .bind(unix_ms().saturating_add(record.ttl.as_millis() as u64) as i64)
            .bind(&record.value[..])
            .execute(&self.inner.pool)
            .await?
            .last_insert_rowid();
        if id > 0 && (id as u64).is_multiple_of(1024) {
            // keep the newest `max_records` (expired rows go with the sweep)
            sqlx::query("DELETE FROM cache_vectors WHERE id <= ?")
                .bind(id - record.max_records.min(i64::MAX as u64) as i64)
                .execute(&self.inner.pool)
                .await?;
        }
        Ok(())
    }

    pub async fn vectors_since(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<(Vec<Bytes>, u64), StoreError> {
        let rows = sqlx::query(
            "SELECT id, value FROM cache_vectors WHERE id > ? AND expires_at > ? ORDER BY id LIMIT ?",
        )
        .bind(cursor.min(i64::MAX as u64) as i64)
        .bind(unix_ms() as i64)
        .bind(limit.min(i64::MAX as usize) as i64)
        .fetch_all(&self.inner.pool)
        .await?;
        let next = rows
            .last()
            .map_or(cursor, |r| r.get::<i64, _>(0).max(0) as u64);
        Ok((
            rows.into_iter()
                .map(|r| Bytes::from(r.get::<Vec<u8>, _>(1)))
                .collect(),
            next,
        ))
    }

    pub async fn stats(&self) -> Result<BackendStats, StoreError> {
        let row = sqlx::query(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM cache_entries WHERE expires_at > ?",
        )
        .bind(unix_ms() as i64)
        .fetch_one(&self.inner.pool)
        .await?;
        Ok(BackendStats {
            entries: Some(row.get::<i64, _>(0) as u64),
            bytes: Some(row.get::<i64, _>(1) as u64),
            evictions: self.inner.evictions.load(Ordering::Relaxed),
        })
    }
}

impl Inner {
    /// Deletes expired rows, then the oldest rows (lowest rowid: `INSERT OR REPLACE` gives a
    /// rewritten entry a new one) until the total is back under the bound — just enough of them.
    async fn sweep(&self) -> Result<(), StoreError> {
        let _guard = self.sweeping.lock().await;
        self.sweep_queued.store(false, Ordering::Release);
        sqlx::query("DELETE FROM cache_entries WHERE expires_at <= ?")
            .bind(unix_ms() as i64)
            .execute(&self.pool)
            .await?;
        sqlx::query("DELETE FROM cache_vectors WHERE expires_at <= ?")
            .bind(unix_ms() as i64)
            .execute(&self.pool)
            .await?;
        let total: i64 = sqlx::query("SELECT COALESCE(SUM(size), 0) FROM cache_entries")
            .fetch_one(&self.pool)
            .await?
            .get(0);
        let excess = (total as u64).saturating_sub(self.max_bytes);
        if excess > 0 {
            // every row whose older neighbours (itself excluded) do not yet add up to the excess
            let gone = sqlx::query(
                "DELETE FROM cache_entries WHERE rowid IN (
                   SELECT rowid FROM (
                     SELECT rowid, SUM(size) OVER (ORDER BY rowid) - size AS before
                     FROM cache_entries)
                   WHERE before < ?)",
            )
            .bind(excess as i64)
            .execute(&self.pool)
            .await?
            .rows_affected();
            self.evictions.fetch_add(gone, Ordering::Relaxed);
        }
        let total: i64 = sqlx::query("SELECT COALESCE(SUM(size), 0) FROM cache_entries")
            .fetch_one(&self.pool)
            .await?
            .get(0);
        self.approx_bytes.store(total as u64, Ordering::Relaxed);
        Ok(())
    }
}

async fn sweeper(inner: Weak<Inner>) {
    let mut every = tokio::time::interval(SWEEP_EVERY);
    every.tick().await;
    loop {
        every.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if let Err(e) = inner.sweep().await {
            tracing::warn!("cache sweep failed: {e}");
        }
    }
}

async fn migrate(pool: &SqlitePool) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await?;
    let version: i64 = sqlx::query("PRAGMA user_version")
        .fetch_one(&mut *conn)
        .await?
        .get(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::raw_sql(sql).execute(&mut *tx).await?;
        sqlx::query(&format!("PRAGMA user_version = {}", i + 1))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u8, model: &str, size: usize, ttl: Duration) -> CacheRecord {
        CacheRecord {
            tag: None,
            key: [n; 32],
            provider: "p".into(),
            model: model.into(),
            value: Bytes::from(vec![n; size]),
            ttl,
        }
    }

    #[tokio::test]
    async fn purges_by_tag() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SqliteCache::open(&dir.path().join("cache.db"), 1 << 20)
            .await
            .unwrap();
        for n in 1..=3 {
            let mut r = record(n, "a", 10, Duration::from_secs(60));
            r.tag = (n < 3).then_some([7; 32]);
            cache.put(r).await.unwrap();
        }
        assert_eq!(cache.purge(&Purge::Tag([7; 32])).await.unwrap(), 2);
        assert!(cache.get(&[3; 32]).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn survives_reopening_and_honours_ttl_and_purge() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/cache.db");
        {
            let cache = SqliteCache::open(&path, 1 << 20).await.unwrap();
            cache
                .put(record(1, "a", 100, Duration::from_secs(60)))
                .await
                .unwrap();
            cache
                .put(record(2, "b", 100, Duration::from_secs(60)))
                .await
                .unwrap();
            cache
                .put(record(3, "b", 100, Duration::ZERO))
                .await
                .unwrap();
            assert!(cache.get(&[3; 32]).await.unwrap().is_none(), "expired");
        }
        let cache = SqliteCache::open(&path, 1 << 20).await.unwrap();
        assert_eq!(cache.get(&[1; 32]).await.unwrap().unwrap(), vec![1u8; 100]);
        let stats = cache.stats().await.unwrap();
        assert_eq!((stats.entries, stats.bytes), (Some(2), Some(200)));
        let purge = Purge::Model {
            provider: Some("p".into()),
            model: "b".into(),
        };
        assert_eq!(cache.purge(&purge).await.unwrap(), 1);
        assert_eq!(cache.purge(&Purge::All).await.unwrap(), 1);
        assert!(cache.get(&[1; 32]).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn evicts_oldest_over_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let cache = SqliteCache::open(&dir.path().join("c.db"), 1000)
            .await
            .unwrap();
        for n in 0..20u8 {
            cache
                .put(record(n, "m", 100, Duration::from_secs(60)))
                .await
                .unwrap();
        }
        cache.inner.sweep().await.unwrap();
        let stats = cache.stats().await.unwrap();
        assert!(stats.bytes.unwrap() <= 1000, "{stats:?}");
        assert_eq!(
            (stats.entries, stats.evictions),
            (Some(10), 10),
            "{stats:?}"
        );
        assert!(cache.get(&[19; 32]).await.unwrap().is_some(), "newest kept");
        assert!(cache.get(&[0; 32]).await.unwrap().is_none(), "oldest gone");
    }
}
