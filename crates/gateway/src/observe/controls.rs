//! The request-log headers: `cf-aig-metadata` (a flat JSON object of at most 5 entries),
//! `cf-aig-collect-log-payload: false`, `cf-aig-custom-cost` (USD). Bad values are a 400 naming
//! the header.

use http::{HeaderMap, HeaderName};
use serde_json::Value;

use crate::GatewayError;

pub const MAX_METADATA_ENTRIES: usize = 5;

static METADATA: HeaderName = HeaderName::from_static("cf-aig-metadata");
static COLLECT_PAYLOAD: HeaderName = HeaderName::from_static("cf-aig-collect-log-payload");
static CUSTOM_COST: HeaderName = HeaderName::from_static("cf-aig-custom-cost");

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogControls {
    /// Compact JSON.
    pub metadata: Option<String>,
    /// The same entries, for rate limits and budgets keyed on them.
    pub fields: Option<serde_json::Map<String, Value>>,
    pub collect_payload: Option<bool>,
    pub custom_cost: Option<CustomCost>,
}

/// `cf-aig-custom-cost`: what the caller says a request cost — a total in USD (a bare number or
/// Cloudflare's `{"total_cost": …}`), or Cloudflare's per-token prices
/// (`{"per_token_in": …, "per_token_out": …}`, USD per token). It changes what is reported; a
/// budget is never charged less than the real cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CustomCost {
    Total(f64),
    PerToken { input: f64, output: f64 },
}

impl CustomCost {
    /// The cost in USD, given the request's tokens (`None` for per-token prices without usage).
    pub fn usd(self, tokens: Option<(u64, u64)>) -> Option<f64> {
        match self {
            CustomCost::Total(usd) => Some(usd),
            CustomCost::PerToken { input, output } => {
                tokens.map(|(i, o)| i as f64 * input + o as f64 * output)
            }
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        let usd = |v: Option<&Value>| -> Option<f64> {
            match v {
                None => Some(0.0),
                Some(v) => v.as_f64().filter(|c| c.is_finite() && *c >= 0.0),
            }
        };
        let raw = raw.trim();
        if let Ok(total) = raw.parse::<f64>() {
            return (total.is_finite() && total >= 0.0).then_some(CustomCost::Total(total));
        }
        let json: serde_json::Map<String, Value> = serde_json::from_str(raw).ok()?;
        if json
            .keys()
            .any(|k| !matches!(k.as_str(), "total_cost" | "per_token_in" | "per_token_out"))
        {
            return None;
        }
        match json.get("total_cost") {
            Some(total) if json.len() == 1 => usd(Some(total)).map(CustomCost::Total),
            Some(_) => None,
            None if json.is_empty() => None,
            None => Some(CustomCost::PerToken {
                input: usd(json.get("per_token_in"))?,
                output: usd(json.get("per_token_out"))?,
            }),
        }
    }
}

impl LogControls {
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, GatewayError> {
        let mut c = LogControls::default();
        // looked up by `HeaderName` (a `&str` name is parsed and validated on every lookup)
        let text = |name: &'static HeaderName| -> Result<Option<&str>, GatewayError> {
            headers
                .get(name)
                .map(|v| {
                    v.to_str().map_err(|_| {
                        GatewayError::invalid_header(name.as_str(), "not valid text".into())
                    })
                })
                .transpose()
        };
        if let Some(raw) = text(&METADATA)? {
            const NAME: &str = "cf-aig-metadata";
            let bad = |m: String| GatewayError::invalid_header(NAME, m);
            let value: Value =
                serde_json::from_str(raw).map_err(|e| bad(format!("not JSON: {e}")))?;
            let Value::Object(map) = value else {
                return Err(bad(
                    "expected a JSON object, e.g. {\"team\":\"search\"}".into()
                ));
            };
            if map.len() > MAX_METADATA_ENTRIES {
                return Err(bad(format!(
                    "at most {MAX_METADATA_ENTRIES} entries (got {})",
                    map.len()
                )));
            }
            for (k, v) in &map {
                if k.is_empty() || !(v.is_string() || v.is_number() || v.is_boolean()) {
                    return Err(bad(format!(
                        "entry `{k}`: keys must be non-empty and values strings, numbers or booleans (flat, no nesting)"
                    )));
                }
            }
            let map = Value::Object(map);
            c.metadata = Some(map.to_string());
            if let Value::Object(map) = map {
                c.fields = Some(map);
            }
        }
        if let Some(raw) = text(&COLLECT_PAYLOAD)? {
            c.collect_payload = Some(crate::cache::controls::bool_header(
                "cf-aig-collect-log-payload",
                raw.as_bytes(),
            )?);
        }
        if let Some(raw) = text(&CUSTOM_COST)? {
            // the per-token form needs the usage, so it is resolved when the answer ends
            let cost = CustomCost::parse(raw).ok_or_else(|| {
                GatewayError::invalid_header(
                    "cf-aig-custom-cost",
                    "expected a non-negative number of USD (0.0025), {\"total_cost\": 0.0025} or {\"per_token_in\": 0.000001, \"per_token_out\": 0.000002}".into(),
                )
            })?;
            c.custom_cost = Some(cost);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn parse(pairs: &[(&'static str, &str)]) -> Result<LogControls, GatewayError> {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        LogControls::from_headers(&h)
    }

    #[test]
    fn valid_controls() {
        let c = parse(&[
            (
                "cf-aig-metadata",
                r#"{ "team": "search", "n": 3, "beta": true }"#,
            ),
            ("cf-aig-collect-log-payload", "false"),
            ("cf-aig-custom-cost", "0.25"),
        ])
        .unwrap();
        assert_eq!(
            c.metadata.as_deref(),
            Some(r#"{"beta":true,"n":3,"team":"search"}"#)
        );
        assert_eq!(
            (c.collect_payload, c.custom_cost),
            (Some(false), Some(CustomCost::Total(0.25)))
        );
        // Cloudflare's JSON forms
        for (raw, want) in [
            (r#"{"total_cost": 0.5}"#, CustomCost::Total(0.5)),
            (
                r#"{"per_token_in": 0.000001, "per_token_out": 0.000002}"#,
                CustomCost::PerToken {
                    input: 0.000001,
                    output: 0.000002,
                },
            ),
            (
                r#"{"per_token_out": 0.1}"#,
                CustomCost::PerToken {
                    input: 0.0,
                    output: 0.1,
                },
            ),
        ] {
            let c = parse(&[("cf-aig-custom-cost", raw)]).unwrap();
            assert_eq!(c.custom_cost, Some(want), "{raw}");
        }
        assert_eq!(
            CustomCost::PerToken {
                input: 0.5,
                output: 1.0
            }
            .usd(Some((2, 3))),
            Some(4.0)
        );
    }

    #[test]
    fn bad_controls_name_the_header() {
        for (name, value, says) in [
            ("cf-aig-metadata", "nope", "not JSON"),
            ("cf-aig-metadata", "[1]", "JSON object"),
            (
                "cf-aig-metadata",
                r#"{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6}"#,
                "at most 5",
            ),
            ("cf-aig-metadata", r#"{"a":{"b":1}}"#, "no nesting"),
            ("cf-aig-collect-log-payload", "perhaps", "true or false"),
            ("cf-aig-custom-cost", "-1", "non-negative"),
            (
                "cf-aig-custom-cost",
                r#"{"per_token_in": -1}"#,
                "non-negative",
            ),
            (
                "cf-aig-custom-cost",
                r#"{"total_cost": 1, "per_token_in": 1}"#,
                "non-negative",
            ),
            ("cf-aig-custom-cost", r#"{"price": 1}"#, "non-negative"),
            ("cf-aig-custom-cost", "{}", "non-negative"),
        ] {
            let e = parse(&[(name, value)]).unwrap_err();
            assert!(
                e.message.contains(name) && e.message.contains(says),
                "{}",
                e.message
            );
        }
    }
}
