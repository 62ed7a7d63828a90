//! Per-request cache controls, Cloudflare AI Gateway's headers: `cf-aig-cache-ttl` (seconds),
//! `cf-aig-skip-cache: true`, `cf-aig-cache-key` (and the older `cf-cache-ttl`, `cf-skip-cache`).
//! A value the gateway cannot use is a 400 naming the header, never silently ignored.

use std::time::Duration;

use http::HeaderMap;
use switchyard_config::cache::MAX_TTL;

use crate::GatewayError;

/// Longest accepted `cf-aig-cache-key`.
const MAX_KEY_LEN: usize = 1024;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControls {
    /// Overrides the configured TTL (and turns caching on for this request); zero skips the cache.
    pub ttl: Option<Duration>,
    /// Neither read nor write the cache.
    pub skip: bool,
    /// Replaces the computed key.
    pub key: Option<String>,
}

fn header<'a>(headers: &'a HeaderMap, names: &[&'static str]) -> Option<(&'static str, &'a [u8])> {
    names
        .iter()
        .find_map(|n| headers.get(*n).map(|v| (*n, v.as_bytes())))
}

/// A `cf-aig-*` flag: `true`/`false` (any case) or `1`/`0`.
pub(crate) fn bool_header(name: &str, value: &[u8]) -> Result<bool, GatewayError> {
    match value.trim_ascii().to_ascii_lowercase().as_slice() {
        b"true" | b"1" => Ok(true),
        b"false" | b"0" => Ok(false),
        _ => Err(GatewayError::invalid_header(
            name,
            "expected true or false".to_owned(),
        )),
    }
}

impl CacheControls {
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, GatewayError> {
        let mut controls = CacheControls::default();
        if let Some((name, value)) = header(headers, &["cf-aig-cache-ttl", "cf-cache-ttl"]) {
            let secs = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    GatewayError::invalid_header(
                        name,
                        "expected a whole number of seconds, e.g. 3600".to_owned(),
                    )
                })?;
            let ttl = Duration::from_secs(secs);
            if ttl > MAX_TTL {
                return Err(GatewayError::invalid_header(
                    name,
                    format!("at most {} seconds (30 days)", MAX_TTL.as_secs()),
                ));
            }
            controls.ttl = Some(ttl);
        }
        if let Some((name, value)) = header(headers, &["cf-aig-skip-cache", "cf-skip-cache"]) {
            controls.skip = bool_header(name, value)?;
        }
        if let Some((name, value)) = header(headers, &["cf-aig-cache-key"]) {
            let key = std::str::from_utf8(value).unwrap_or_default().trim();
            if key.is_empty() || key.len() > MAX_KEY_LEN {
                return Err(GatewayError::invalid_header(
                    name,
                    format!("expected 1 to {MAX_KEY_LEN} characters"),
                ));
            }
            controls.key = Some(key.to_owned());
        }
        Ok(controls)
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn parse(pairs: &[(&'static str, &str)]) -> Result<CacheControls, GatewayError> {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        CacheControls::from_headers(&h)
    }

    #[test]
    fn reads_cloudflares_headers() {
        assert_eq!(parse(&[]).unwrap(), CacheControls::default());
        let c = parse(&[
            ("cf-aig-cache-ttl", "60"),
            ("cf-aig-skip-cache", "TRUE"),
            ("cf-aig-cache-key", " faq-1 "),
        ])
        .unwrap();
        assert_eq!(c.ttl, Some(Duration::from_secs(60)));
        assert!(c.skip);
        assert_eq!(c.key.as_deref(), Some("faq-1"));
        assert_eq!(
            parse(&[("cf-cache-ttl", "5")]).unwrap().ttl,
            Some(Duration::from_secs(5))
        );
    }

    #[test]
    fn refuses_values_it_cannot_use() {
        for (name, value, says) in [
            ("cf-aig-cache-ttl", "soon", "whole number of seconds"),
            ("cf-aig-cache-ttl", "-1", "whole number of seconds"),
            ("cf-aig-cache-ttl", "99999999", "at most 2592000"),
            ("cf-aig-skip-cache", "maybe", "true or false"),
            ("cf-aig-cache-key", " ", "1 to 1024"),
        ] {
            let err = parse(&[(name, value)]).unwrap_err();
            assert_eq!(err.status, http::StatusCode::BAD_REQUEST);
            assert!(
                err.message.contains(name) && err.message.contains(says),
                "{}",
                err.message
            );
        }
    }
}
