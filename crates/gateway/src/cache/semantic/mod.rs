//! The semantic cache (opt-in per `[[models]]` entry with `semantic_cache`): when the exact
//! lookup misses, the request's last user turn is embedded by a local embedding model and the
//! stored answer of the most similar prompt in the same scope is served when the cosine
//! similarity reaches the binding's threshold (`cf-aig-cache-status: HIT`,
//! `cf-aig-cache-similarity`).
//!
//! ```text
//! exact miss ─► probe (scope + last user turn) ─► embed ─► index search ─► entry by its key ─► HIT
//!                   └─ tools / images / not a user turn: no semantic lookup     └─ gone: forgotten
//! upstream answer stored ─► (scope, key, vector) into the index and the backend's vector log
//! ```
//! The index lives in memory; the vector log in the cache backend (SQLite table, Redis sorted
//! set) is read at start-up and then every second in the background (when a binding has a
//! semantic cache), so answers survive restarts and one replica's answers serve the others.
//!
//! - [`prompt`]: what is compared, and within which scope.
//! - [`index`]: the index of stored answers, one HNSW graph per scope.
//! - [`hnsw`]: the graph.

mod hnsw;
pub mod index;
pub(crate) mod prompt;

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue};
use switchyard_store::{CacheKey, VectorRecord};

use self::index::{Index, ScopeId, Vector};
use super::flight::{Leader, Outcome};
use super::key::key_header;
use super::shared::Shared;
use super::{CacheStatus, Lookup, ResponseCache, CACHE_KEY};
use crate::call::PreparedCall;
use crate::Reply;

pub static CACHE_SIMILARITY: HeaderName = HeaderName::from_static("cf-aig-cache-similarity");

/// How often the backend's vector log is read for other replicas' answers.
const SYNC_EVERY: Duration = Duration::from_secs(1);
/// Records read per round trip.
const SYNC_BATCH: usize = 4096;
const RECORD_VERSION: u8 = 1;

/// What a semantic lookup found.
pub(crate) enum Similarity {
    /// A stored answer for a prompt that means the same.
    Hit(Box<Reply>),
    /// None: the answer to come is indexed under the prompt's vector (when there is one).
    Miss(Option<Similar>),
}

/// What a semantic lookup learnt, kept to index the answer once it is stored.
pub(crate) struct Similar {
    pub scope: ScopeId,
    pub vector: Vector,
}

/// The index and its place in the backend's vector log.
pub(crate) struct Semantic {
    index: Index,
    max_entries: usize,
    /// How far the vector log has been read.
    cursor: std::sync::atomic::AtomicU64,
}

impl Semantic {
    pub(crate) fn new(max_entries: usize) -> Self {
        Semantic {
            index: Index::new(max_entries),
            max_entries,
            cursor: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.index.len()
    }

    pub(crate) fn clear(&self) {
        self.index.clear();
    }
}

/// Reads the backend's vector log into the index at start-up and then every second, off the
/// request path (graph inserts run on the blocking pool), until the cache is dropped.
pub(crate) fn start_sync(shared: &Arc<Shared>) {
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        loop {
            let Some(shared) = weak.upgrade() else { return };
            shared.sync_vectors().await;
            drop(shared);
            tokio::time::sleep(SYNC_EVERY).await;
        }
    });
}

impl Shared {
    /// Reads what the vector log gained since the last read.
    async fn sync_vectors(self: &Arc<Self>) {
        use std::sync::atomic::Ordering;
        loop {
            let cursor = self.semantic.cursor.load(Ordering::Acquire);
            let (records, next) = match self.backend.vectors_since(cursor, SYNC_BATCH).await {
                Ok(r) => r,
                Err(e) => {
                    self.backend_failed("vector log read", &e);
                    return;
                }
            };
            self.semantic.cursor.store(next, Ordering::Release);
            let n = records.len();
            let shared = Arc::clone(self);
            let compact = tokio::task::spawn_blocking(move || {
                let mut compact = false;
                for r in records {
                    if let Some((scope, key, expires_ms, v)) = decode(&r) {
                        compact |= shared.semantic.index.insert(scope, key, v, expires_ms);
                    }
                }
                compact
            })
            .await
            .unwrap_or(false);
            if compact {
                self.compact_vectors();
            }
            if n < SYNC_BATCH {
                return;
            }
        }
    }

    /// A stored answer joins the index and the vector log.
    pub(crate) async fn index_answer(
        self: &Arc<Self>,
        similar: Similar,
        key: &CacheKey,
        ttl: Duration,
    ) {
        let expires_ms = self.clock.now_ms().saturating_add(ttl.as_millis() as u64);
        let value = encode(&similar.scope, key, expires_ms, &similar.vector);
        let shared = Arc::clone(self);
        let key_owned = *key;
        // a graph insert takes about a millisecond at 100k entries: not on an async worker
        let compact = tokio::task::spawn_blocking(move || {
            shared
                .semantic
                .index
                .insert(similar.scope, key_owned, similar.vector, expires_ms)
        })
        .await
        .unwrap_or(false);
        if compact {
            self.compact_vectors();
        }
        let record = VectorRecord {
            value,
            ttl,
            max_records: self.semantic.max_entries as u64,
        };
        if let Err(e) = self.backend.vectors_append(record).await {
            self.backend_failed("vector log write", &e);
        }
    }

    fn compact_vectors(self: &Arc<Self>) {
        let shared = Arc::clone(self);
        let now = self.clock.now_ms();
        tokio::task::spawn_blocking(move || shared.semantic.index.compact(now));
    }
}

impl ResponseCache {
    /// After an exact miss: the answer of a prompt that means the same, if the binding has a
    /// semantic cache and one is close enough. On a hit the identical requests waiting on
    /// `leader` get it too.
    pub(crate) async fn find_similar(
        &self,
        runtime: &switchyard_runtime::Runtime,
        call: &PreparedCall,
        body: &[u8],
        lookup: &Lookup,
        leader: &Leader,
    ) -> Similarity {
        let Some(config) = call.semantic() else {
            return Similarity::Miss(None);
        };
        let rules = prompt::Rules {
            provider: call.provider().name(),
            model: call.upstream_model(),
            embedder: &config.embedder,
            tools: config.tools,
            caller: &lookup.identity,
        };
        let Some(probe) = prompt::probe(call.api(), body, &rules) else {
            return Similarity::Miss(None);
        };
        let vector = match crate::local::embed(runtime, &config.embedder, &probe.text, false).await
        {
            Ok(v) => Vector::from(v),
            Err(e) => {
                // a prompt longer than the embedding model takes is compared exactly only
                tracing::debug!("semantic cache: not embedded: {e}");
                return Similarity::Miss(None);
            }
        };
        let now = self.shared.clock.now_ms();
        let near = self
            .shared
            .semantic
            .index
            .search(&probe.scope, &vector, config.threshold, now);
        for n in near {
            let Some(entry) = self.shared.get(&n.key).await else {
                self.shared.semantic.index.forget(&probe.scope, &n.key);
                continue;
            };
            let Some(mut reply) = self.reply_from(&entry, lookup, CacheStatus::Hit) else {
                continue;
            };
            self.shared.metrics.note_semantic_hit();
            let headers = reply.response.headers_mut();
            headers.insert(CACHE_KEY.clone(), key_header(&n.key));
            if let Ok(v) = HeaderValue::from_str(&format!("{:.4}", n.similarity)) {
                headers.insert(CACHE_SIMILARITY.clone(), v);
            }
            reply.served.similarity = Some(n.similarity);
            leader.finish(Outcome::Complete(Arc::new(entry)));
            return Similarity::Hit(Box::new(reply));
        }
        Similarity::Miss(Some(Similar {
            scope: probe.scope,
            vector,
        }))
    }
}

/// A vector-log record: version, scope, key, expiry, dimension, then the floats (little-endian).
fn encode(scope: &ScopeId, key: &CacheKey, expires_ms: u64, v: &[f32]) -> Bytes {
    let mut out = BytesMut::with_capacity(1 + 32 + 32 + 8 + 4 + v.len() * 4);
    out.put_u8(RECORD_VERSION);
    out.put_slice(scope);
    out.put_slice(key);
    out.put_u64_le(expires_ms);
    out.put_u32_le(v.len() as u32);
    for x in v {
        out.put_f32_le(*x);
    }
    out.freeze()
}

fn decode(b: &[u8]) -> Option<(ScopeId, CacheKey, u64, Vector)> {
    let (&version, rest) = b.split_first()?;
    if version != RECORD_VERSION || rest.len() < 76 {
        return None;
    }
    let scope: ScopeId = rest[..32].try_into().ok()?;
    let key: CacheKey = rest[32..64].try_into().ok()?;
    let expires_ms = u64::from_le_bytes(rest[64..72].try_into().ok()?);
    let dim = u32::from_le_bytes(rest[72..76].try_into().ok()?) as usize;
    let floats = rest.get(76..76 + dim * 4)?;
    let v: Vector = floats
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Some((scope, key, expires_ms, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_garbage_is_refused() {
        let v: Vec<f32> = vec![0.25, -0.5, 1.0];
        let b = encode(&[1; 32], &[2; 32], 99, &v);
        let (scope, key, exp, back) = decode(&b).unwrap();
        assert_eq!((scope, key, exp, &back[..]), ([1; 32], [2; 32], 99, &v[..]));
        assert!(decode(&b[..b.len() - 1]).is_none());
        assert!(decode(b"").is_none());
        let mut other = b.to_vec();
        other[0] = 9;
        assert!(decode(&other).is_none());
    }
}
