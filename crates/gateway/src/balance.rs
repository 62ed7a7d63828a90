//! Load balancing across the deployments of one alias (`targets`), with a circuit breaker.
//!
//! Strategies: smooth weighted round robin (nginx's: even spread in proportion to the weights),
//! least requests in flight, or lowest recent latency (an EWMA of the time to the response
//! headers, scaled by the requests in flight so a fast target is not flooded). The breaker ejects
//! a target after `failures` consecutive failures for `open` time; then one probe request may
//! try it (half-open): success closes it, failure ejects it again.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use switchyard_config::control::BreakerConfig;
use switchyard_config::model::Strategy;

pub struct Member {
    pub provider: usize,
    pub model: String,
    weight: i64,
    in_flight: AtomicU32,
    /// Microseconds; 0 until the first answer (so new targets are tried first).
    ewma_us: AtomicU64,
    failures: AtomicU32,
    /// Unix ms until which the breaker keeps it out; 0 = closed.
    open_until: AtomicI64,
    /// When the current probe was handed out (0 = none). A probe that never reports back (the
    /// request was answered from the cache, or refused) lapses after the open time.
    probe_at: AtomicI64,
}

pub struct Pool {
    members: Vec<Member>,
    strategy: Strategy,
    breaker: BreakerConfig,
    /// Smooth WRR's running weights.
    current: Mutex<Vec<i64>>,
}

/// Which member a request went to; counts it in flight until dropped.
pub struct Pick<'a> {
    pub pool: &'a Pool,
    pub index: usize,
    /// Every member is ejected: the caller should fail this step at once.
    pub ejected: bool,
}

impl Pool {
    pub fn new(
        members: Vec<(usize, String, u32)>,
        strategy: Strategy,
        breaker: BreakerConfig,
    ) -> Self {
        let n = members.len();
        Pool {
            members: members
                .into_iter()
                .map(|(provider, model, weight)| Member {
                    provider,
                    model,
                    weight: i64::from(weight.max(1)),
                    in_flight: AtomicU32::new(0),
                    ewma_us: AtomicU64::new(0),
                    failures: AtomicU32::new(0),
                    open_until: AtomicI64::new(0),
                    probe_at: AtomicI64::new(0),
                })
                .collect(),
            strategy,
            breaker,
            current: Mutex::new(vec![0; n]),
        }
    }

    pub fn member(&self, i: usize) -> &Member {
        &self.members[i]
    }

    /// Chooses a member for a request at `now_ms`: an ejected member whose time is up gets
    /// this request as its one probe; otherwise a closed member by the strategy.
    pub fn pick(&self, now_ms: i64) -> Pick<'_> {
        for (i, m) in self.members.iter().enumerate() {
            let until = m.open_until.load(Ordering::Relaxed);
            let probe = m.probe_at.load(Ordering::Relaxed);
            let lapsed = probe == 0 || now_ms - probe > self.breaker.open.as_millis() as i64;
            if until != 0
                && until <= now_ms
                && lapsed
                && m.probe_at
                    .compare_exchange(probe, now_ms.max(1), Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                return Pick {
                    pool: self,
                    index: i,
                    ejected: false,
                };
            }
        }
        let closed: Vec<usize> = (0..self.members.len())
            .filter(|&i| self.members[i].open_until.load(Ordering::Relaxed) == 0)
            .collect();
        if closed.is_empty() {
            let soonest = (0..self.members.len())
                .min_by_key(|&i| self.members[i].open_until.load(Ordering::Relaxed))
                .unwrap_or(0);
            return Pick {
                pool: self,
                index: soonest,
                ejected: true,
            };
        }
        let index = match self.strategy {
            Strategy::Weighted => self.weighted(&closed),
            Strategy::LeastInFlight => {
                self.least(&closed, |m| u64::from(m.in_flight.load(Ordering::Relaxed)))
            }
            Strategy::Latency => self.least(&closed, |m| {
                m.ewma_us.load(Ordering::Relaxed)
                    * u64::from(m.in_flight.load(Ordering::Relaxed) + 1)
            }),
        };
        Pick {
            pool: self,
            index,
            ejected: false,
        }
    }

    /// For a retry after the members in `tried` failed: another closed member by the strategy,
    /// if there is one left (the retry then goes there instead of back to the one that failed).
    pub fn pick_other(&self, tried: &[usize]) -> Option<usize> {
        let left: Vec<usize> = (0..self.members.len())
            .filter(|i| !tried.contains(i))
            .filter(|&i| self.members[i].open_until.load(Ordering::Relaxed) == 0)
            .collect();
        if left.is_empty() {
            return None;
        }
        Some(match self.strategy {
            Strategy::Weighted => self.weighted(&left),
            Strategy::LeastInFlight => {
                self.least(&left, |m| u64::from(m.in_flight.load(Ordering::Relaxed)))
            }
            Strategy::Latency => self.least(&left, |m| {
                m.ewma_us.load(Ordering::Relaxed)
                    * u64::from(m.in_flight.load(Ordering::Relaxed) + 1)
            }),
        })
    }

    fn weighted(&self, candidates: &[usize]) -> usize {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        let mut total = 0;
        let mut best = candidates[0];
        for &i in candidates {
            current[i] += self.members[i].weight;
            total += self.members[i].weight;
            if current[i] > current[best] {
                best = i;
            }
        }
        current[best] -= total;
        best
    }

    fn least(&self, candidates: &[usize], score: impl Fn(&Member) -> u64) -> usize {
        // ties go round robin, so equal members share the load
        let start = self.weighted(candidates);
        let at = candidates.iter().position(|&i| i == start).unwrap_or(0);
        let mut best = start;
        for k in 0..candidates.len() {
            let i = candidates[(at + k) % candidates.len()];
            if score(&self.members[i]) < score(&self.members[best]) {
                best = i;
            }
        }
        best
    }

    /// A request to member `i` starts.
    pub fn start(&self, i: usize) {
        self.members[i].in_flight.fetch_add(1, Ordering::Relaxed);
    }

    /// It ended: `ok` (the upstream answered) or not, after `took`.
    pub fn finish(&self, i: usize, ok: bool, took: Duration, now_ms: i64) {
        let m = &self.members[i];
        m.in_flight.fetch_sub(1, Ordering::Relaxed);
        if ok {
            let sample = took.as_micros() as u64;
            let old = m.ewma_us.load(Ordering::Relaxed);
            let next = if old == 0 {
                sample
            } else {
                (old * 4 + sample) / 5
            };
            m.ewma_us.store(next.max(1), Ordering::Relaxed);
            m.failures.store(0, Ordering::Relaxed);
            m.open_until.store(0, Ordering::Relaxed);
            m.probe_at.store(0, Ordering::Relaxed);
            return;
        }
        let failures = m.failures.fetch_add(1, Ordering::Relaxed) + 1;
        let was_probe = m.probe_at.swap(0, Ordering::AcqRel) != 0;
        if self.breaker.failures > 0 && (was_probe || failures >= self.breaker.failures) {
            let until = now_ms + self.breaker.open.as_millis() as i64;
            m.open_until.store(until.max(1), Ordering::Relaxed);
            tracing::warn!(
                model = m.model,
                failures,
                "circuit breaker: target ejected for {} s",
                self.breaker.open.as_secs()
            );
        }
    }

    /// When the ejected member may be probed again.
    pub fn open_until(&self, i: usize) -> i64 {
        self.members[i].open_until.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(strategy: Strategy, weights: &[u32]) -> Pool {
        let members = weights
            .iter()
            .enumerate()
            .map(|(i, w)| (i, format!("m{i}"), *w))
            .collect();
        let breaker = BreakerConfig {
            failures: 2,
            open: Duration::from_secs(10),
        };
        Pool::new(members, strategy, breaker)
    }

    #[test]
    fn weighted_round_robin_follows_the_weights_evenly() {
        let p = pool(Strategy::Weighted, &[3, 1]);
        let picks: Vec<usize> = (0..8).map(|_| p.pick(0).index).collect();
        assert_eq!(picks.iter().filter(|&&i| i == 0).count(), 6);
        // spread out, not 0,0,0,1
        assert_ne!(&picks[..4], &[0, 0, 0, 1][..]);
    }

    #[test]
    fn least_in_flight_and_latency_prefer_the_idle_and_the_fast() {
        let p = pool(Strategy::LeastInFlight, &[1, 1]);
        p.start(0);
        assert_eq!(p.pick(0).index, 1);
        let l = pool(Strategy::Latency, &[1, 1]);
        l.start(0);
        l.finish(0, true, Duration::from_millis(100), 0);
        l.start(1);
        l.finish(1, true, Duration::from_millis(10), 0);
        assert!((0..5).all(|_| l.pick(0).index == 1));
    }

    #[test]
    fn the_breaker_ejects_then_probes_once() {
        let p = pool(Strategy::Weighted, &[1, 1]);
        for _ in 0..2 {
            p.start(0);
            p.finish(0, false, Duration::ZERO, 1000);
        }
        assert!((0..4).all(|_| p.pick(1000).index == 1), "0 is out");
        for _ in 0..2 {
            p.start(1);
            p.finish(1, false, Duration::ZERO, 1000);
        }
        let all_out = p.pick(2000);
        assert!(all_out.ejected);
        // after 10 s one probe goes to 0; a second caller finds nothing to probe
        let probe = p.pick(11_000);
        assert!(!probe.ejected);
        let other = p.pick(11_000);
        assert!(other.ejected || other.index != probe.index);
        p.start(probe.index);
        p.finish(probe.index, true, Duration::from_millis(5), 11_000);
        assert!(!p.pick(11_000).ejected);
    }
}
