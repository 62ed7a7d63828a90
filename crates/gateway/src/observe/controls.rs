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
    pub custom_cost: Option<f64>,
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
            // Cloudflare's shape is {"per_token_in": …, "per_token_out": …}; a bare number is a
            // total in USD. The per-token form needs the usage, so it is resolved later.
            let cost = raw
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|c| c.is_finite() && *c >= 0.0)
                .ok_or_else(|| {
                    GatewayError::invalid_header(
                        "cf-aig-custom-cost",
                        "expected a non-negative number of USD, e.g. 0.0025".into(),
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
            (Some(false), Some(0.25))
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
