//! [`Limiter`]: rate limits and budgets, checked before the call and settled after it.
//!
//! Rate limits count requests or tokens in fixed or sliding windows, per gateway, key, user (a
//! `cf-aig-metadata` entry) or model; token limits reserve an estimate before the call and settle
//! the real usage after. Budgets cap USD spend per key, metadata value, provider or model over a
//! UTC day, week or month: the spend so far is checked before the call, the real cost added
//! after. Counters live in memory or in Redis ([`Counters`]), so limits hold across replicas.
//! A counter store that fails lets requests through (and says so in the log): limits protect
//! spend, they must not take the gateway down.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use http::header::{HeaderName, HeaderValue, RETRY_AFTER};
use serde_json::{Map, Value};
use switchyard_config::limits::{Budget, BudgetScope, Period, RateLimit, Scope, Unit};
use switchyard_config::LimitsConfig;
use switchyard_store::counters::{Counters, Hit};
use switchyard_store::StoreError;

use super::{ApiKey, Ticket};
use crate::GatewayError;

/// What the limiter needs to know about a request.
pub struct Admission<'a> {
    pub key: Option<&'a ApiKey>,
    pub metadata: Option<&'a Map<String, Value>>,
    /// The model as the client named it, and where it goes.
    pub requested: &'a str,
    pub provider: &'a str,
    /// The provider's kind (for prices).
    pub provider_kind: &'a str,
    pub model: &'a str,
    /// The request body (a budget's reservation is estimated from it).
    pub body: &'a [u8],
    /// Its usage will be read from the answer (a provider-native call the gateway cannot meter
    /// is refused under a budget).
    pub metered: bool,
    /// Budgets a dynamic route's gates already checked (settled with the rest).
    pub holds: &'a [BudgetHold],
}

/// A budget gate passed: settled with the call's cost like any budget.
pub struct BudgetHold(Counted);

pub struct Limiter {
    counters: Arc<Counters>,
    rate_limits: Vec<RateLimit>,
    budgets: Vec<Budget>,
    /// Each key's daily free compute units on local models, as a USD-equivalent budget.
    allowance: Option<(Budget, f64)>,
    /// What a request may cost is reserved against its budgets at admission.
    prices: crate::observe::pricing::PriceTable,
    /// Serve requests under a budget while the counters cannot be read (else 503).
    budgets_fail_open: bool,
    /// USD per token for models without a price, under a budget (`None`: refused).
    unpriced_per_token: Option<f64>,
}

#[derive(Clone)]
pub(super) struct Counted {
    pub(super) name: Arc<str>,
    pub(super) window: u64,
    pub(super) window_ms: u64,
    /// What was counted (a budget: the reservation; settled to the real cost).
    pub(super) amount: f64,
}

fn metadata_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

/// Days since 1970-01-01 → (year, month).
fn year_month(days: i64) -> (i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m)
}

/// The calendar period holding `now_ms`: its index and (for counter expiry) a length.
fn period_window(period: Period, now_ms: i64) -> (u64, u64) {
    const DAY: i64 = 86_400_000;
    let days = now_ms.div_euclid(DAY);
    match period {
        Period::Day => (days as u64, DAY as u64),
        // weeks start on Monday; 1970-01-01 was a Thursday
        Period::Week => ((days + 3).div_euclid(7) as u64, 7 * DAY as u64),
        Period::Month => {
            let (y, m) = year_month(days);
            ((y * 12 + m) as u64, 31 * DAY as u64)
        }
    }
}

fn period_name(p: Period) -> &'static str {
    match p {
        Period::Day => "day",
        Period::Week => "week",
        Period::Month => "month",
    }
}

impl Limiter {
    pub fn new(
        config: &LimitsConfig,
        counters: Counters,
        pricing: &[switchyard_config::PriceRow],
    ) -> Self {
        Limiter {
            counters: Arc::new(counters),
            rate_limits: config.rate_limits.clone(),
            budgets: config.budgets.clone(),
            allowance: config.local_allowance.map(|a| {
                let budget = Budget {
                    scope: BudgetScope::Key,
                    value: None,
                    usd: a.usd,
                    period: switchyard_config::limits::Period::Day,
                };
                (budget, a.units)
            }),
            prices: crate::observe::pricing::PriceTable::new(pricing),
            budgets_fail_open: config.budgets_fail_open,
            unpriced_per_token: config.unpriced_usd_per_mtok.map(|r| r / 1_000_000.0),
        }
    }

    pub fn backend_name(&self) -> &'static str {
        self.counters.backend_name()
    }

    /// The counter name of `limit` for this request, or `None` when it does not apply. Built
    /// by appending (this runs for every limit of every request): `rl:WHO:UNIT:SECS:MODEL`.
    fn rate_name(limit: &RateLimit, a: &Admission<'_>) -> Option<Arc<str>> {
        if limit.model.as_deref().is_some_and(|m| m != a.requested) {
            return None;
        }
        let (kind, who): (&str, std::borrow::Cow<'_, str>) = match &limit.scope {
            Scope::Gateway => ("gateway", "".into()),
            Scope::Key => ("key:", a.key?.id().into()),
            Scope::User { field } => ("user:", metadata_text(a.metadata?.get(field)?)?.into()),
            // provider-native calls name no model
            Scope::Model if a.requested.is_empty() => return None,
            Scope::Model => ("model:", a.requested.into()),
        };
        Some(Arc::from(rate_counter(kind, &who, limit)))
    }

    fn budget_name(budget: &Budget, a: &Admission<'_>) -> Option<Arc<str>> {
        let value = match &budget.scope {
            BudgetScope::Key => a.key?.id().to_owned(),
            BudgetScope::Metadata { field } => metadata_text(a.metadata?.get(field)?)?,
            BudgetScope::Provider => a.provider.to_owned(),
            BudgetScope::Model if a.requested.is_empty() => return None,
            BudgetScope::Model => a.requested.to_owned(),
        };
        if let Some(only) = &budget.value {
            let model_match = budget.scope == BudgetScope::Model && only == a.model;
            if *only != value && !model_match {
                return None;
            }
        }
        let scope = match &budget.scope {
            BudgetScope::Key => "key".to_owned(),
            BudgetScope::Metadata { field } => format!("meta.{field}"),
            BudgetScope::Provider => "provider".to_owned(),
            BudgetScope::Model => "model".to_owned(),
        };
        Some(Arc::from(format!("bg:{scope}:{value}")))
    }

    /// Checks every limit and budget that applies; counts the request against the limits. A
    /// refusal is a 429 saying which limit or budget.
    pub async fn admit(&self, a: &Admission<'_>) -> Result<Option<Ticket>, GatewayError> {
        let own_rate = a.key.and_then(ApiKey::own_rate);
        let own_budget = a.key.and_then(ApiKey::own_budget);
        let own_names = a.key.map(ApiKey::own_counters);
        let allowance = match (&self.allowance, a.key) {
            (Some((budget, units)), Some(key)) if a.provider == "local" => Some((
                budget,
                *units,
                Arc::<str>::from(format!("bg:free-units:{}", key.id())),
            )),
            _ => None,
        };
        if self.rate_limits.is_empty()
            && self.budgets.is_empty()
            && own_rate.is_none()
            && own_budget.is_none()
            && a.holds.is_empty()
            && allowance.is_none()
        {
            return Ok(None);
        }
        let now = crate::clock::unix_ms().max(0) as u64;
        let mut ticket = Ticket {
            counters: self.counters.clone(),
            tokens: Vec::new(),
            budgets: Vec::new(),
            settled: AtomicBool::new(false),
            unpriced_per_token: None,
        };
        let mut counted: Vec<Counted> = Vec::new();
        ticket.budgets.extend(a.holds.iter().map(|h| h.0.clone()));
        let rates = self.rate_limits.iter().map(|l| (l, false));
        for (limit, own) in rates.chain(own_rate.map(|l| (l, true))) {
            let name = match (own, own_names) {
                (true, Some((rate, _))) => rate.clone(),
                _ => match Self::rate_name(limit, a) {
                    Some(name) => name,
                    None => continue,
                },
            };
            let amount = match limit.unit {
                Unit::Requests => 1.0,
                // the body's tokens (about four bytes each), reserved by token limits until
                // the real usage is known
                Unit::Tokens => super::estimate::input_tokens(a.body) as f64,
            };
            let hit = rate_hit(limit, now, amount);
            let (window, window_ms) = (hit.window, hit.window_ms);
            let count = match self.counters.hit(&name, hit).await {
                Ok(c) => c,
                Err(e) => {
                    fail_open(&e);
                    continue;
                }
            };
            if !count.allowed {
                self.refund(counted);
                return Err(limited(limit, count.total, window_ms - now % window_ms));
            }
            let c = Counted {
                name,
                window,
                window_ms,
                amount,
            };
            if limit.unit == Unit::Tokens {
                ticket.tokens.push(c.clone());
            }
            counted.push(c);
        }
        let budgets = self.budgets.iter().map(|b| (b, false));
        // what the request may cost, reserved against each budget (`None`: not priced)
        let mut estimate: Option<Option<f64>> = None;
        for (budget, own) in budgets.chain(own_budget.map(|b| (b, true))) {
            let name = match (own, own_names) {
                (true, Some((_, budget))) => budget.clone(),
                _ => match Self::budget_name(budget, a) {
                    Some(name) => name,
                    None => continue,
                },
            };
            let (window, window_ms) = period_window(budget.period, now as i64);
            if !a.metered {
                return Err(not_enforceable(
                    &name,
                    "this call's usage is not read (a provider-native API other than chat, completions, embeddings or messages, or the universal endpoint)",
                ));
            }
            let reserve = match *estimate.get_or_insert_with(|| self.estimate(a, &mut ticket)) {
                Some(usd) => usd,
                // local models are metered in compute units (the free allowance), not prices
                None if a.provider_kind == "local" => 0.0,
                None => {
                    return Err(not_enforceable(
                        &name,
                        &format!("model `{}` of provider `{}` has no price (add a [[pricing]] row, or set [limits] unpriced_usd_per_mtok)", a.model, a.provider),
                    ))
                }
            };
            // taken while money is left (checked and added in one step, so concurrent requests
            // each see the others' reservations)
            let hit = Hit {
                window,
                window_ms,
                amount: reserve,
                limit: budget.usd + reserve * (1.0 - 1e-9),
                previous_weight: 0.0,
            };
            let count = match self.counters.hit(&name, hit).await {
                Ok(count) => count,
                Err(e) if self.budgets_fail_open => {
                    fail_open(&e);
                    continue;
                }
                Err(e) => {
                    self.refund(counted);
                    return Err(budget_unavailable(&name, &e));
                }
            };
            let spent = if count.allowed {
                count.total - reserve
            } else {
                count.total
            };
            let refused = !count.allowed || spent >= budget.usd;
            if count.allowed {
                // an unsettled ticket gives its reservations back when dropped (refusals too)
                ticket.budgets.push(Counted {
                    name: name.clone(),
                    window,
                    window_ms,
                    amount: reserve,
                });
            }
            if refused {
                self.refund(counted);
                return Err(exhausted(&name, budget, spent));
            }
        }
        if let Some((budget, units, name)) = allowance {
            let (window, window_ms) = period_window(budget.period, now as i64);
            if let Some(spent) = self.spent(&name, window, window_ms).await {
                if spent >= budget.usd {
                    self.refund(counted);
                    let used = units * spent / budget.usd.max(f64::MIN_POSITIVE);
                    return Err(GatewayError::rate_limited(format!(
                        "this key's free allocation of {units} compute units per day on local models is spent ({used:.2} used); it renews at 00:00 UTC"
                    )));
                }
                ticket.budgets.push(Counted {
                    name,
                    window,
                    window_ms,
                    amount: 0.0,
                });
            }
        }
        // nothing to settle (request-count limits only): no ticket to carry along
        if ticket.tokens.is_empty() && ticket.budgets.is_empty() {
            return Ok(None);
        }
        Ok(Some(ticket))
    }

    /// What the request may cost: at the model's price, else at the unpriced rate (which the
    /// ticket then settles with too); `None` when neither applies.
    fn estimate(&self, a: &Admission<'_>, ticket: &mut Ticket) -> Option<f64> {
        let priced =
            super::estimate::usd(&self.prices, a.provider, a.provider_kind, a.model, a.body);
        if priced.is_some() || a.provider_kind == "local" {
            return priced;
        }
        let rate = self.unpriced_per_token?;
        ticket.unpriced_per_token = Some(rate);
        let (input, output) = super::estimate::tokens(a.body);
        Some((input + output) as f64 * rate)
    }

    /// A dynamic route's rate-limit gate: counts one request if the limit allows it.
    pub async fn take(&self, name: &str, limit: &RateLimit) -> bool {
        let now = crate::clock::unix_ms().max(0) as u64;
        match self.counters.hit(name, rate_hit(limit, now, 1.0)).await {
            Ok(c) => c.allowed,
            Err(e) => {
                fail_open(&e);
                true
            }
        }
    }

    /// A dynamic route's budget gate: a hold to settle when money is left, `None` when spent.
    /// `ticket` plus budget gates passed after admission (on a dynamic route's fallback walk),
    /// so they settle with the call's cost too.
    pub fn with_holds(&self, ticket: Option<Ticket>, holds: Vec<BudgetHold>) -> Option<Ticket> {
        if holds.is_empty() {
            return ticket;
        }
        let mut ticket = ticket.unwrap_or_else(|| Ticket {
            counters: self.counters.clone(),
            tokens: Vec::new(),
            budgets: Vec::new(),
            settled: AtomicBool::new(false),
            unpriced_per_token: None,
        });
        ticket.budgets.extend(holds.into_iter().map(|h| h.0));
        Some(ticket)
    }

    pub async fn hold(&self, name: &str, budget: &Budget) -> Option<BudgetHold> {
        let now = crate::clock::unix_ms();
        let (window, window_ms) = period_window(budget.period, now);
        let hold = BudgetHold(Counted {
            name: Arc::from(format!("bg:{name}")),
            window,
            window_ms,
            amount: 0.0,
        });
        match self.spent(&hold.0.name, window, window_ms).await {
            Some(spent) if spent >= budget.usd => None,
            // spent, or unknown (the counters failed: let it through)
            _ => Some(hold),
        }
    }

    /// What a budget counter holds for a period; `None` when the counters cannot say (logged).
    async fn spent(&self, name: &str, window: u64, window_ms: u64) -> Option<f64> {
        let peek = Hit {
            window,
            window_ms,
            amount: 0.0,
            limit: f64::INFINITY,
            previous_weight: 0.0,
        };
        match self.counters.hit(name, peek).await {
            Ok(c) => Some(c.total),
            Err(e) => {
                fail_open(&e);
                None
            }
        }
    }

    /// Takes back what a refused request had counted against earlier limits.
    fn refund(&self, counted: Vec<Counted>) {
        if counted.is_empty() {
            return;
        }
        let counters = self.counters.clone();
        tokio::spawn(async move {
            for c in counted {
                let _ = counters
                    .add(&c.name, c.window, c.window_ms, -c.amount)
                    .await;
            }
        });
    }
}

/// `amount` against `limit` in the window holding `now` (ms); a sliding window also weighs the
/// previous one by how much of it still overlaps.
fn rate_hit(limit: &RateLimit, now: u64, amount: f64) -> Hit {
    let window_ms = (limit.window.as_millis() as u64).max(1);
    let into = now % window_ms;
    Hit {
        window: now / window_ms,
        window_ms,
        amount,
        limit: limit.limit,
        previous_weight: if limit.sliding {
            1.0 - into as f64 / window_ms as f64
        } else {
            0.0
        },
    }
}

fn fail_open(e: &StoreError) {
    tracing::warn!("limit counters unavailable, letting the request through: {e}");
}

/// `rl:` + `kind` + `who` + `:req|tok:SECS:MODEL` (the window's model filter, or `*`).
pub(crate) fn rate_counter(kind: &str, who: &str, limit: &RateLimit) -> String {
    let only = limit.model.as_deref().unwrap_or("*");
    let mut name = String::with_capacity(16 + kind.len() + who.len() + only.len());
    name.push_str("rl:");
    name.push_str(kind);
    name.push_str(who);
    name.push_str(match limit.unit {
        Unit::Requests => ":req:",
        Unit::Tokens => ":tok:",
    });
    name.push_str(&itoa_u64(limit.window.as_secs()));
    name.push(':');
    name.push_str(only);
    name
}

fn itoa_u64(mut n: u64) -> String {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits[i..].iter().map(|d| char::from(*d)).collect()
}

static LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
static REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
static RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

fn limited(limit: &RateLimit, total: f64, reset_ms: u64) -> GatewayError {
    let unit = match limit.unit {
        Unit::Requests => "requests",
        Unit::Tokens => "tokens",
    };
    let who = match &limit.scope {
        Scope::Gateway => "the gateway".to_owned(),
        Scope::Key => "this API key".to_owned(),
        Scope::User { field } => format!("this user (metadata `{field}`)"),
        Scope::Model => "this model".to_owned(),
    };
    let reset = Duration::from_millis(reset_ms).as_secs().max(1);
    let mut err = GatewayError::rate_limited(format!(
        "rate limit of {} {unit} per {} s for {who} reached ({} used); retry in {reset} s",
        limit.limit,
        limit.window.as_secs(),
        total.round()
    ));
    err.headers = vec![
        (RETRY_AFTER, HeaderValue::from(reset)),
        (LIMIT.clone(), HeaderValue::from(limit.limit as u64)),
        (
            REMAINING.clone(),
            HeaderValue::from((limit.limit - total).max(0.0) as u64),
        ),
        (RESET.clone(), HeaderValue::from(reset)),
    ];
    err
}

fn not_enforceable(name: &str, why: &str) -> GatewayError {
    let what = name.trim_start_matches("bg:");
    GatewayError::budget_not_enforceable(format!(
        "budget `{what}` cannot be charged for this request: {why}"
    ))
}

fn budget_unavailable(name: &str, e: &StoreError) -> GatewayError {
    let what = name.trim_start_matches("bg:");
    GatewayError::limits_unavailable(format!(
        "budget `{what}` cannot be checked: the limit counters are unavailable ({e}); set `[limits] budgets_when_unavailable = \"allow\"` to serve uncharged instead"
    ))
}

fn exhausted(name: &str, budget: &Budget, spent: f64) -> GatewayError {
    let what = name.trim_start_matches("bg:");
    GatewayError::rate_limited(format!(
        "budget `{what}` of ${} per {} is exhausted (${spent:.4} spent)",
        budget.usd,
        period_name(budget.period)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_periods() {
        // 2026-11-27 (a Friday) 12:00 UTC
        let now = 1_795_780_800_000;
        let (day, _) = period_window(Period::Day, now);
        let (week, _) = period_window(Period::Week, now);
        let (month, _) = period_window(Period::Month, now);
        // Monday 2026-11-23 is in the same week, Sunday 2026-11-22 is not
        assert_eq!(period_window(Period::Week, now - 4 * 86_400_000).0, week);
        assert_ne!(period_window(Period::Week, now - 5 * 86_400_000).0, week);
        assert_eq!(period_window(Period::Day, now + 11 * 3_600_000).0, day);
        assert_eq!(month, 2026 * 12 + 11);
        assert_eq!(
            period_window(Period::Month, now + 4 * 86_400_000).0,
            2026 * 12 + 12
        );
    }
}
