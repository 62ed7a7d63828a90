//! Response-cache backends. A backend maps a 32-byte key (a SHA-256 the gateway computes) to an
//! opaque value with a time to live, and can purge by key, by model or everything.
//!
//! Every backend is best effort: the gateway treats any [`StoreError`] as a miss, so a database that
//! is down slows nothing and fails no request.

mod memory;
mod redis;
mod sqlite;

use std::time::Duration;

use bytes::Bytes;

pub use self::memory::MemoryCache;
pub use self::redis::{RedisCache, RedisSettings};
pub use self::sqlite::SqliteCache;

/// A SHA-256 digest.
pub type CacheKey = [u8; 32];

/// One value to store.
#[derive(Debug, Clone)]
pub struct CacheRecord {
    pub key: CacheKey,
    /// Which provider and model answered: what purge-by-model matches.
    pub provider: String,
    pub model: String,
    /// A caller-chosen key's tag (`cf-aig-cache-key`): what purge-by-key matches, across the
    /// callers and models each entry is private to.
    pub tag: Option<CacheKey>,
    pub value: Bytes,
    pub ttl: Duration,
}

/// One entry of the semantic cache's vector log.
#[derive(Debug, Clone)]
pub struct VectorRecord {
    pub value: Bytes,
    pub ttl: Duration,
    /// The log keeps at most this many records (the oldest go first).
    pub max_records: u64,
}

/// What to delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purge {
    All,
    Key(CacheKey),
    /// Every entry stored under a caller-chosen key with this tag.
    Tag(CacheKey),
    /// Every entry served by `model`, from `provider` only when given.
    Model {
        provider: Option<String>,
        model: String,
    },
}

/// What a backend can tell about itself; `None` where it cannot know cheaply (Redis is shared and
/// evicts on its own).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BackendStats {
    pub entries: Option<u64>,
    pub bytes: Option<u64>,
    /// Entries removed to stay under the size bound (not counting expiry).
    pub evictions: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    #[error("{0} did not answer within {1} ms")]
    Timeout(&'static str, u128),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Invalid(String),
}

/// The configured backend (a closed set: each is a few hundred lines, no plug-ins).
pub enum CacheBackend {
    Memory(MemoryCache),
    Sqlite(SqliteCache),
    Redis(Box<RedisCache>),
}

impl CacheBackend {
    /// `memory`, `sqlite` or `redis`.
    pub fn name(&self) -> &'static str {
        match self {
            CacheBackend::Memory(_) => "memory",
            CacheBackend::Sqlite(_) => "sqlite",
            CacheBackend::Redis(_) => "redis",
        }
    }

    /// Whether values should be compressed before storing (they cross a socket or hit a disk).
    pub fn wants_compression(&self) -> bool {
        !matches!(self, CacheBackend::Memory(_))
    }

    pub async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>, StoreError> {
        match self {
            CacheBackend::Memory(m) => Ok(m.get(key)),
            CacheBackend::Sqlite(s) => s.get(key).await,
            CacheBackend::Redis(r) => r.get(key).await,
        }
    }

    pub async fn put(&self, record: CacheRecord) -> Result<(), StoreError> {
        match self {
            CacheBackend::Memory(m) => {
                m.put(record);
                Ok(())
            }
            CacheBackend::Sqlite(s) => s.put(record).await,
            CacheBackend::Redis(r) => r.put(record).await,
        }
    }

    /// Deletes what `purge` names; returns how many entries went.
    pub async fn purge(&self, purge: &Purge) -> Result<u64, StoreError> {
        match self {
            CacheBackend::Memory(m) => Ok(m.purge(purge)),
            CacheBackend::Sqlite(s) => s.purge(purge).await,
            CacheBackend::Redis(r) => r.purge(purge).await,
        }
    }

    /// Appends one record to the semantic-cache vector log (opaque to the backend; it lives
    /// `ttl`). The memory backend keeps none: the gateway's in-memory index is its only copy.
    pub async fn vectors_append(&self, record: VectorRecord) -> Result<(), StoreError> {
        match self {
            CacheBackend::Memory(_) => Ok(()),
            CacheBackend::Sqlite(s) => s.vectors_append(record).await,
            CacheBackend::Redis(r) => r.vectors_append(record).await,
        }
    }

    /// The live records appended after `cursor` (0 = from the start), at most `limit`, and the
    /// cursor to continue from. Every replica reads the log, so one replica's answers are found by
    /// the others.
    pub async fn vectors_since(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<(Vec<Bytes>, u64), StoreError> {
        match self {
            CacheBackend::Memory(_) => Ok((Vec::new(), cursor)),
            CacheBackend::Sqlite(s) => s.vectors_since(cursor, limit).await,
            CacheBackend::Redis(r) => r.vectors_since(cursor, limit).await,
        }
    }

    pub async fn stats(&self) -> Result<BackendStats, StoreError> {
        match self {
            CacheBackend::Memory(m) => Ok(m.stats()),
            CacheBackend::Sqlite(s) => s.stats().await,
            CacheBackend::Redis(r) => Ok(r.stats()),
        }
    }
}

/// A key's 64 lowercase hex digits (how keys appear in Redis and in `x-switchyard-cache-key`).
pub fn hex(key: &CacheKey) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in key {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

pub(crate) fn unix_ms_i64() -> i64 {
    unix_ms() as i64
}

/// Milliseconds since the Unix epoch (the backends' expiry clock; the gateway checks expiry again
/// with its own clock).
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
