//! The response cache: exact-match, streaming-aware, coalescing, on any [`CacheBackend`].
//!
//! One request's path through it ([`crate::Gateway::handle`] calls these steps by name):
//! ```text
//! plan ──Off/Bypass──────────────────────────────► upstream (Bypass: MISS, x-switchyard-cache: bypass)
//!   └─Use(key, ttl)─► find ─► stored entry that can answer this mode ─► HIT (age: …)
//!                       ├──► identical request in the air ─► follow it ─► HIT (coalesced)
//!                       └──► lead ─► upstream ─► record (MISS): followers fed as chunks pass,
//!                                                 entry stored once the answer is complete
//! ```
//! # Layout
//! - [`controls`]: the `cf-aig-cache-*` request headers.
//! - [`key`]: SHA-256 over the request's scope and canonical body.
//! - [`entry`]: a stored answer and its encoding (lz4 for backends that cross a socket or a disk).
//! - [`replay`]: answering from an entry in either mode (stream ⇄ JSON).
//! - [`flight`]: coalescing of identical in-flight requests.
//! - [`record`]: recording an answer as it passes; storing it when complete.
//! - [`shared`]: the backend, counters and clock that store tasks share; the cache's clock.
//! - [`metrics`]: counters and [`CacheStats`].

pub mod controls;
pub mod entry;
mod flight;
mod key;
mod metrics;
mod record;
pub(crate) mod replay;
pub mod semantic;
pub(crate) use semantic::Similarity;
mod shared;
pub mod status;

use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderValue, AGE, CACHE_CONTROL, CONTENT_TYPE};
use http::Response;
use switchyard_config::{CacheBackendConfig, CacheConfig};
use switchyard_store::cache::{MemoryCache, RedisCache, RedisSettings, SqliteCache};
use switchyard_store::{CacheBackend, CacheKey, StoreError};

pub use self::controls::CacheControls;
use self::entry::Entry;
use self::flight::{Flights, Follower, Head, Joined, Leader, Outcome};
use self::key::key_header;
pub use self::key::parse_key;
pub use self::metrics::CacheStats;
use self::metrics::Metrics;
pub use self::record::Recorder;
use self::record::StoreJob;
use self::replay::Wanted;
use self::shared::{Clock, Shared};
pub use self::status::{CacheStatus, CACHE_KEY};
pub use switchyard_store::Purge;

use crate::call::PreparedCall;
use crate::relay::{self, RelayError};
use crate::reply::{Reply, ServedNote};
use crate::{GatewayError, ReplyBody};

/// The cache's decision for one request.
pub(crate) enum Plan {
    /// Caching is not on for this request.
    Off,
    /// The request asked to skip the cache.
    Bypass,
    Use(Lookup),
}

pub(crate) struct Lookup {
    key: CacheKey,
    /// A caller-chosen key's tag (stored with the entry, for purges).
    tag: Option<CacheKey>,
    /// Whose entries these are (empty: the cache is shared by every caller).
    identity: String,
    ttl: Duration,
    want: Wanted,
    /// For the reply's log record.
    requested: String,
    provider_kind: &'static str,
}

/// What [`ResponseCache::find`] found.
pub(crate) enum Found {
    Hit(Box<Reply>),
    /// Nothing usable: this request calls upstream and records the answer.
    Lead(Leader),
    /// The identical request this one followed failed.
    Failed(GatewayError),
}

/// What [`ResponseCache::lookup`] found.
pub(crate) enum Looked {
    /// A stored answer (for this request or, semantically, one that means the same), or the
    /// answer of an identical request in the air.
    Answered(Box<Reply>),
    /// The provider answers; [`ResponseCache::store`] then takes its result.
    Miss(Pending),
}

/// What the cache will do with the provider's answer.
pub(crate) enum Pending {
    /// Caching is not on for this request.
    Off,
    /// The request asked to skip the cache (the answer says `bypass`).
    Bypass,
    /// This request leads: its answer is stored and fed to requests coalesced onto it.
    Lead(Box<Lead>),
}

pub(crate) struct Lead {
    leader: Leader,
    lookup: Lookup,
    similar: Option<semantic::Similar>,
}

pub struct ResponseCache {
    shared: Arc<Shared>,
    flights: Flights,
    default_ttl: Option<Duration>,
    coalesce: bool,
    /// `[cache] shared`: one cache for every gateway key (else each key has its own entries).
    shared_across_keys: bool,
}

impl ResponseCache {
    /// Opens the configured backend (creating the SQLite file; Redis connects on first use).
    pub async fn open(config: &CacheConfig) -> Result<Self, StoreError> {
        let backend = match &config.backend {
            CacheBackendConfig::Memory { max_bytes } => {
                CacheBackend::Memory(MemoryCache::new(*max_bytes))
            }
            CacheBackendConfig::Sqlite { path, max_bytes } => {
                CacheBackend::Sqlite(SqliteCache::open(path, *max_bytes).await?)
            }
            CacheBackendConfig::Redis {
                url,
                prefix,
                timeout,
            } => CacheBackend::Redis(Box::new(RedisCache::new(RedisSettings {
                url: url.expose().to_owned(),
                prefix: prefix.clone(),
                timeout: *timeout,
            })?)),
        };
        let shared = Arc::new(Shared {
            backend,
            metrics: Metrics::default(),
            clock: Clock::new(),
            max_entry_bytes: config.max_entry_bytes,
            compress_min: config.compress_min_bytes,
            semantic: semantic::Semantic::new(config.semantic_max_entries),
        });
        if config.semantic {
            semantic::start_sync(&shared);
        }
        Ok(ResponseCache {
            shared,
            flights: Flights::default(),
            default_ttl: config.ttl,
            coalesce: config.coalesce,
            shared_across_keys: config.shared,
        })
    }

    pub fn backend_name(&self) -> &'static str {
        self.shared.backend.name()
    }

    /// Decides whether and how the cache takes part in this call, made by the caller `caller` (a
    /// gateway key's id; empty without keys).
    pub(crate) fn plan(
        &self,
        call: &PreparedCall,
        body: &[u8],
        controls: &CacheControls,
        caller: &str,
    ) -> Result<Plan, GatewayError> {
        if controls.skip {
            return Ok(Plan::Bypass);
        }
        let ttl = match (controls.ttl, call.cache_ttl(), self.default_ttl) {
            (Some(ttl), _, _) if ttl.is_zero() => return Ok(Plan::Bypass),
            (Some(ttl), _, _) => ttl,
            (None, Some(ttl), _) | (None, None, Some(ttl)) if !ttl.is_zero() => ttl,
            // a semantic cache brings its own TTL (an alias's explicit 0 still turns caching off)
            (None, None, _) if call.semantic().is_some() => {
                call.semantic().map_or(Duration::ZERO, |s| s.ttl)
            }
            _ => return Ok(Plan::Off),
        };
        let api = call.api();
        let identity = if self.shared_across_keys { "" } else { caller };
        let scope = key::KeyScope {
            provider: call.provider().name(),
            api: api.name(),
            model: call.upstream_model(),
            identity,
        };
        let keyed = key::request_key(&scope, body)
            .map_err(|e| GatewayError::bad_body(format!("request body is not valid JSON: {e}")))?;
        let include_usage = keyed.include_usage;
        let (key, tag) = match &controls.key {
            Some(custom) => (
                key::custom_key(&scope, custom),
                Some(key::custom_tag(custom)),
            ),
            None => (keyed.key, None),
        };
        Ok(Plan::Use(Lookup {
            key,
            tag,
            identity: identity.to_owned(),
            ttl,
            requested: call.requested().to_owned(),
            provider_kind: call.provider().spec().kind.name(),
            want: Wanted {
                api,
                stream: call.is_stream(),
                include_usage,
            },
        }))
    }

    /// The cache step before the provider is called: plan the key, look it up, follow an
    /// identical request in the air, else look for an answer to a prompt that means the same.
    pub(crate) async fn lookup(
        &self,
        runtime: &switchyard_runtime::Runtime,
        call: &PreparedCall,
        body: &bytes::Bytes,
        controls: &CacheControls,
        caller: &str,
    ) -> Result<Looked, GatewayError> {
        let lookup = match self.plan(call, body, controls, caller)? {
            Plan::Off => return Ok(Looked::Miss(Pending::Off)),
            Plan::Bypass => {
                self.note_bypass();
                return Ok(Looked::Miss(Pending::Bypass));
            }
            Plan::Use(lookup) => lookup,
        };
        let leader = match self.find(&lookup).await {
            Found::Hit(reply) => return Ok(Looked::Answered(reply)),
            Found::Failed(e) => return Err(e),
            Found::Lead(leader) => leader,
        };
        match self
            .find_similar(runtime, call, body, &lookup, &leader)
            .await
        {
            Similarity::Hit(reply) => Ok(Looked::Answered(reply)),
            Similarity::Miss(similar) => Ok(Looked::Miss(Pending::Lead(Box::new(Lead {
                leader,
                lookup,
                similar,
            })))),
        }
    }

    /// The cache step after the provider answered: the answer stored (and fed to followers), or
    /// marked as having bypassed the cache.
    pub(crate) fn store(
        &self,
        pending: Pending,
        result: Result<Reply, GatewayError>,
    ) -> Result<Reply, GatewayError> {
        match pending {
            Pending::Off => result,
            Pending::Bypass => result.map(|mut reply| {
                reply.mark_cache(CacheStatus::Bypass);
                reply
            }),
            Pending::Lead(lead) => {
                let Lead {
                    leader,
                    lookup,
                    similar,
                } = *lead;
                self.record(leader, &lookup, similar, result)
            }
        }
    }

    pub(crate) fn note_bypass(&self) {
        self.shared.metrics.note_bypass();
    }

    /// A stored answer, the answer of an identical request in the air, or the lead.
    pub(crate) async fn find(&self, lookup: &Lookup) -> Found {
        const ATTEMPTS: usize = 3;
        for _ in 0..ATTEMPTS {
            if let Some(entry) = self.shared.get(&lookup.key).await {
                if let Some(reply) = self.reply_from(&entry, lookup, CacheStatus::Hit) {
                    self.shared.metrics.note_hit();
                    return Found::Hit(Box::new(reply));
                }
            }
            if !self.coalesce {
                break;
            }
            match self.flights.join(lookup.key) {
                Joined::Leader(leader) => {
                    self.shared.metrics.note_miss();
                    return Found::Lead(leader);
                }
                Joined::Follower(follower) => match self.follow(follower, lookup).await {
                    Followed::Reply(reply) => {
                        if reply.served.cache == Some(CacheStatus::Hit) {
                            self.shared.metrics.note_hit();
                        } else {
                            self.shared.metrics.note_coalesced();
                        }
                        return Found::Hit(reply);
                    }
                    Followed::Failed(e) => return Found::Failed(e),
                    // the leader went away: look again (one of the waiting requests leads)
                    Followed::Retry => continue,
                    // its answer cannot serve this caller (see `replay`): make an own call
                    Followed::OwnCall => break,
                },
            }
        }
        self.shared.metrics.note_miss();
        Found::Lead(Leader::solo(lookup.key))
    }

    async fn follow(&self, mut follower: Follower, lookup: &Lookup) -> Followed {
        let status = if follower.landed() {
            CacheStatus::Hit
        } else {
            CacheStatus::Coalesced
        };
        let outcome = match follower.head_or_outcome().await {
            Ok(head) if lookup.want.stream && head.include_usage == lookup.want.include_usage => {
                return Followed::Reply(Box::new(self.streaming_follower(follower, head, lookup)));
            }
            Ok(_) => follower.outcome().await,
            Err(outcome) => outcome,
        };
        match outcome {
            Outcome::Complete(entry) => match self.reply_from(&entry, lookup, status) {
                Some(reply) => Followed::Reply(Box::new(reply)),
                None => Followed::OwnCall,
            },
            Outcome::Failed(e) => Followed::Failed(e),
            Outcome::Abandoned => Followed::Retry,
        }
    }

    /// A streaming request following a streaming leader: the leader's chunks, as they arrive.
    fn streaming_follower(&self, follower: Follower, head: Head, lookup: &Lookup) -> Reply {
        let dialect = lookup.want.api.dialect();
        let provider = head.provider.clone();
        let chunks = futures_util::StreamExt::map(follower.chunks(), move |chunk| match chunk {
            Ok(bytes) => Ok(bytes),
            Err(_) => Ok::<_, RelayError>(relay::error_event(
                dialect,
                "stream_broken",
                &format!("the shared stream from provider `{provider}` ended early"),
            )),
        });
        let mut response = Response::new(ReplyBody::stream(chunks));
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&head.content_type) {
            headers.insert(CONTENT_TYPE, v);
        }
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        CacheStatus::Coalesced.write_headers(headers);
        headers.insert(AGE, HeaderValue::from_static("0"));
        headers.insert(CACHE_KEY.clone(), key_header(&lookup.key));
        Reply::new(
            response,
            ServedNote {
                stream: true,
                cache: Some(CacheStatus::Coalesced),
                requested_model: Some(lookup.requested.clone()),
                ..ServedNote::new(head.provider, head.model, lookup.provider_kind)
            },
        )
    }

    /// The reply an entry gives this caller, if it can give one.
    fn reply_from(&self, entry: &Entry, lookup: &Lookup, status: CacheStatus) -> Option<Reply> {
        let (body, content_type) = replay::render(entry, &lookup.want)?;
        let age = self
            .shared
            .clock
            .now_ms()
            .saturating_sub(entry.meta.created_ms)
            / 1000;
        let mut response = Response::new(ReplyBody::full(body));
        let headers = response.headers_mut();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_str(&content_type).unwrap_or(HeaderValue::from_static(replay::JSON)),
        );
        if lookup.want.stream {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        }
        status.write_headers(headers);
        headers.insert(AGE, HeaderValue::from(age));
        headers.insert(CACHE_KEY.clone(), key_header(&lookup.key));
        let served = (entry.meta.provider.clone(), entry.meta.model.clone());
        Some(Reply::new(
            response,
            ServedNote {
                stream: lookup.want.stream,
                cache: Some(status),
                saved_usage: entry.meta.usage,
                requested_model: Some(lookup.requested.clone()),
                ..ServedNote::new(served.0, served.1, lookup.provider_kind)
            },
        ))
    }

    /// Marks the leader's answer `MISS` and records it: a JSON answer now, a stream as it passes.
    /// A failure is published to the followers.
    pub(crate) fn record(
        &self,
        leader: Leader,
        lookup: &Lookup,
        similar: Option<semantic::Similar>,
        result: Result<Reply, GatewayError>,
    ) -> Result<Reply, GatewayError> {
        let mut reply = match result {
            Ok(reply) => reply,
            Err(e) => {
                leader.finish(Outcome::Failed(e.clone()));
                return Err(e);
            }
        };
        reply.served.cache = Some(CacheStatus::Miss);
        let headers = reply.response.headers_mut();
        CacheStatus::Miss.write_headers(headers);
        headers.insert(CACHE_KEY.clone(), key_header(&lookup.key));
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(replay::JSON)
            .to_owned();
        let job = StoreJob {
            shared: self.shared.clone(),
            leader,
            tag: lookup.tag,
            ttl: lookup.ttl,
            api: lookup.want.api,
            provider: reply.served.provider.clone(),
            model: reply.served.model.clone(),
            content_type,
            similar,
        };
        if let Some(body) = reply.response.body().full_bytes() {
            job.finish(body.clone(), false);
            return Ok(reply);
        }
        job.leader.head(Head {
            content_type: job.content_type.clone(),
            provider: job.provider.clone(),
            model: job.model.clone(),
            include_usage: lookup.want.include_usage,
        });
        let body = std::mem::replace(reply.response.body_mut(), ReplyBody::empty());
        *reply.response.body_mut() = ReplyBody::recorded(body, |b| Recorder::new(b, job));
        Ok(reply)
    }

    /// The tag of every entry stored under a `cf-aig-cache-key` value (to purge them).
    pub fn custom_tag(&self, key: &str) -> CacheKey {
        key::custom_tag(key)
    }

    /// `DELETE /api/cache…`: how many entries went.
    pub async fn purge(&self, purge: &Purge) -> Result<u64, StoreError> {
        if *purge == Purge::All {
            self.shared.semantic.clear();
        }
        self.shared.backend.purge(purge).await
    }

    /// `GET /api/cache`.
    pub async fn stats(&self) -> CacheStats {
        let mut stats = self.shared.metrics.snapshot(self.shared.backend.name());
        stats.semantic_entries = self.shared.semantic.len() as u64;
        match self.shared.backend.stats().await {
            Ok(b) => {
                stats.entries = b.entries;
                stats.bytes = b.bytes;
                stats.evictions = b.evictions;
            }
            Err(e) => self.shared.backend_failed("stats", &e),
        }
        stats
    }
}

enum Followed {
    Reply(Box<Reply>),
    Failed(GatewayError),
    Retry,
    OwnCall,
}

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;
