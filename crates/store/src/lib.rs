//! Storage behind small interfaces, so the gateway never names a database.
//!
//! # Layout
//! - [`cache`]: the response-cache backends — [`cache::MemoryCache`] (bounded by bytes, TinyLFU
//!   eviction), [`cache::SqliteCache`] (a file that survives restarts) and [`cache::RedisCache`]
//!   (shared by every replica) — behind the closed enum [`cache::CacheBackend`]. They store opaque
//!   values: what an entry means is the gateway's business.
//! - [`counters`]: windowed counters for rate limits and budgets (memory or Redis, atomic).
//! - [`keys`]: gateway API keys ([`keys::KeyStore`], hashed, SQLite or PostgreSQL).
//! - [`logs`]: the request log ([`logs::LogStore`], SQLite or PostgreSQL through one SQL dialect).
//! - [`lz4`]: compressed values read back with their claimed size checked first.

pub mod cache;
pub mod counters;
pub mod keys;
pub mod logs;
pub mod lz4;
pub mod private;
mod redis_link;

pub use cache::{
    BackendStats, CacheBackend, CacheKey, CacheRecord, Purge, StoreError, VectorRecord,
};
