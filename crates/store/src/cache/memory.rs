//! In-process cache: `moka` (TinyLFU admission, LRU eviction), bounded by bytes, per-entry TTL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::notification::RemovalCause;
use moka::sync::Cache;
use moka::Expiry;

use super::{BackendStats, CacheKey, CacheRecord, Purge};

/// Bookkeeping per entry, in bytes, added to the value's length when weighing it.
const ENTRY_OVERHEAD: usize = 128;

#[derive(Clone)]
struct Stored {
    value: Bytes,
    provider: Arc<str>,
    model: Arc<str>,
    tag: Option<CacheKey>,
    ttl: Duration,
}

struct PerEntryTtl;

impl Expiry<CacheKey, Stored> for PerEntryTtl {
    fn expire_after_create(&self, _: &CacheKey, value: &Stored, _: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _: &CacheKey,
        value: &Stored,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

pub struct MemoryCache {
    cache: Cache<CacheKey, Stored>,
    evictions: Arc<AtomicU64>,
}

impl MemoryCache {
    /// A cache holding at most `max_bytes` of values (plus a small per-entry overhead).
    pub fn new(max_bytes: u64) -> Self {
        let evictions = Arc::new(AtomicU64::new(0));
        let counter = evictions.clone();
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|_: &CacheKey, v: &Stored| {
                u32::try_from(v.value.len() + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
            })
            .expire_after(PerEntryTtl)
            .eviction_listener(move |_, _, cause| {
                if cause == RemovalCause::Size {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            })
            .build();
        MemoryCache { cache, evictions }
    }

    pub fn get(&self, key: &CacheKey) -> Option<Bytes> {
        self.cache.get(key).map(|s| s.value)
    }

    pub fn put(&self, record: CacheRecord) {
        self.cache.insert(
            record.key,
            Stored {
                value: record.value,
                provider: record.provider.into(),
                model: record.model.into(),
                tag: record.tag,
                ttl: record.ttl,
            },
        );
    }

    pub fn purge(&self, purge: &Purge) -> u64 {
        match purge {
            Purge::All => {
                self.cache.run_pending_tasks();
                let n = self.cache.entry_count();
                self.cache.invalidate_all();
                self.cache.run_pending_tasks();
                n
            }
            Purge::Key(key) => u64::from(self.cache.remove(key).is_some()),
            Purge::Tag(tag) => {
                let keys: Vec<CacheKey> = self
                    .cache
                    .iter()
                    .filter(|(_, v)| v.tag.as_ref() == Some(tag))
                    .map(|(k, _)| *k)
                    .collect();
                keys.iter()
                    .filter(|k| self.cache.remove(*k).is_some())
                    .count() as u64
            }
            Purge::Model { provider, model } => {
                let doomed: Vec<Arc<CacheKey>> = self
                    .cache
                    .iter()
                    .filter(|(_, v)| {
                        *v.model == **model && provider.as_deref().is_none_or(|p| *v.provider == *p)
                    })
                    .map(|(k, _)| k)
                    .collect();
                doomed
                    .iter()
                    .filter(|k| self.cache.remove(k.as_ref()).is_some())
                    .count() as u64
            }
        }
    }

    pub fn stats(&self) -> BackendStats {
        self.cache.run_pending_tasks();
        BackendStats {
            entries: Some(self.cache.entry_count()),
            bytes: Some(self.cache.weighted_size()),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u8, model: &str, size: usize) -> CacheRecord {
        CacheRecord {
            tag: None,
            key: [n; 32],
            provider: "p".into(),
            model: model.into(),
            value: Bytes::from(vec![n; size]),
            ttl: Duration::from_secs(60),
        }
    }

    #[test]
    fn stores_purges_by_model_and_key() {
        let cache = MemoryCache::new(1 << 20);
        cache.put(record(1, "a", 10));
        cache.put(record(2, "a", 10));
        cache.put(record(3, "b", 10));
        assert_eq!(cache.get(&[1; 32]).as_deref(), Some(&[1u8; 10][..]));
        let purge = Purge::Model {
            provider: None,
            model: "a".into(),
        };
        assert_eq!(cache.purge(&purge), 2);
        assert!(cache.get(&[1; 32]).is_none());
        assert!(cache.get(&[3; 32]).is_some());
        let other_provider = Purge::Model {
            provider: Some("q".into()),
            model: "b".into(),
        };
        assert_eq!(cache.purge(&other_provider), 0);
        assert_eq!(cache.purge(&Purge::Key([3; 32])), 1);
        assert_eq!(cache.stats().entries, Some(0));
    }

    #[test]
    fn purges_by_tag() {
        let cache = MemoryCache::new(1 << 20);
        for n in 1..=3 {
            let mut r = record(n, "a", 10);
            r.tag = (n < 3).then_some([7; 32]);
            cache.put(r);
        }
        assert_eq!(cache.purge(&Purge::Tag([8; 32])), 0);
        assert_eq!(cache.purge(&Purge::Tag([7; 32])), 2);
        assert!(cache.get(&[3; 32]).is_some());
    }

    #[test]
    fn stays_under_its_byte_bound_and_counts_evictions() {
        let cache = MemoryCache::new(10 * (1000 + ENTRY_OVERHEAD as u64));
        for n in 0..50u8 {
            cache.put(record(n, "m", 1000));
            cache.get(&[n; 32]);
        }
        let stats = cache.stats();
        assert!(stats.bytes.unwrap() <= 10 * (1000 + ENTRY_OVERHEAD as u64));
        assert!(stats.evictions > 0, "{stats:?}");
    }
}
