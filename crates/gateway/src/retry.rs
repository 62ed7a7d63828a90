//! Retries and fallbacks: the per-request controls (`cf-aig-max-attempts`, `cf-aig-retry-delay`,
//! `cf-aig-backoff`, `cf-aig-request-timeout`) over the config defaults, how long to wait before
//! a retry (honouring `Retry-After`), and the record of every failed attempt for the request log.
//!
//! A call is retried on its provider when the error says it could help (connect errors,
//! timeouts, 429, 5xx); after that the alias's fallbacks are tried in order on any upstream
//! error. All of it happens before the first byte goes to the client: once a reply is returned,
//! nothing is retried.

use std::time::Duration;

use http::header::RETRY_AFTER;
use http::HeaderMap;
use switchyard_config::control::{MAX_ATTEMPTS, MAX_RETRY_DELAY};
use switchyard_config::{Backoff, RetryConfig};

use crate::GatewayError;

/// The longest `Retry-After` the gateway waits out; a longer one moves on to the fallbacks.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The request's own retry headers (each optional: the config fills the rest).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetryControls {
    pub max_attempts: Option<u32>,
    pub delay: Option<Duration>,
    pub backoff: Option<Backoff>,
    /// `cf-aig-request-timeout`: time to the upstream's response headers, per attempt.
    pub request_timeout: Option<Duration>,
}

fn number(headers: &HeaderMap, name: &str) -> Result<Option<u64>, GatewayError> {
    let Some(v) = headers.get(name) else {
        return Ok(None);
    };
    v.to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| GatewayError::invalid_header(name, "expected a whole number".into()))
}

impl RetryControls {
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, GatewayError> {
        let mut c = RetryControls::default();
        if let Some(n) = number(headers, "cf-aig-max-attempts")? {
            if !(1..=u64::from(MAX_ATTEMPTS)).contains(&n) {
                return Err(GatewayError::invalid_header(
                    "cf-aig-max-attempts",
                    format!("must be 1 to {MAX_ATTEMPTS}"),
                ));
            }
            c.max_attempts = Some(n as u32);
        }
        if let Some(ms) = number(headers, "cf-aig-retry-delay")? {
            let d = Duration::from_millis(ms);
            if d > MAX_RETRY_DELAY {
                return Err(GatewayError::invalid_header(
                    "cf-aig-retry-delay",
                    "at most 5000 (milliseconds)".into(),
                ));
            }
            c.delay = Some(d);
        }
        if let Some(v) = headers.get("cf-aig-backoff") {
            let b = v.to_str().ok().and_then(|s| Backoff::parse(s.trim()));
            c.backoff = Some(b.ok_or_else(|| {
                GatewayError::invalid_header(
                    "cf-aig-backoff",
                    "expected constant, linear or exponential".into(),
                )
            })?);
        }
        if let Some(ms) = number(headers, "cf-aig-request-timeout")? {
            if ms == 0 {
                return Err(GatewayError::invalid_header(
                    "cf-aig-request-timeout",
                    "must be at least 1 (milliseconds)".into(),
                ));
            }
            c.request_timeout = Some(Duration::from_millis(ms));
        }
        Ok(c)
    }
}

/// The controls merged over the config.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub delay: Duration,
    pub backoff: Backoff,
    pub request_timeout: Option<Duration>,
}

impl RetryPolicy {
    pub fn new(defaults: &RetryConfig, c: RetryControls) -> Self {
        RetryPolicy {
            max_attempts: c.max_attempts.unwrap_or(defaults.max_attempts),
            delay: c.delay.unwrap_or(defaults.delay),
            backoff: c.backoff.unwrap_or(defaults.backoff),
            request_timeout: c.request_timeout,
        }
    }

    /// Before retry `retry` (1 = the first) after `err`: how long to wait, or `None` when this
    /// provider should not be tried again (no attempts left, an error a retry cannot fix, or a
    /// `Retry-After` longer than [`MAX_RETRY_AFTER`]).
    pub fn wait(&self, retry: u32, err: &GatewayError) -> Option<Duration> {
        if retry >= self.max_attempts || !err.retryable {
            return None;
        }
        let backoff = self.backoff.delay(self.delay, retry);
        match retry_after(err) {
            Some(after) if after > MAX_RETRY_AFTER => None,
            Some(after) => Some(after.max(backoff)),
            None => Some(backoff),
        }
    }
}

/// `Retry-After` in seconds (an HTTP date is not waited for: the backoff applies).
fn retry_after(err: &GatewayError) -> Option<Duration> {
    let (_, v) = err.headers.iter().find(|(n, _)| n == RETRY_AFTER)?;
    let secs: f64 = v.to_str().ok()?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// One upstream call that failed (the request log gets a row for each, with its step).
#[derive(Debug, Clone)]
pub struct Attempt {
    /// 0 = the model asked for, 1.. = its fallbacks (or the universal endpoint's steps).
    pub step: u32,
    /// The model as the client named it.
    pub requested: String,
    pub provider: String,
    pub provider_kind: &'static str,
    pub model: String,
    pub status: u16,
    pub error: String,
    /// Unix ms when it started, and how long it took.
    pub started_ms: i64,
    pub took: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderValue, StatusCode};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn headers_override_the_config_and_bad_values_are_refused() {
        let c = RetryControls::from_headers(&headers(&[
            ("cf-aig-max-attempts", "3"),
            ("cf-aig-retry-delay", "50"),
            ("cf-aig-backoff", "linear"),
            ("cf-aig-request-timeout", "1500"),
        ]))
        .unwrap();
        let p = RetryPolicy::new(&RetryConfig::default(), c);
        assert_eq!(p.max_attempts, 3);
        assert_eq!(p.delay, Duration::from_millis(50));
        assert_eq!(p.backoff, Backoff::Linear);
        assert_eq!(p.request_timeout, Some(Duration::from_millis(1500)));
        for bad in [
            ("cf-aig-max-attempts", "6"),
            ("cf-aig-max-attempts", "0"),
            ("cf-aig-retry-delay", "5001"),
            ("cf-aig-backoff", "random"),
            ("cf-aig-request-timeout", "soon"),
        ] {
            let e = RetryControls::from_headers(&headers(&[bad])).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{bad:?}");
        }
    }

    #[test]
    fn waits_follow_the_backoff_and_retry_after() {
        let p = RetryPolicy::new(
            &RetryConfig::default(),
            RetryControls {
                max_attempts: Some(3),
                delay: Some(Duration::from_millis(100)),
                ..RetryControls::default()
            },
        );
        let busy = GatewayError::upstream_status("p", StatusCode::SERVICE_UNAVAILABLE, b"{}");
        assert_eq!(p.wait(1, &busy), Some(Duration::from_millis(100)));
        assert_eq!(p.wait(2, &busy), Some(Duration::from_millis(200)));
        assert_eq!(p.wait(3, &busy), None, "three attempts in all");
        let bad = GatewayError::upstream_status("p", StatusCode::BAD_REQUEST, b"{}");
        assert_eq!(p.wait(1, &bad), None, "a 400 is not retried");
        let limited = GatewayError::upstream_status("p", StatusCode::TOO_MANY_REQUESTS, b"{}")
            .with_headers(vec![(RETRY_AFTER, HeaderValue::from_static("2"))]);
        assert_eq!(p.wait(1, &limited), Some(Duration::from_secs(2)));
        let long = GatewayError::upstream_status("p", StatusCode::TOO_MANY_REQUESTS, b"{}")
            .with_headers(vec![(RETRY_AFTER, HeaderValue::from_static("120"))]);
        assert_eq!(p.wait(1, &long), None);
    }
}
