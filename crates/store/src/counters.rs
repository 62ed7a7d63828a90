//! Windowed counters for rate limits and budgets, with an atomic check-and-add: in memory (one
//! gateway) or in Redis (one count for every replica, through Lua scripts).
//!
//! A counter is a `name` plus a window index (`unix_ms / window_ms`); a sliding window adds the
//! previous window's total weighted by how much of it still overlaps (Cloudflare's and Redis'
//! usual approximation). Values are floats: requests, tokens or USD.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use redis::Script;

use crate::redis_link::{RedisLink, RedisSettings};
use crate::StoreError;

/// One check-and-add.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The window index and its length.
    pub window: u64,
    pub window_ms: u64,
    pub amount: f64,
    pub limit: f64,
    /// Weight of the previous window (0 for fixed windows).
    pub previous_weight: f64,
}

/// What a check-and-add found.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Count {
    pub allowed: bool,
    /// The total after adding (when allowed) or as it stands (when not).
    pub total: f64,
}

pub enum Counters {
    Memory(MemoryCounters),
    Redis(Box<RedisCounters>),
}

impl Counters {
    pub fn memory() -> Self {
        Counters::Memory(MemoryCounters::default())
    }

    pub fn redis(settings: RedisSettings) -> Result<Self, StoreError> {
        Ok(Counters::Redis(Box::new(RedisCounters::new(settings)?)))
    }

    /// Adds `hit.amount` to `name`'s window unless the total would pass `hit.limit`.
    pub async fn hit(&self, name: &str, hit: Hit) -> Result<Count, StoreError> {
        match self {
            Counters::Memory(m) => Ok(m.hit(name, hit)),
            Counters::Redis(r) => r.hit(name, hit).await,
        }
    }

    /// Adds `amount` (may be negative: a reservation settled lower) without a limit.
    pub async fn add(
        &self,
        name: &str,
        window: u64,
        window_ms: u64,
        amount: f64,
    ) -> Result<(), StoreError> {
        let hit = Hit {
            window,
            window_ms,
            amount,
            limit: f64::INFINITY,
            previous_weight: 0.0,
        };
        self.hit(name, hit).await.map(|_| ())
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Counters::Memory(_) => "memory",
            Counters::Redis(_) => "redis",
        }
    }
}

/// Counters of this process: per name, the current window and the one before it (all a sliding
/// window needs). Names no longer hit are swept every 4096 hits.
#[derive(Default)]
pub struct MemoryCounters {
    inner: Mutex<Memory>,
}

#[derive(Default)]
struct Memory {
    values: HashMap<String, Slot>,
    hits: u64,
}

#[derive(Clone, Copy)]
struct Slot {
    window: u64,
    value: f64,
    previous: f64,
    window_ms: u64,
}

impl Slot {
    /// Moves the slot to `window`, carrying the last window's total when it is the previous.
    fn roll(&mut self, window: u64) {
        if window == self.window {
            return;
        }
        self.previous = if window == self.window + 1 {
            self.value
        } else {
            0.0
        };
        self.value = 0.0;
        self.window = window;
    }
}

impl MemoryCounters {
    fn hit(&self, name: &str, hit: Hit) -> Count {
        let mut m = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        m.hits += 1;
        if m.hits.is_multiple_of(4096) {
            let now = crate::cache::unix_ms();
            m.values.retain(|_, s| (s.window + 2) * s.window_ms > now);
        }
        let slot = match m.values.get_mut(name) {
            Some(slot) => slot,
            None => m.values.entry(name.to_owned()).or_insert(Slot {
                window: hit.window,
                value: 0.0,
                previous: 0.0,
                window_ms: hit.window_ms,
            }),
        };
        if hit.window < slot.window {
            // a late settlement: the previous window may still count (sliding), older ones not
            if hit.window + 1 == slot.window {
                slot.previous += hit.amount;
            }
            return Count {
                allowed: true,
                total: slot.value,
            };
        }
        slot.roll(hit.window);
        let total = slot.value + slot.previous * hit.previous_weight;
        if total + hit.amount > hit.limit {
            return Count {
                allowed: false,
                total,
            };
        }
        slot.value += hit.amount;
        Count {
            allowed: true,
            total: total + hit.amount,
        }
    }
}

/// KEYS[1] = this window, KEYS[2] = the previous one; ARGV = amount, limit (or "inf"),
/// previous weight, expiry ms. Returns {allowed, total as a string} (Redis truncates numbers).
const HIT: &str = r"
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local prev = 0
local weight = tonumber(ARGV[3])
if weight > 0 then prev = tonumber(redis.call('GET', KEYS[2]) or '0') end
local total = cur + prev * weight
local amount = tonumber(ARGV[1])
if ARGV[2] ~= 'inf' and total + amount > tonumber(ARGV[2]) then
  return {0, tostring(total)}
end
redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, tostring(total + amount)}";

pub struct RedisCounters {
    link: RedisLink,
    prefix: String,
    script: Script,
}

impl RedisCounters {
    fn new(settings: RedisSettings) -> Result<Self, StoreError> {
        Ok(RedisCounters {
            link: RedisLink::new(&settings)?,
            prefix: settings.prefix,
            script: Script::new(HIT),
        })
    }

    async fn hit(&self, name: &str, hit: Hit) -> Result<Count, StoreError> {
        let key = |w: u64| format!("{}c:{name}:{w}", self.prefix);
        let mut invocation = self.script.prepare_invoke();
        invocation
            .key(key(hit.window))
            .key(key(hit.window.saturating_sub(1)))
            .arg(hit.amount)
            .arg(if hit.limit.is_finite() {
                hit.limit.to_string()
            } else {
                "inf".to_owned()
            })
            .arg(hit.previous_weight)
            .arg(hit.window_ms.saturating_mul(2).max(1000));
        let (allowed, total): (i64, String) = self
            .link
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        Ok(Count {
            allowed: allowed == 1,
            total: total.parse().unwrap_or(0.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(window: u64, amount: f64, limit: f64, previous_weight: f64) -> Hit {
        Hit {
            window,
            window_ms: 60_000,
            amount,
            limit,
            previous_weight,
        }
    }

    async fn exercise(c: &Counters) {
        for n in 1..=3 {
            let got = c.hit("k", hit(10, 1.0, 3.0, 0.0)).await.unwrap();
            assert_eq!(
                got,
                Count {
                    allowed: true,
                    total: f64::from(n)
                }
            );
        }
        let full = c.hit("k", hit(10, 1.0, 3.0, 0.0)).await.unwrap();
        assert_eq!(
            full,
            Count {
                allowed: false,
                total: 3.0
            }
        );
        // a new window starts empty; sliding, half of the previous still counts
        assert!(c.hit("k", hit(11, 1.0, 3.0, 0.0)).await.unwrap().allowed);
        let sliding = c.hit("k", hit(11, 1.0, 3.0, 0.5)).await.unwrap();
        assert_eq!(
            sliding,
            Count {
                allowed: false,
                total: 2.5
            }
        );
        // settling: a reservation returned, fractions kept
        c.add("t", 10, 60_000, 100.0).await.unwrap();
        c.add("t", 10, 60_000, -40.5).await.unwrap();
        let t = c.hit("t", hit(10, 0.0, f64::INFINITY, 0.0)).await.unwrap();
        assert_eq!(t.total, 59.5);
    }

    #[tokio::test]
    async fn memory_counters_count_windows() {
        exercise(&Counters::memory()).await;
    }

    #[tokio::test]
    async fn redis_counters_count_windows() {
        let server = switchyard_testkit::RedisServer::start().unwrap();
        let c = Counters::redis(RedisSettings {
            url: server.url(),
            prefix: "t:".into(),
            timeout: std::time::Duration::from_secs(2),
        })
        .unwrap();
        exercise(&c).await;
    }
}
