//! [`Keys`]: gateway API keys (`sy-…`). A key is 256 random bits, shown once; the store keeps its
//! SHA-256 (a fast hash is right for random keys: there is nothing to guess). Checking a key is a
//! hash and a map lookup: records are cached in memory for [`FRESH`], so a key disabled or deleted
//! on another replica stops working within that time (at once on this one).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ring::rand::{SecureRandom, SystemRandom};
use serde::Deserialize;
use switchyard_config::limits::{parse_budget, parse_rate, Budget, RateLimit};
use switchyard_store::keys::{KeyRecord, KeyStore};
use switchyard_store::StoreError;

use crate::GatewayError;

/// How long a looked-up key (or its absence) is trusted before the store is asked again.
pub const FRESH: Duration = Duration::from_secs(5);
const MISSING_FRESH: Duration = Duration::from_secs(1);
pub const PREFIX: &str = "sy-";

/// The key a request authenticated with (a request extension), its own rate limit and budget
/// parsed once when the record is loaded.
#[derive(Debug, Clone)]
pub struct ApiKey(pub Arc<KeyRecord>, Arc<OwnLimits>);

#[derive(Debug)]
struct OwnLimits {
    rate: Option<RateLimit>,
    budget: Option<Budget>,
    /// Their counter names, made once.
    counters: (Arc<str>, Arc<str>),
}

impl ApiKey {
    pub fn new(record: KeyRecord) -> Self {
        // stored specs were checked when the key was made
        let rate = record
            .rate_limit
            .as_deref()
            .and_then(|r| parse_rate(r).ok());
        let rate_counter = rate
            .as_ref()
            .map(|r| super::limits::rate_counter("key-own:", &record.id, r))
            .unwrap_or_default();
        let limits = OwnLimits {
            rate,
            budget: record.budget.as_deref().and_then(|b| parse_budget(b).ok()),
            counters: (
                Arc::from(rate_counter),
                Arc::from(format!("bg:key-own:{}", record.id)),
            ),
        };
        ApiKey(Arc::new(record), Arc::new(limits))
    }

    /// The key's own rate limit (`--rate-limit`).
    pub fn own_rate(&self) -> Option<&RateLimit> {
        self.1.rate.as_ref()
    }

    /// The key's own budget (`--budget`).
    pub fn own_budget(&self) -> Option<&Budget> {
        self.1.budget.as_ref()
    }

    /// The counter names of its own rate limit and budget.
    pub(crate) fn own_counters(&self) -> &(Arc<str>, Arc<str>) {
        &self.1.counters
    }

    pub fn id(&self) -> &str {
        &self.0.id
    }

    /// Refuses a model the key is not allowed to call (403).
    pub fn check_model(&self, requested: &str) -> Result<(), GatewayError> {
        let models = &self.0.models;
        if models.is_empty() || models.iter().any(|m| m == requested) {
            return Ok(());
        }
        Err(GatewayError::forbidden(format!(
            "API key `{}` may not call model `{requested}` (allowed: {})",
            self.0.name,
            models.join(", ")
        )))
    }
}

/// `POST /api/keys` and `switchyard keys create`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    pub name: String,
    #[serde(default)]
    pub models: Vec<String>,
    /// `30d`, `12h`, `90m` from now.
    pub expires: Option<String>,
    /// `100/min`, `50000 tokens/hour`.
    pub rate_limit: Option<String>,
    /// USD per day, week or month: `10/month`.
    pub budget: Option<String>,
}

struct Cached {
    record: ApiKey,
    at: Instant,
}

/// Unknown keys remembered at most (a client guessing keys must not grow memory without bound).
const MAX_MISSES: usize = 10_000;
/// Store look-ups of uncached keys at once: guessed keys cost the store a bounded load.
const LOOKUPS: usize = 8;

pub struct Keys {
    store: Arc<KeyStore>,
    /// Keys that exist, by their SHA-256 (the raw digest: no hex on the request path); as many
    /// as the store holds.
    cache: RwLock<HashMap<Digest, Cached>>,
    /// Digests the store does not know, for [`MISSING_FRESH`]: bounded, least used first out.
    misses: moka::sync::Cache<Digest, ()>,
    lookups: tokio::sync::Semaphore,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

type Digest = [u8; 32];

fn sha256(s: &str) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn sha256_hex(s: &str) -> String {
    hex::encode(sha256(s))
}

/// `30d` / `12h` / `90m` / `45s` → a duration.
pub fn parse_span(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = s[..split].parse().ok().filter(|n| *n > 0)?;
    let unit = match &s[split..] {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(n.checked_mul(unit)?))
}

impl Keys {
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Ok(Keys {
            store: Arc::new(KeyStore::open(url).await?),
            cache: RwLock::new(HashMap::new()),
            misses: moka::sync::Cache::builder()
                .max_capacity(MAX_MISSES as u64)
                .time_to_live(MISSING_FRESH)
                .build(),
            lookups: tokio::sync::Semaphore::new(LOOKUPS),
        })
    }

    /// Makes a key; returns it (the only time it is seen) and its record.
    pub async fn create(&self, new: &NewKey) -> Result<(String, KeyRecord), GatewayError> {
        let name = new.name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(GatewayError::bad_body(
                "`name` must be 1 to 100 characters".into(),
            ));
        }
        let expires_at = match &new.expires {
            Some(e) => Some(
                now_ms()
                    + parse_span(e)
                        .ok_or_else(|| {
                            GatewayError::bad_body(format!(
                                "`expires`: `{e}` is not a span like 30d, 12h or 90m"
                            ))
                        })?
                        .as_millis() as i64,
            ),
            None => None,
        };
        if let Some(r) = &new.rate_limit {
            switchyard_config::limits::parse_rate(r).map_err(GatewayError::bad_body)?;
        }
        if let Some(b) = &new.budget {
            switchyard_config::limits::parse_budget(b).map_err(GatewayError::bad_body)?;
        }
        let rng = SystemRandom::new();
        let mut secret = [0u8; 32];
        let mut id = [0u8; 8];
        rng.fill(&mut secret)
            .and_then(|()| rng.fill(&mut id))
            .map_err(|_| GatewayError::internal("no randomness for a new key"))?;
        let key = format!("{PREFIX}{}", hex::encode(secret));
        let record = KeyRecord {
            id: format!("key_{}", hex::encode(id)),
            name: name.to_owned(),
            prefix: key[..PREFIX.len() + 6].to_owned(),
            hash: sha256_hex(&key),
            created_at: now_ms(),
            expires_at,
            disabled: false,
            models: new.models.clone(),
            rate_limit: new.rate_limit.clone(),
            budget: new.budget.clone(),
        };
        self.store.create(&record).await.map_err(store_error)?;
        Ok((key, record))
    }

    /// The record of a presented key, or why it is refused.
    pub async fn authenticate(&self, key: &str) -> Result<ApiKey, GatewayError> {
        let refused = || GatewayError::unauthorized("invalid API key".to_owned());
        if !key.starts_with(PREFIX) {
            return Err(refused());
        }
        let digest = sha256(key);
        let record = match self.cached(&digest) {
            Some(record) => record,
            None => {
                let _turn =
                    self.lookups.acquire().await.map_err(|_| {
                        GatewayError::internal("the key store is closed".to_owned())
                    })?;
                let found = self
                    .store
                    .by_hash(&hex::encode(digest))
                    .await
                    .map_err(store_error)?
                    .map(ApiKey::new);
                self.remember(digest, found.clone());
                found
            }
        };
        let key = record.ok_or_else(refused)?;
        let record = &key.0;
        if record.disabled {
            return Err(GatewayError::unauthorized(format!(
                "API key `{}` is disabled",
                record.name
            )));
        }
        if record.expires_at.is_some_and(|t| t <= now_ms()) {
            return Err(GatewayError::unauthorized(format!(
                "API key `{}` has expired",
                record.name
            )));
        }
        Ok(key)
    }

    /// `Some(Some(key))`: known and fresh; `Some(None)`: recently not found; `None`: ask the store.
    fn cached(&self, hash: &Digest) -> Option<Option<ApiKey>> {
        let cache = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cache.get(hash).filter(|c| c.at.elapsed() < FRESH) {
            return Some(Some(c.record.clone()));
        }
        self.misses.contains_key(hash).then_some(None)
    }

    fn remember(&self, hash: Digest, record: Option<ApiKey>) {
        let Some(record) = record else {
            self.misses.insert(hash, ());
            return;
        };
        self.misses.invalidate(&hash);
        let mut cache = self
            .cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // only keys that exist are here: past this many, drop the stale ones first
        if cache.len() > 100_000 {
            cache.retain(|_, c| c.at.elapsed() < FRESH);
        }
        cache.insert(
            hash,
            Cached {
                record,
                at: Instant::now(),
            },
        );
    }

    fn forget(&self, id: &str) {
        self.cache
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|_, c| c.record.0.id != id);
    }

    /// Entries held for keys (found and not found).
    #[cfg(test)]
    fn cached_entries(&self) -> u64 {
        self.misses.run_pending_tasks();
        let known = self
            .cache
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len() as u64;
        known + self.misses.entry_count()
    }

    /// The store, shared with the [`super::Vault`].
    pub fn store(&self) -> Arc<KeyStore> {
        self.store.clone()
    }

    pub async fn list(&self) -> Result<Vec<KeyRecord>, GatewayError> {
        self.store.list().await.map_err(store_error)
    }

    pub async fn get(&self, id: &str) -> Result<Option<KeyRecord>, GatewayError> {
        self.store.get(id).await.map_err(store_error)
    }

    /// False when no such key.
    pub async fn set_disabled(&self, id: &str, disabled: bool) -> Result<bool, GatewayError> {
        let done = self
            .store
            .set_disabled(id, disabled)
            .await
            .map_err(store_error)?;
        self.forget(id);
        Ok(done)
    }

    /// False when no such key.
    pub async fn delete(&self, id: &str) -> Result<bool, GatewayError> {
        let done = self.store.delete(id).await.map_err(store_error)?;
        self.forget(id);
        Ok(done)
    }
}

fn store_error(e: StoreError) -> GatewayError {
    GatewayError::internal(format!("the key store failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_parse() {
        assert_eq!(parse_span("30d"), Some(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_span("90m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_span("0d"), None);
        assert_eq!(parse_span("d"), None);
        assert_eq!(parse_span("3w"), None);
    }

    #[tokio::test]
    async fn unknown_keys_do_not_grow_the_cache_without_bound() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("keys.db").display());
        let keys = Keys::open(&url).await.unwrap();
        // what a client guessing keys leaves behind
        for i in 0..(3 * MAX_MISSES) as u32 {
            let mut digest = [0u8; 32];
            digest[..4].copy_from_slice(&i.to_le_bytes());
            keys.remember(digest, None);
        }
        assert!(
            keys.cached_entries() <= MAX_MISSES as u64,
            "{} entries",
            keys.cached_entries()
        );
        // and a guessed key is refused without a second look-up while it is remembered
        assert_eq!(keys.authenticate("sy-guess").await.unwrap_err().status, 401);
        assert!(matches!(keys.cached(&sha256("sy-guess")), Some(None)));
    }

    #[tokio::test]
    async fn keys_are_shown_once_stored_hashed_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("keys.db").display());
        let keys = Keys::open(&url).await.unwrap();
        let (key, record) = keys
            .create(&NewKey {
                name: "ci".into(),
                models: vec!["gpt-4o-mini".into()],
                ..NewKey::default()
            })
            .await
            .unwrap();
        assert!(key.starts_with("sy-") && key.len() == 67);
        assert_ne!(record.hash, key);
        assert!(key.starts_with(&record.prefix));
        let ok = keys.authenticate(&key).await.unwrap();
        assert_eq!(ok.id(), record.id);
        assert!(ok.check_model("gpt-4o-mini").is_ok());
        assert_eq!(ok.check_model("gpt-4o").unwrap_err().status, 403);
        assert_eq!(keys.authenticate("sy-nope").await.unwrap_err().status, 401);
        assert_eq!(keys.authenticate("sk-other").await.unwrap_err().status, 401);
        assert!(keys.set_disabled(&record.id, true).await.unwrap());
        let e = keys.authenticate(&key).await.unwrap_err();
        assert!(e.message.contains("disabled"), "{}", e.message);
        assert!(keys.delete(&record.id).await.unwrap());
        assert!(keys.authenticate(&key).await.is_err());
        assert!(!keys.delete(&record.id).await.unwrap());
    }
}
