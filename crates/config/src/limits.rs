//! `[limits]` (where counters live), `[[rate_limits]]` and `[[budgets]]`, and the short forms a
//! key carries (`100/min`, `50000 tokens/hour`, `10/month`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::env::Env;
use crate::{ConfigError, Source};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// `memory` (default: this gateway alone) or `redis` (one count for every replica).
    pub backend: Option<Spanned<String>>,
    pub url: Option<Spanned<String>>,
    pub prefix: Option<String>,
    pub timeout_ms: Option<u64>,
    /// `refuse` (default) or `allow`: what a request under a budget gets when the counters
    /// cannot be read (Redis down).
    pub budgets_when_unavailable: Option<Spanned<String>>,
    /// USD per million tokens (input and output alike) charged for models without a price
    /// under a budget; unset, such requests are refused.
    pub unpriced_usd_per_mtok: Option<Spanned<f64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// `gateway` | `key` | `user` | `model`.
    pub scope: Spanned<String>,
    pub limit: Spanned<f64>,
    /// `10s`, `1m`, `1h`, `1d`.
    pub window: Spanned<String>,
    /// `requests` (default) | `tokens`.
    pub unit: Option<Spanned<String>>,
    /// `fixed` (default) | `sliding`.
    pub technique: Option<Spanned<String>>,
    /// scope `user`: the `cf-aig-metadata` entry naming the user (default `user`).
    pub field: Option<String>,
    /// Only requests for this model (as clients name it).
    pub model: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBudget {
    /// `key` | `metadata` | `provider` | `model`.
    pub scope: Spanned<String>,
    /// scope `metadata`: which entry.
    pub field: Option<String>,
    /// Only this value (a metadata value, provider or model); else each value has its own.
    pub value: Option<String>,
    pub usd: Spanned<f64>,
    /// `day` | `week` | `month` (UTC calendar periods).
    pub period: Spanned<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum CounterBackend {
    Memory,
    Redis {
        #[serde(serialize_with = "crate::ser::redacted_url")]
        url: String,
        prefix: String,
        #[serde(rename = "timeout_ms", serialize_with = "crate::ser::millis")]
        timeout: Duration,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Requests,
    Tokens,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "scope")]
pub enum Scope {
    Gateway,
    Key,
    User { field: String },
    Model,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateLimit {
    #[serde(flatten)]
    pub scope: Scope,
    pub limit: f64,
    #[serde(serialize_with = "window_text")]
    pub window: Duration,
    pub unit: Unit,
    #[serde(rename = "technique", serialize_with = "technique")]
    pub sliding: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    Day,
    Week,
    Month,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "scope")]
pub enum BudgetScope {
    Key,
    Metadata { field: String },
    Provider,
    Model,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    #[serde(flatten)]
    pub scope: BudgetScope,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub usd: f64,
    pub period: Period,
}

#[derive(Debug, Clone, Serialize)]
pub struct LimitsConfig {
    #[serde(flatten)]
    pub backend: CounterBackend,
    pub rate_limits: Vec<RateLimit>,
    pub budgets: Vec<Budget>,
    /// Serve requests under a budget, uncharged, while the counters cannot be read (else they
    /// are refused with 503).
    pub budgets_fail_open: bool,
    /// USD per million tokens charged for unpriced models under a budget (`None`: refused).
    pub unpriced_usd_per_mtok: Option<f64>,
    /// `[runtime] free_units_per_day`: each key's daily allowance on local models.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_allowance: Option<LocalAllowance>,
}

/// Free compute units per key per UTC day, and what they are worth in USD (budgets count USD).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LocalAllowance {
    pub units: f64,
    pub usd: f64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            backend: CounterBackend::Memory,
            rate_limits: Vec::new(),
            budgets: Vec::new(),
            budgets_fail_open: false,
            unpriced_usd_per_mtok: None,
            local_allowance: None,
        }
    }
}

fn window_text<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{}s", d.as_secs()))
}

fn technique<S: serde::Serializer>(sliding: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if *sliding { "sliding" } else { "fixed" })
}

/// `1m` / `10s` / `1h` / `1d` or `min` / `minute` / `hour` / `day` / `second`.
fn window(s: &str) -> Option<Duration> {
    let s = s.trim();
    let named = match s {
        "s" | "sec" | "second" => Some(1),
        "m" | "min" | "minute" => Some(60),
        "h" | "hour" => Some(3600),
        "d" | "day" => Some(86_400),
        _ => None,
    };
    if let Some(secs) = named {
        return Some(Duration::from_secs(secs));
    }
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let n: u64 = s[..split].parse().ok().filter(|n| *n > 0)?;
    let unit = window(&s[split..])?;
    unit.checked_mul(u32::try_from(n).ok()?)
}

/// A key's rate limit: `100/min`, `5000 tokens/hour`, `10 requests/10s`.
pub fn parse_rate(spec: &str) -> Result<RateLimit, String> {
    let bad = || format!("rate limit `{spec}`: expected e.g. 100/min or 50000 tokens/hour");
    let (amount, per) = spec.split_once('/').ok_or_else(bad)?;
    let mut words = amount.split_whitespace();
    let limit: f64 = words.next().and_then(|n| n.parse().ok()).ok_or_else(bad)?;
    let unit = match words.next() {
        None | Some("requests" | "request") => Unit::Requests,
        Some("tokens" | "token") => Unit::Tokens,
        Some(_) => return Err(bad()),
    };
    if words.next().is_some() || !(limit > 0.0 && limit.is_finite()) {
        return Err(bad());
    }
    Ok(RateLimit {
        scope: Scope::Key,
        limit,
        window: window(per).ok_or_else(bad)?,
        unit,
        sliding: false,
        model: None,
    })
}

/// A key's budget: `10/month`, `2.5/day` (USD).
pub fn parse_budget(spec: &str) -> Result<Budget, String> {
    let bad = || format!("budget `{spec}`: expected USD per day, week or month, e.g. 10/month");
    let (usd, per) = spec.split_once('/').ok_or_else(bad)?;
    let usd: f64 = usd
        .trim()
        .trim_start_matches('$')
        .parse()
        .map_err(|_| bad())?;
    if !(usd > 0.0 && usd.is_finite()) {
        return Err(bad());
    }
    Ok(Budget {
        scope: BudgetScope::Key,
        value: None,
        usd,
        period: period(per.trim()).ok_or_else(bad)?,
    })
}

fn period(s: &str) -> Option<Period> {
    match s {
        "day" | "daily" => Some(Period::Day),
        "week" | "weekly" => Some(Period::Week),
        "month" | "monthly" => Some(Period::Month),
        _ => None,
    }
}

pub(crate) struct RawControl {
    pub limits: RawLimits,
    pub rate_limits: Vec<RawRateLimit>,
    pub budgets: Vec<RawBudget>,
}

pub(crate) fn limits(
    raw: RawControl,
    src: &Source<'_>,
    env: &dyn Env,
) -> Result<LimitsConfig, ConfigError> {
    let mut c = LimitsConfig::default();
    match raw.limits.backend.as_ref().map(|b| b.get_ref().as_str()) {
        None | Some("memory") => {}
        Some("redis") => {
            let url = raw
                .limits
                .url
                .as_ref()
                .ok_or_else(|| src.error(None, "`[limits] backend = \"redis\"` needs `url`"))?;
            let url = match url.get_ref().strip_prefix("env:") {
                Some(var) => env.var(var).ok_or_else(|| {
                    src.error(
                        Some(url.span()),
                        format!(
                            "`limits.url` refers to environment variable `{var}`, which is not set"
                        ),
                    )
                })?,
                None => url.get_ref().clone(),
            };
            c.backend = CounterBackend::Redis {
                url,
                prefix: raw.limits.prefix.unwrap_or_else(|| "switchyard:".into()),
                timeout: Duration::from_millis(raw.limits.timeout_ms.unwrap_or(250)),
            };
        }
        Some(other) => {
            let span = raw.limits.backend.as_ref().map(Spanned::span);
            return Err(src.error(
                span,
                format!("`limits.backend` must be \"memory\" or \"redis\", not `{other}`"),
            ));
        }
    }
    if let Some(v) = &raw.limits.budgets_when_unavailable {
        c.budgets_fail_open = match v.get_ref().as_str() {
            "refuse" => false,
            "allow" => true,
            other => {
                return Err(src.error(
                    Some(v.span()),
                    format!("`limits.budgets_when_unavailable` must be \"refuse\" or \"allow\", not `{other}`"),
                ))
            }
        };
    }
    if let Some(v) = &raw.limits.unpriced_usd_per_mtok {
        let rate = *v.get_ref();
        if !(rate >= 0.0 && rate.is_finite()) {
            return Err(src.error(
                Some(v.span()),
                "`limits.unpriced_usd_per_mtok` must be a price in USD per million tokens",
            ));
        }
        c.unpriced_usd_per_mtok = Some(rate);
    }
    for r in raw.rate_limits {
        let scope = match r.scope.get_ref().as_str() {
            "gateway" => Scope::Gateway,
            "key" => Scope::Key,
            "user" => Scope::User {
                field: r.field.clone().unwrap_or_else(|| "user".into()),
            },
            "model" => Scope::Model,
            other => {
                return Err(src.error(
                    Some(r.scope.span()),
                    format!("rate limit scope must be gateway, key, user or model, not `{other}`"),
                ))
            }
        };
        let limit = *r.limit.get_ref();
        if !(limit > 0.0 && limit.is_finite()) {
            return Err(src.error(Some(r.limit.span()), "`limit` must be positive"));
        }
        let w = window(r.window.get_ref()).ok_or_else(|| {
            src.error(
                Some(r.window.span()),
                "`window`: expected e.g. 10s, 1m, 1h, 1d",
            )
        })?;
        let unit = match r.unit.as_ref().map(|u| u.get_ref().as_str()) {
            None | Some("requests") => Unit::Requests,
            Some("tokens") => Unit::Tokens,
            Some(_) => {
                let span = r.unit.as_ref().map(Spanned::span);
                return Err(src.error(span, "`unit` must be \"requests\" or \"tokens\""));
            }
        };
        let sliding = match r.technique.as_ref().map(|t| t.get_ref().as_str()) {
            None | Some("fixed") => false,
            Some("sliding") => true,
            Some(_) => {
                let span = r.technique.as_ref().map(Spanned::span);
                return Err(src.error(span, "`technique` must be \"fixed\" or \"sliding\""));
            }
        };
        c.rate_limits.push(RateLimit {
            scope,
            limit,
            window: w,
            unit,
            sliding,
            model: r.model,
        });
    }
    for b in raw.budgets {
        let scope = match b.scope.get_ref().as_str() {
            "key" => BudgetScope::Key,
            "metadata" => BudgetScope::Metadata {
                field: b.field.clone().ok_or_else(|| {
                    src.error(Some(b.scope.span()), "a metadata budget needs `field`")
                })?,
            },
            "provider" => BudgetScope::Provider,
            "model" => BudgetScope::Model,
            other => {
                return Err(src.error(
                    Some(b.scope.span()),
                    format!("budget scope must be key, metadata, provider or model, not `{other}`"),
                ))
            }
        };
        let usd = *b.usd.get_ref();
        if !(usd > 0.0 && usd.is_finite()) {
            return Err(src.error(Some(b.usd.span()), "`usd` must be positive"));
        }
        let period = period(b.period.get_ref()).ok_or_else(|| {
            src.error(Some(b.period.span()), "`period` must be day, week or month")
        })?;
        c.budgets.push(Budget {
            scope,
            value: b.value,
            usd,
            period,
        });
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_specs_parse() {
        let r = parse_rate("100/min").unwrap();
        assert_eq!(
            (r.limit, r.window, r.unit),
            (100.0, Duration::from_secs(60), Unit::Requests)
        );
        let r = parse_rate("50000 tokens/hour").unwrap();
        assert_eq!(
            (r.limit, r.window, r.unit),
            (50_000.0, Duration::from_secs(3600), Unit::Tokens)
        );
        assert_eq!(parse_rate("5/10s").unwrap().window, Duration::from_secs(10));
        for bad in ["100", "x/min", "0/min", "5 apples/min", "5/fortnight"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
        let b = parse_budget("$10/month").unwrap();
        assert_eq!((b.usd, b.period), (10.0, Period::Month));
        assert!(parse_budget("10/year").is_err());
        assert!(parse_budget("-1/day").is_err());
    }
}
