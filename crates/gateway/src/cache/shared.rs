//! What the cache shares with the tasks that write entries: the backend, the counters, the clock.

use std::time::Duration;

use switchyard_store::{CacheBackend, CacheKey, CacheRecord, StoreError};

use super::entry::Entry;
use super::metrics::Metrics;

/// Milliseconds on a clock that starts at the wall time and advances with tokio's clock (so TTL
/// tests can pause and advance time).
pub(crate) struct Clock {
    base_ms: u64,
    base: tokio::time::Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Clock {
            base_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            base: tokio::time::Instant::now(),
        }
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.base_ms + self.base.elapsed().as_millis() as u64
    }
}

/// State shared with the tasks that store entries.
pub(crate) struct Shared {
    pub(crate) backend: CacheBackend,
    pub(crate) metrics: Metrics,
    pub(crate) clock: Clock,
    pub(crate) max_entry_bytes: usize,
    pub(crate) compress_min: usize,
    pub(crate) semantic: super::semantic::Semantic,
}

impl Shared {
    /// The live entry for `key`. Backend failures are misses (counted, logged now and then).
    pub(crate) async fn get(&self, key: &CacheKey) -> Option<Entry> {
        let stored = match self.backend.get(key).await {
            Ok(stored) => stored?,
            Err(e) => {
                self.backend_failed("read", &e);
                return None;
            }
        };
        Entry::decode(stored).filter(|e| e.meta.expires_ms > self.clock.now_ms())
    }

    /// Whether the entry was stored.
    pub(crate) async fn store(
        &self,
        key: &CacheKey,
        tag: Option<CacheKey>,
        entry: &Entry,
        ttl: Duration,
    ) -> bool {
        if entry.body.len() > self.max_entry_bytes {
            self.metrics.note_too_large();
            return false;
        }
        let value = entry.encode(self.backend.wants_compression(), self.compress_min);
        let size = value.len();
        let record = CacheRecord {
            key: *key,
            provider: entry.meta.provider.clone(),
            model: entry.meta.model.clone(),
            tag,
            value,
            ttl,
        };
        match self.backend.put(record).await {
            Ok(()) => {
                self.metrics.note_store(size);
                true
            }
            Err(e) => {
                self.backend_failed("write", &e);
                false
            }
        }
    }

    pub(crate) fn backend_failed(&self, what: &str, e: &StoreError) {
        if self.metrics.note_backend_error(self.clock.now_ms()) {
            tracing::warn!(
                backend = self.backend.name(),
                "cache {what} failed, serving without the cache: {e}"
            );
        }
    }
}
