//! A ticket: what one request took from the limits and budgets (token estimates, budget
//! reservations), settled once its usage and cost are known — or given back if it never is.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use switchyard_store::counters::Counters;

use super::limits::Counted;

/// What a request took from the limits, to settle once its usage and cost are known.
pub struct Ticket {
    pub(super) counters: Arc<Counters>,
    pub(super) tokens: Vec<Counted>,
    pub(super) budgets: Vec<Counted>,
    pub(super) settled: AtomicBool,
    /// USD per token charged when the answer has no price (`[limits] unpriced_usd_per_mtok`).
    pub(super) unpriced_per_token: Option<f64>,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket")
            .field("tokens", &self.tokens.len())
            .field("budgets", &self.budgets.len())
            .finish()
    }
}

impl Drop for Ticket {
    /// A request that ended without being settled (it failed before an answer) gives its budget
    /// reservations back.
    fn drop(&mut self) {
        if self.settled.load(Ordering::Relaxed) {
            return;
        }
        let refunds: Vec<Counted> = self
            .budgets
            .iter()
            .filter(|c| c.amount > 0.0)
            .cloned()
            .collect();
        if refunds.is_empty() {
            return;
        }
        let counters = self.counters.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            for c in refunds {
                let _ = counters
                    .add(&c.name, c.window, c.window_ms, -c.amount)
                    .await;
            }
        });
    }
}

impl Ticket {
    /// Settles the reservations with what the call really used: token limits get the
    /// difference to their estimate, budgets the cost. Once; later calls do nothing.
    pub fn settle(&self, tokens: Option<u64>, cost_usd: Option<f64>) {
        if self.settled.swap(true, Ordering::Relaxed) {
            return;
        }
        let mut adds: Vec<Counted> = Vec::new();
        if let Some(t) = tokens {
            for c in &self.tokens {
                adds.push(Counted {
                    amount: t as f64 - c.amount,
                    ..c.clone()
                });
            }
        }
        // the reservation becomes the real cost; with no cost known it stays as charged
        let unpriced = tokens
            .zip(self.unpriced_per_token)
            .map(|(t, rate)| t as f64 * rate);
        if let Some(cost) = cost_usd.or(unpriced) {
            for c in &self.budgets {
                adds.push(Counted {
                    amount: cost.max(0.0) - c.amount,
                    ..c.clone()
                });
            }
        }
        adds.retain(|c| c.amount != 0.0);
        if adds.is_empty() {
            return;
        }
        let counters = self.counters.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            for c in adds {
                if let Err(e) = counters.add(&c.name, c.window, c.window_ms, c.amount).await {
                    tracing::warn!(counter = &*c.name, "cannot settle a limit: {e}");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{Admission, Limiter};
    use switchyard_config::limits::{parse_budget, BudgetScope};
    use switchyard_config::{LimitsConfig, PriceRow};

    fn limiter() -> Limiter {
        let mut config = LimitsConfig::default();
        let mut budget = parse_budget("1/day").unwrap();
        budget.scope = BudgetScope::Provider;
        config.budgets.push(budget);
        let price: PriceRow = toml::from_str(
            "provider = \"p\"\nmodel = \"m\"\ninput = 1000000.0\noutput = 1000000.0",
        )
        .unwrap();
        Limiter::new(&config, Counters::memory(), &[price])
    }

    fn admission(body: &'static [u8]) -> Admission<'static> {
        Admission {
            key: None,
            metadata: None,
            requested: "p/m",
            provider: "p",
            provider_kind: "openai",
            model: "m",
            body,
            metered: true,
            holds: &[],
        }
    }

    #[tokio::test]
    async fn a_reservation_settles_to_the_real_cost_or_goes_back() {
        let limiter = limiter();
        // `{"max_tokens":1}` is 16 bytes: 4 input + 1 output tokens at $1 each = $5 reserved
        let ticket = limiter
            .admit(&admission(br#"{"max_tokens":1}"#))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ticket.budgets[0].amount, 5.0);
        // while it is held the budget ($1) is taken: the next request is refused
        assert!(limiter
            .admit(&admission(br#"{"max_tokens":1}"#))
            .await
            .is_err());
        // dropped unsettled (the call failed): the reservation goes back
        drop(ticket);
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        // settled: the real cost stays, the rest of the reservation goes back
        let ticket = limiter
            .admit(&admission(br#"{"max_tokens":1}"#))
            .await
            .unwrap()
            .unwrap();
        ticket.settle(Some(5), Some(0.25));
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        // $0.25 of $1 spent: a request is admitted again, and the spend is what it reports
        let err = limiter.admit(&admission(br#"{"max_tokens":1}"#)).await;
        assert!(err.is_ok());
        drop(err);
        let ticket = limiter.admit(&admission(b"{}")).await;
        let message = ticket.err().map(|e| e.message.clone()).unwrap_or_default();
        assert!(message.contains("$5.2500 spent"), "{message}");
    }
}
