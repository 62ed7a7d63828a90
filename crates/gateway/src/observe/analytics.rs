//! Grouped figures over log rows: requests, errors, cache hit ratio, tokens, cost, latency
//! percentiles. Computed from the rows themselves, so they always equal sums over the raw log.

use std::collections::BTreeMap;

use serde::Serialize;
use switchyard_store::logs::LogRecord;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    Provider,
    Model,
    Day,
    Hour,
    /// A `cf-aig-metadata` key.
    Metadata(String),
}

impl std::str::FromStr for GroupBy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "provider" => GroupBy::Provider,
            "model" => GroupBy::Model,
            "day" => GroupBy::Day,
            "hour" => GroupBy::Hour,
            other => match other.strip_prefix("metadata.") {
                Some(key) if !key.is_empty() => GroupBy::Metadata(key.to_owned()),
                _ => {
                    return Err(format!(
                        "cannot group by `{other}`: expected provider, model, day, hour or metadata.KEY"
                    ))
                }
            },
        })
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Group {
    pub key: String,
    pub requests: u64,
    pub errors: u64,
    pub cached: u64,
    pub cache_hit_ratio: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cost_usd: f64,
    /// Rows that used tokens of a model with no price (their cost is not in `cost_usd`).
    pub unpriced: u64,
    pub saved_cost_usd: f64,
    /// Compute units of local-model requests (metering).
    pub units: f64,
    /// Requests a local model answered, and their share.
    pub local_requests: u64,
    pub local_share: f64,
    /// What the requests that went to a provider cost.
    pub frontier_cost_usd: f64,
    /// What everything would have cost on the frontier tier (`[router]`): local answers priced
    /// as the first frontier model; `None` without a router.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_frontier_cost_usd: Option<f64>,
    pub p50_ms: f64,
    pub p95_ms: f64,
}

/// `YYYY-MM-DD` (and `THH` for hours) in UTC for a Unix-ms time.
pub fn utc_bucket(ms: i64, hour: bool) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let h = secs.rem_euclid(86_400) / 3600;
    // civil-from-days (Howard Hinnant's algorithm)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    if hour {
        format!("{y:04}-{m:02}-{d:02}T{h:02}")
    } else {
        format!("{y:04}-{m:02}-{d:02}")
    }
}

fn key_of(r: &LogRecord, by: &GroupBy) -> String {
    match by {
        GroupBy::Provider => r.provider.clone().unwrap_or_default(),
        GroupBy::Model => r.model.clone().unwrap_or_default(),
        GroupBy::Day => utc_bucket(r.created_at, false),
        GroupBy::Hour => utc_bucket(r.created_at, true),
        GroupBy::Metadata(k) => r
            .metadata
            .as_deref()
            .and_then(|m| serde_json::from_str::<serde_json::Value>(m).ok())
            .and_then(|v| {
                v.get(k).map(|x| match x {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
            })
            .unwrap_or_default(),
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn analyze(rows: &[LogRecord], by: &GroupBy) -> Vec<Group> {
    analyze_metered(rows, by, &NoMeter)
}

/// What analytics know about local rows beyond the row itself.
pub trait RowMeter {
    /// Compute units the row used (local models).
    fn units(&self, r: &LogRecord) -> Option<f64>;
    /// What the row would have cost on the frontier tier; `None` without a router.
    fn all_frontier_cost(&self, r: &LogRecord) -> Option<f64>;
}

struct NoMeter;

impl RowMeter for NoMeter {
    fn units(&self, _: &LogRecord) -> Option<f64> {
        None
    }
    fn all_frontier_cost(&self, _: &LogRecord) -> Option<f64> {
        None
    }
}

/// [`analyze`], with units and the savings report from `meter`.
pub fn analyze_metered(rows: &[LogRecord], by: &GroupBy, meter: &dyn RowMeter) -> Vec<Group> {
    let mut groups: BTreeMap<String, (Group, Vec<f64>)> = BTreeMap::new();
    for r in rows {
        let key = key_of(r, by);
        let (g, durations) = groups.entry(key.clone()).or_insert_with(|| {
            (
                Group {
                    key,
                    ..Group::default()
                },
                Vec::new(),
            )
        });
        g.requests += 1;
        g.errors += u64::from(!r.success);
        g.cached += u64::from(r.cached);
        g.input_tokens += r.input_tokens.unwrap_or(0).max(0) as u64;
        g.output_tokens += r.output_tokens.unwrap_or(0).max(0) as u64;
        match r.cost_usd {
            Some(c) => g.cost_usd += c,
            // tokens were used but have no price (a failure that used none costs nothing)
            None if r.input_tokens.is_some() || r.output_tokens.is_some() => g.unpriced += 1,
            None => {}
        }
        g.saved_cost_usd += r.saved_cost_usd.unwrap_or(0.0);
        g.units += meter.units(r).unwrap_or(0.0);
        if r.provider.as_deref() == Some("local") {
            g.local_requests += 1;
        } else {
            g.frontier_cost_usd += r.cost_usd.unwrap_or(0.0);
        }
        if let Some(c) = meter.all_frontier_cost(r) {
            *g.all_frontier_cost_usd.get_or_insert(0.0) += c;
        }
        durations.push(r.duration_ms);
    }
    groups
        .into_values()
        .map(|(mut g, mut d)| {
            d.sort_by(f64::total_cmp);
            g.p50_ms = percentile(&d, 50.0);
            g.p95_ms = percentile(&d, 95.0);
            g.cache_hit_ratio = g.cached as f64 / g.requests.max(1) as f64;
            g.local_share = g.local_requests as f64 / g.requests.max(1) as f64;
            g
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_utc_calendar_days_and_hours() {
        assert_eq!(utc_bucket(0, false), "1970-01-01");
        assert_eq!(utc_bucket(951_782_400_000, true), "2000-02-29T00");
        assert_eq!(utc_bucket(1_798_761_599_000, true), "2026-12-31T23");
    }

    #[test]
    fn groups_add_up() {
        let row = |model: &str, ms: f64, cost: Option<f64>, ok: bool, cached: bool| LogRecord {
            model: Some(model.into()),
            duration_ms: ms,
            cost_usd: cost,
            success: ok,
            cached,
            input_tokens: Some(3),
            metadata: Some(format!("{{\"team\":\"{model}x\"}}")),
            ..LogRecord::default()
        };
        let rows: Vec<LogRecord> = (1..=20)
            .map(|i| {
                row(
                    if i % 2 == 0 { "a" } else { "b" },
                    i as f64,
                    (i % 5 != 0).then_some(0.5),
                    i % 7 != 0,
                    i % 4 == 0,
                )
            })
            .collect();
        let g = analyze(&rows, &GroupBy::Model);
        assert_eq!(g.len(), 2);
        let a = &g[0];
        assert_eq!(
            (
                a.key.as_str(),
                a.requests,
                a.errors,
                a.cached,
                a.input_tokens
            ),
            ("a", 10, 1, 5, 30)
        );
        assert_eq!((a.cost_usd, a.unpriced), (4.0, 2));
        assert_eq!((a.p50_ms, a.p95_ms), (10.0, 20.0));
        let by_team = analyze(&rows, &"metadata.team".parse().unwrap());
        assert_eq!(by_team[0].key, "ax");
        assert!("colour".parse::<GroupBy>().is_err());
    }
}
