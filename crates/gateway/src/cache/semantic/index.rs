//! The approximate nearest-neighbour index of the semantic cache: one HNSW graph per scope (the
//! provider, model, parameters and earlier conversation a stored answer is valid for), over unit
//! vectors, compared by cosine similarity.
//!
//! HNSW graphs cannot delete, so an entry that expired or whose answer is gone is marked dead and
//! skipped; a scope whose dead entries pile up, or an index over its bound, is compacted: the live
//! entries (the newest ones when over the bound) are copied into a new graph built without holding
//! the lock, and swapped in with whatever was added meanwhile.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::RwLock;

use switchyard_store::CacheKey;

pub use super::hnsw::dot;
use super::hnsw::Hnsw;

/// A unit vector from the embedding model.
pub type Vector = Box<[f32]>;

/// Which requests an answer may serve (a SHA-256, see `prompt`).
pub type ScopeId = CacheKey;

/// Candidates looked at per search (recall against speed).
const EF_SEARCH: usize = 64;
const EF_CONSTRUCTION: usize = 100;
/// Nearest neighbours returned per search.
const NEAREST: usize = 8;

struct Slot {
    key: CacheKey,
    expires_ms: u64,
    dead: bool,
}

#[derive(Default)]
struct Scope {
    graph: Option<Box<Hnsw>>,
    slots: Vec<Slot>,
    by_key: HashMap<CacheKey, usize>,
    /// Slots marked dead (expired ones are counted when compacting).
    dead: usize,
}

/// A stored answer whose prompt is close enough.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Near {
    pub key: CacheKey,
    pub similarity: f32,
}

pub struct Index {
    scopes: RwLock<HashMap<ScopeId, Scope>>,
    max_entries: usize,
    entries: AtomicUsize,
    compacting: AtomicBool,
}

impl Index {
    pub fn new(max_entries: usize) -> Self {
        Index {
            scopes: RwLock::new(HashMap::new()),
            max_entries: max_entries.max(16),
            entries: AtomicUsize::new(0),
            compacting: AtomicBool::new(false),
        }
    }

    /// Entries held (live or not yet compacted away).
    pub fn len(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live entries of `scope` with similarity ≥ `threshold` to `v`, most similar first.
    pub fn search(&self, scope: &ScopeId, v: &Vector, threshold: f32, now_ms: u64) -> Vec<Near> {
        let Ok(scopes) = self.scopes.read() else {
            return Vec::new();
        };
        let Some(s) = scopes.get(scope) else {
            return Vec::new();
        };
        let Some(g) = &s.graph else {
            return Vec::new();
        };
        let mut out: Vec<Near> = g
            .search(v, NEAREST, EF_SEARCH)
            .into_iter()
            .filter_map(|(index, similarity)| {
                let slot = s.slots.get(index)?;
                (!slot.dead && slot.expires_ms > now_ms && similarity >= threshold).then_some(
                    Near {
                        key: slot.key,
                        similarity,
                    },
                )
            })
            .collect();
        out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        out
    }

    /// Adds an answer (or renews it: the same key is kept once). Returns whether the index would
    /// like a compaction ([`Index::compact`]).
    pub fn insert(&self, scope: ScopeId, key: CacheKey, v: Vector, expires_ms: u64) -> bool {
        let Ok(mut scopes) = self.scopes.write() else {
            return false;
        };
        let s = scopes.entry(scope).or_default();
        if let Some(&i) = s.by_key.get(&key) {
            let slot = &mut s.slots[i];
            if slot.dead {
                slot.dead = false;
                s.dead -= 1;
            }
            slot.expires_ms = slot.expires_ms.max(expires_ms);
            return false;
        }
        let g = s
            .graph
            .get_or_insert_with(|| Box::new(Hnsw::new(v.len(), EF_CONSTRUCTION)));
        if g.dim() != v.len() {
            return false;
        }
        let i = g.insert(&v);
        debug_assert_eq!(i, s.slots.len());
        s.slots.push(Slot {
            key,
            expires_ms,
            dead: false,
        });
        s.by_key.insert(key, i);
        let total = self.entries.fetch_add(1, Ordering::Relaxed) + 1;
        total >= self.max_entries || s.dead * 2 > s.slots.len().max(128)
    }

    /// The answer behind `key` is gone (expired, purged, evicted): never offer it again.
    pub(crate) fn forget(&self, scope: &ScopeId, key: &CacheKey) {
        let Ok(mut scopes) = self.scopes.write() else {
            return;
        };
        if let Some(s) = scopes.get_mut(scope) {
            if let Some(&i) = s.by_key.get(key) {
                if !s.slots[i].dead {
                    s.slots[i].dead = true;
                    s.dead += 1;
                }
            }
        }
    }

    /// Drops everything (a purge of the whole cache).
    pub(crate) fn clear(&self) {
        if let Ok(mut scopes) = self.scopes.write() {
            scopes.clear();
            self.entries.store(0, Ordering::Relaxed);
        }
    }

    /// Rebuilds the scopes that need it: without their dead and expired entries and, while the
    /// index is over its bound, keeping only the newest entries of every scope, each in
    /// proportion to its size, so the whole comes back to three quarters of the bound however
    /// many scopes (callers, models) share it. Slow (graph builds): call it off the async
    /// workers. One compaction runs at a time.
    pub fn compact(&self, now_ms: u64) {
        if self.compacting.swap(true, Ordering::AcqRel) {
            return;
        }
        let targets: Vec<(ScopeId, usize)> = match self.scopes.read() {
            Ok(scopes) => {
                // (scope, live entries, dead or expired ones)
                let counts: Vec<(ScopeId, usize, usize, usize)> = scopes
                    .iter()
                    .map(|(id, s)| {
                        let gone = s
                            .slots
                            .iter()
                            .filter(|x| x.dead || x.expires_ms <= now_ms)
                            .count();
                        (*id, s.slots.len() - gone, gone, s.slots.len())
                    })
                    .collect();
                let live: usize = counts.iter().map(|c| c.1).sum();
                let over = self.len() >= self.max_entries;
                let target = if over {
                    self.max_entries * 3 / 4
                } else {
                    usize::MAX
                };
                let keeps = shares(&counts, live, target);
                counts
                    .iter()
                    .zip(keeps)
                    .filter(|((_, live, gone, slots), keep)| gone * 4 > *slots || keep < live)
                    .map(|((id, ..), keep)| (*id, keep))
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        for (id, keep) in targets {
            self.rebuild(&id, keep, now_ms);
        }
        self.compacting.store(false, Ordering::Release);
    }

    fn rebuild(&self, id: &ScopeId, keep: usize, now_ms: u64) {
        // copy the live entries out under the read lock (newest last)
        let (live, seen) = {
            let Ok(scopes) = self.scopes.read() else {
                return;
            };
            let Some(s) = scopes.get(id) else { return };
            let Some(g) = &s.graph else { return };
            let live: Vec<(CacheKey, u64, Vector)> = s
                .slots
                .iter()
                .enumerate()
                .filter(|(_, x)| !x.dead && x.expires_ms > now_ms)
                .map(|(i, x)| (x.key, x.expires_ms, Vector::from(g.vector(i))))
                .collect();
            (live, s.slots.len())
        };
        let skip = live.len().saturating_sub(keep);
        let mut fresh = Scope::default();
        for (key, expires_ms, v) in live.into_iter().skip(skip) {
            push(&mut fresh, key, expires_ms, &v);
        }
        let Ok(mut scopes) = self.scopes.write() else {
            return;
        };
        let Some(old) = scopes.get_mut(id) else {
            return;
        };
        // what was added while the new graph was built
        if let Some(g) = &old.graph {
            for (i, x) in old.slots.iter().enumerate().skip(seen) {
                if !x.dead {
                    push(&mut fresh, x.key, x.expires_ms, g.vector(i));
                }
            }
        }
        let before = old.slots.len();
        let after = fresh.slots.len();
        if after == 0 {
            scopes.remove(id);
        } else {
            *old = fresh;
        }
        self.entries
            .fetch_sub(before - after.min(before), Ordering::Relaxed);
    }
}

/// How many live entries each scope keeps so that `live` in all comes down to `target`: each its
/// share in proportion (rounded down, the rest handed to the largest remainders); every scope
/// keeps all when the whole already fits.
fn shares(counts: &[(ScopeId, usize, usize, usize)], live: usize, target: usize) -> Vec<usize> {
    if live <= target {
        return counts.iter().map(|c| c.1).collect();
    }
    let exact: Vec<f64> = counts
        .iter()
        .map(|c| c.1 as f64 * target as f64 / live as f64)
        .collect();
    let mut keeps: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut by_remainder: Vec<usize> = (0..counts.len()).collect();
    by_remainder
        .sort_by(|&a, &b| (exact[b] - exact[b].floor()).total_cmp(&(exact[a] - exact[a].floor())));
    let left = target.saturating_sub(keeps.iter().sum());
    for &i in by_remainder.iter().take(left) {
        keeps[i] += 1;
    }
    keeps
}

fn push(s: &mut Scope, key: CacheKey, expires_ms: u64, v: &[f32]) {
    if s.by_key.contains_key(&key) {
        return;
    }
    let g = s
        .graph
        .get_or_insert_with(|| Box::new(Hnsw::new(v.len(), EF_CONSTRUCTION)));
    let i = g.insert(v);
    s.slots.push(Slot {
        key,
        expires_ms,
        dead: false,
    });
    s.by_key.insert(key, i);
}

#[cfg(test)]
mod tests;
