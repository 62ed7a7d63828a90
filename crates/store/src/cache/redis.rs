//! Redis: one cache shared by every replica. Values are stored with `PX` (Redis expires them), and
//! each (provider, model) keeps a set of its keys so purge-by-model needs no keyspace scan.
//!
//! Connections are made lazily and re-made after failures by `redis`' `ConnectionManager`; every
//! command has a deadline, so a Redis that is down or stuck costs a request at most that deadline
//! (and the gateway then treats it as a miss).

use bytes::Bytes;
use redis::{AsyncCommands, Script};

use super::{hex, unix_ms, BackendStats, CacheKey, CacheRecord, Purge, StoreError, VectorRecord};
use crate::redis_link::RedisLink;
pub use crate::redis_link::RedisSettings;

/// Stores the value with its TTL and records its key in the model's set (and in its tag's set,
/// KEYS[3], when it has one), each set's own TTL kept at least as long as its longest entry's.
const PUT: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], ARGV[3])
  local ttl = redis.call('PTTL', KEYS[i])
  if ttl < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
end
return 1";

/// Deletes every entry listed in a model's set, then the set; returns how many entries existed.
const PURGE_MODEL: &str = r"
local n = 0
for _, k in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  n = n + redis.call('UNLINK', ARGV[1] .. k)
end
redis.call('UNLINK', KEYS[1])
return n";

/// Appends to the vector log: a sorted set scored by a sequence number (so every replica can read
/// what was added since its last look), capped at ARGV[2] members. Members start with their
/// expiry (16 hex digits) so readers skip the expired ones.
const VECTORS_APPEND: &str = r"
local n = redis.call('INCR', KEYS[2])
redis.call('ZADD', KEYS[1], n, ARGV[1])
local cap = tonumber(ARGV[2])
if redis.call('ZCARD', KEYS[1]) > cap then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(cap + 1))
end
return n";

pub struct RedisCache {
    link: RedisLink,
    settings: RedisSettings,
    put: Script,
    purge_model: Script,
    vectors_append: Script,
}

impl RedisCache {
    /// Checks the URL; connects on first use (a Redis that is down at start-up is not fatal).
    pub fn new(settings: RedisSettings) -> Result<Self, StoreError> {
        Ok(RedisCache {
            link: RedisLink::new(&settings)?,
            settings,
            put: Script::new(PUT),
            purge_model: Script::new(PURGE_MODEL),
            vectors_append: Script::new(VECTORS_APPEND),
        })
    }

    fn entry_key(&self, key: &CacheKey) -> String {
        format!("{}e:{}", self.settings.prefix, hex(key))
    }

    fn tag_key(&self, tag: &CacheKey) -> String {
        format!("{}t:{}", self.settings.prefix, hex(tag))
    }

    fn model_key(&self, provider: &str, model: &str) -> String {
        format!("{}m:{provider}/{model}", self.settings.prefix)
    }

    pub async fn get(&self, key: &CacheKey) -> Result<Option<Bytes>, StoreError> {
        let k = self.entry_key(key);
        let value: Option<Vec<u8>> = self.link.run(|mut c| async move { c.get(k).await }).await?;
        Ok(value.map(Bytes::from))
    }

    pub async fn put(&self, record: CacheRecord) -> Result<(), StoreError> {
        let mut invocation = self.put.prepare_invoke();
        invocation
            .key(self.entry_key(&record.key))
            .key(self.model_key(&record.provider, &record.model));
        if let Some(tag) = &record.tag {
            invocation.key(self.tag_key(tag));
        }
        invocation
            .arg(&record.value[..])
            .arg(record.ttl.as_millis().max(1) as u64)
            .arg(hex(&record.key));
        self.link
            .run(|mut c| async move { invocation.invoke_async::<i64>(&mut c).await })
            .await?;
        Ok(())
    }

    fn vectors_key(&self) -> (String, String) {
        (
            format!("{}v", self.settings.prefix),
            format!("{}vseq", self.settings.prefix),
        )
    }

    pub async fn vectors_append(&self, record: VectorRecord) -> Result<(), StoreError> {
        let expires = unix_ms().saturating_add(record.ttl.as_millis() as u64);
        let mut member = format!("{expires:016x}").into_bytes();
        member.extend_from_slice(&record.value);
        let (set, seq) = self.vectors_key();
        let mut invocation = self.vectors_append.prepare_invoke();
        invocation
            .key(set)
            .key(seq)
            .arg(member)
            .arg(record.max_records.max(1));
        self.link
            .run(|mut c| async move { invocation.invoke_async::<i64>(&mut c).await })
            .await?;
        Ok(())
    }

    pub async fn vectors_since(
        &self,
        cursor: u64,
        limit: usize,
    ) -> Result<(Vec<Bytes>, u64), StoreError> {
        let (set, _) = self.vectors_key();
        let rows: Vec<(Vec<u8>, f64)> = self
            .link
            .run(|mut c| async move {
                redis::cmd("ZRANGEBYSCORE")
                    .arg(set)
                    .arg(format!("({cursor}"))
                    .arg("+inf")
                    .arg("WITHSCORES")
                    .arg("LIMIT")
                    .arg(0)
                    .arg(limit)
                    .query_async(&mut c)
                    .await
            })
            .await?;
        let now = unix_ms();
        let next = rows.last().map_or(cursor, |(_, score)| *score as u64);
        let live = rows
            .into_iter()
            .filter_map(|(member, _)| {
                let expires = std::str::from_utf8(member.get(..16)?).ok()?;
                let expires = u64::from_str_radix(expires, 16).ok()?;
                (expires > now).then(|| Bytes::from(member).slice(16..))
            })
            .collect();
        Ok((live, next))
    }

    pub async fn purge(&self, purge: &Purge) -> Result<u64, StoreError> {
        match purge {
            Purge::Key(key) => {
                let k = self.entry_key(key);
                self.link
                    .run(|mut c| async move { c.unlink(k).await })
                    .await
            }
            Purge::Tag(tag) => self.purge_model_set(self.tag_key(tag)).await,
            Purge::Model {
                provider: Some(provider),
                model,
            } => self.purge_model_set(self.model_key(provider, model)).await,
            Purge::Model {
                provider: None,
                model,
            } => {
                let pattern = format!("{}m:*/{}", self.settings.prefix, glob_escape(model));
                let mut n = 0;
                for set in self.scan(pattern).await? {
                    // a model name may itself contain `/`: check the exact suffix
                    if set.ends_with(&format!("/{model}")) {
                        n += self.purge_model_set(set).await?;
                    }
                }
                Ok(n)
            }
            Purge::All => {
                let entries = format!("{}e:*", self.settings.prefix);
                let sets = format!("{}m:*", self.settings.prefix);
                let tags = format!("{}t:*", self.settings.prefix);
                let mut n = 0;
                // the log goes; its sequence stays, so replicas' cursors stay valid
                let (set, _) = self.vectors_key();
                self.link
                    .run(|mut c| async move { c.unlink::<_, u64>(set).await })
                    .await?;
                for keys in self.scan(entries).await?.chunks(500) {
                    let keys = keys.to_vec();
                    n += self
                        .link
                        .run(|mut c| async move { c.unlink::<_, u64>(keys).await })
                        .await?;
                }
                let mut sets = self.scan(sets).await?;
                sets.extend(self.scan(tags).await?);
                for keys in sets.chunks(500) {
                    let keys = keys.to_vec();
                    self.link
                        .run(|mut c| async move { c.unlink::<_, u64>(keys).await })
                        .await?;
                }
                Ok(n)
            }
        }
    }

    async fn purge_model_set(&self, set: String) -> Result<u64, StoreError> {
        let mut invocation = self.purge_model.prepare_invoke();
        invocation
            .key(set)
            .arg(format!("{}e:", self.settings.prefix));
        self.link
            .run(|mut c| async move { invocation.invoke_async::<u64>(&mut c).await })
            .await
    }

    /// Every key matching `pattern` (SCAN, so Redis is never blocked).
    async fn scan(&self, pattern: String) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let pattern = pattern.clone();
            let (next, batch): (u64, Vec<String>) = self
                .link
                .run(|mut c| async move {
                    redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(pattern)
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut c)
                        .await
                })
                .await?;
            keys.extend(batch);
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }

    /// Redis is shared and evicts under its own policy: entry counts and sizes are Redis' own
    /// (`INFO keyspace`, `MEMORY USAGE`), not this replica's to report.
    pub fn stats(&self) -> BackendStats {
        BackendStats::default()
    }
}

/// Escapes Redis glob characters so a model name matches itself only.
fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
