//! Cache counters: lock-free, read by `GET /api/cache` and `/metrics`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

#[derive(Default)]
pub(crate) struct Metrics {
    hits: AtomicU64,
    misses: AtomicU64,
    bypasses: AtomicU64,
    coalesced: AtomicU64,
    semantic_hits: AtomicU64,
    stores: AtomicU64,
    stored_bytes: AtomicU64,
    too_large: AtomicU64,
    backend_errors: AtomicU64,
    /// When a backend failure was last logged (ms on the cache clock): failures are logged at most
    /// every few seconds, so a Redis outage does not flood the log.
    last_warning_ms: AtomicU64,
}

macro_rules! counter {
    ($($fn:ident => $field:ident),* $(,)?) => {
        $(pub(crate) fn $fn(&self) {
            self.$field.fetch_add(1, Ordering::Relaxed);
        })*
    };
}

impl Metrics {
    counter!(
        note_hit => hits,
        note_miss => misses,
        note_bypass => bypasses,
        note_coalesced => coalesced,
        note_too_large => too_large,
    );

    /// A request the exact lookup missed (counted as a miss) was answered by a similar prompt's
    /// entry.
    pub(crate) fn note_semantic_hit(&self) {
        self.semantic_hits.fetch_add(1, Ordering::Relaxed);
        let _ = self
            .misses
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    pub(crate) fn note_store(&self, bytes: usize) {
        self.stores.fetch_add(1, Ordering::Relaxed);
        self.stored_bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts a backend failure; true when it should also be logged.
    pub(crate) fn note_backend_error(&self, now_ms: u64) -> bool {
        const QUIET_MS: u64 = 10_000;
        self.backend_errors.fetch_add(1, Ordering::Relaxed);
        let last = self.last_warning_ms.load(Ordering::Relaxed);
        (last == 0 || now_ms.saturating_sub(last) >= QUIET_MS)
            && self
                .last_warning_ms
                .compare_exchange(last, now_ms.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }

    pub(crate) fn snapshot(&self, backend: &'static str) -> CacheStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        CacheStats {
            backend,
            hits: get(&self.hits),
            misses: get(&self.misses),
            bypasses: get(&self.bypasses),
            coalesced: get(&self.coalesced),
            semantic_hits: get(&self.semantic_hits),
            semantic_entries: 0,
            stores: get(&self.stores),
            stored_bytes_total: get(&self.stored_bytes),
            too_large: get(&self.too_large),
            backend_errors: get(&self.backend_errors),
            entries: None,
            bytes: None,
            evictions: 0,
        }
    }
}

/// What `GET /api/cache` answers.
#[derive(Debug, Clone, Serialize)]
pub struct CacheStats {
    pub backend: &'static str,
    /// Requests answered from a stored entry.
    pub hits: u64,
    /// Cacheable requests that went upstream.
    pub misses: u64,
    /// Requests that asked to skip the cache.
    pub bypasses: u64,
    /// Requests answered by another identical request's upstream call.
    pub coalesced: u64,
    /// Requests answered by the entry of a prompt that means the same (semantic cache).
    pub semantic_hits: u64,
    /// Entries in the semantic cache's in-memory index.
    pub semantic_entries: u64,
    pub stores: u64,
    pub stored_bytes_total: u64,
    /// Answers not stored because they exceeded `max_entry_bytes`.
    pub too_large: u64,
    /// Backend reads or writes that failed (each read failure was served as a miss).
    pub backend_errors: u64,
    /// Current entries and bytes, where the backend knows them (not Redis).
    pub entries: Option<u64>,
    pub bytes: Option<u64>,
    pub evictions: u64,
}

impl CacheStats {
    /// Prometheus text exposition of these figures.
    pub fn write_prometheus(&self, out: &mut String) {
        let b = self.backend;
        let _ = writeln!(
            out,
            "# HELP switchyard_cache_requests_total Cacheable requests by outcome.\n# TYPE switchyard_cache_requests_total counter"
        );
        for (status, n) in [
            ("hit", self.hits),
            ("miss", self.misses),
            ("bypass", self.bypasses),
            ("coalesced", self.coalesced),
            ("semantic_hit", self.semantic_hits),
        ] {
            let _ = writeln!(
                out,
                "switchyard_cache_requests_total{{backend=\"{b}\",status=\"{status}\"}} {n}"
            );
        }
        let counters = [
            ("stores_total", "Entries written.", self.stores),
            (
                "stored_bytes_total",
                "Bytes written to the backend.",
                self.stored_bytes_total,
            ),
            (
                "too_large_total",
                "Answers not stored for exceeding max_entry_bytes.",
                self.too_large,
            ),
            (
                "backend_errors_total",
                "Backend operations that failed (served as misses).",
                self.backend_errors,
            ),
            (
                "evictions_total",
                "Entries evicted to stay under the size bound.",
                self.evictions,
            ),
        ];
        for (name, help, n) in counters {
            let _ = writeln!(
                out,
                "# HELP switchyard_cache_{name} {help}\n# TYPE switchyard_cache_{name} counter\nswitchyard_cache_{name}{{backend=\"{b}\"}} {n}"
            );
        }
        for (name, help, v) in [
            ("entries", "Entries stored now.", self.entries),
            ("bytes", "Bytes stored now.", self.bytes),
        ] {
            if let Some(v) = v {
                let _ = writeln!(
                    out,
                    "# HELP switchyard_cache_{name} {help}\n# TYPE switchyard_cache_{name} gauge\nswitchyard_cache_{name}{{backend=\"{b}\"}} {v}"
                );
            }
        }
    }
}
