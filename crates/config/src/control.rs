//! `[auth]` (gateway API keys, the admin token) and `[retries]` (what a failed upstream call
//! gets by default).

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_providers::Secret;
use toml::Spanned;

use crate::env::Env;
use crate::{ConfigError, Source};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// Every API request must carry a gateway key (`sy-…`). Default false, which is allowed
    /// only on a loopback listener.
    pub required: Option<bool>,
    /// Protects `/api/*` and `/metrics`; `env:VAR` allowed. Required on a non-loopback listener.
    pub admin_token: Option<Spanned<String>>,
    /// Where keys are stored: `sqlite://PATH` (default `.switchyard/keys.db`) or `postgres://…`
    /// (shared by replicas); `env:VAR` allowed.
    pub url: Option<Spanned<String>>,
    /// Seals stored provider keys (AES-256-GCM): 64 hex digits, `env:VAR` (default
    /// `env:SWITCHYARD_MASTER_KEY` when that is set) or `file:PATH`.
    pub master_key: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuthConfig {
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_token: Option<Secret>,
    #[serde(serialize_with = "crate::ser::redacted_url")]
    pub url: String,
    /// Never written out, not even redacted (a redacted value would not load again).
    #[serde(skip)]
    pub master_key: Option<Secret>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            required: false,
            admin_token: None,
            url: "sqlite://.switchyard/keys.db".to_owned(),
            master_key: None,
        }
    }
}

fn resolve(
    value: &Spanned<String>,
    field: &str,
    src: &Source<'_>,
    env: &dyn Env,
) -> Result<String, ConfigError> {
    match value.get_ref().strip_prefix("env:") {
        Some(var) => env.var(var).ok_or_else(|| {
            src.error(
                Some(value.span()),
                format!("`{field}` refers to environment variable `{var}`, which is not set"),
            )
        }),
        None => Ok(value.get_ref().clone()),
    }
}

pub(crate) fn auth(
    raw: RawAuth,
    listen: SocketAddr,
    src: &Source<'_>,
    env: &dyn Env,
) -> Result<AuthConfig, ConfigError> {
    let mut c = AuthConfig::default();
    if let Some(v) = raw.required {
        c.required = v;
    }
    if let Some(t) = &raw.admin_token {
        let token = resolve(t, "auth.admin_token", src, env)?;
        if token.len() < 16 {
            return Err(src.error(
                Some(t.span()),
                "`auth.admin_token` must be at least 16 characters",
            ));
        }
        c.admin_token = Some(Secret::new(token));
    }
    if let Some(url) = &raw.url {
        let value = resolve(url, "auth.url", src, env)?;
        if !["sqlite://", "postgres://", "postgresql://"]
            .iter()
            .any(|p| value.starts_with(p))
        {
            return Err(src.error(
                Some(url.span()),
                "`auth.url` must be sqlite://PATH or postgres://USER@HOST/DB",
            ));
        }
        c.url = value;
    }
    let master = match &raw.master_key {
        Some(m) => match m.get_ref().strip_prefix("file:") {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| {
                        src.error(
                            Some(m.span()),
                            format!("`auth.master_key`: cannot read {path}: {e}"),
                        )
                    })?
                    .trim()
                    .to_owned(),
            ),
            None => Some(resolve(m, "auth.master_key", src, env)?),
        },
        None => env.var("SWITCHYARD_MASTER_KEY"),
    };
    if let Some(m) = master {
        if m.len() != 64 || !m.bytes().all(|b| b.is_ascii_hexdigit()) {
            let span = raw.master_key.as_ref().map(Spanned::span);
            return Err(src.error(
                span,
                "the master key (auth.master_key or SWITCHYARD_MASTER_KEY) must be 64 hex digits (32 bytes): e.g. `openssl rand -hex 32`",
            ));
        }
        c.master_key = Some(Secret::new(m));
    }
    check_exposure(listen, &c).map_err(|m| src.error(None, m))?;
    Ok(c)
}

/// Open mode (no gateway keys) and an unprotected admin API are only allowed on loopback.
pub fn check_exposure(listen: SocketAddr, auth: &AuthConfig) -> Result<(), String> {
    if listen.ip().is_loopback() {
        return Ok(());
    }
    if !auth.required {
        return Err(format!("listening on {listen}, which is not a loopback address, needs `[auth] required = true`: open mode (no gateway keys) is only allowed on 127.0.0.1 / ::1"));
    }
    if auth.admin_token.is_none() {
        return Err(format!("listening on {listen}, which is not a loopback address, needs `[auth] admin_token` to protect /api/* and /metrics"));
    }
    Ok(())
}

/// `cf-aig-backoff` and `[retries] backoff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backoff {
    Constant,
    Linear,
    #[default]
    Exponential,
}

impl Backoff {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "constant" => Some(Backoff::Constant),
            "linear" => Some(Backoff::Linear),
            "exponential" => Some(Backoff::Exponential),
            _ => None,
        }
    }

    /// The wait before retry number `retry` (1 = the first retry).
    pub fn delay(self, base: Duration, retry: u32) -> Duration {
        match self {
            Backoff::Constant => base,
            Backoff::Linear => base.saturating_mul(retry),
            Backoff::Exponential => base.saturating_mul(1u32 << retry.saturating_sub(1).min(16)),
        }
    }
}

/// Most attempts per upstream (`cf-aig-max-attempts` and config), longest base delay.
pub const MAX_ATTEMPTS: u32 = 5;
pub const MAX_RETRY_DELAY: Duration = Duration::from_millis(5000);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetries {
    pub max_attempts: Option<Spanned<u32>>,
    pub delay_ms: Option<Spanned<u64>>,
    pub backoff: Option<Backoff>,
}

/// Defaults for retrying a failed upstream call (connect errors, 429, 5xx), before any byte has
/// gone to the client.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RetryConfig {
    pub max_attempts: u32,
    #[serde(rename = "delay_ms", serialize_with = "crate::ser::millis")]
    pub delay: Duration,
    pub backoff: Backoff,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: 1,
            delay: Duration::from_millis(200),
            backoff: Backoff::Exponential,
        }
    }
}

pub(crate) fn retries(raw: RawRetries, src: &Source<'_>) -> Result<RetryConfig, ConfigError> {
    let mut c = RetryConfig::default();
    if let Some(n) = &raw.max_attempts {
        if !(1..=MAX_ATTEMPTS).contains(n.get_ref()) {
            return Err(src.error(
                Some(n.span()),
                format!("`retries.max_attempts` must be 1 to {MAX_ATTEMPTS}"),
            ));
        }
        c.max_attempts = *n.get_ref();
    }
    if let Some(d) = &raw.delay_ms {
        let delay = Duration::from_millis(*d.get_ref());
        if delay > MAX_RETRY_DELAY {
            return Err(src.error(Some(d.span()), "`retries.delay_ms` must be at most 5000"));
        }
        c.delay = delay;
    }
    if let Some(b) = raw.backoff {
        c.backoff = b;
    }
    Ok(c)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBreaker {
    /// Consecutive failures that eject an upstream (default 5; 0 turns the breaker off).
    pub failures: Option<u32>,
    /// How long it stays out before one probe request may try it again (default 30).
    pub open_seconds: Option<u64>,
}

/// The circuit breaker for balanced targets.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct BreakerConfig {
    pub failures: u32,
    #[serde(rename = "open_seconds", serialize_with = "seconds")]
    pub open: Duration,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 5,
            open: Duration::from_secs(30),
        }
    }
}

pub(crate) fn breaker(raw: RawBreaker) -> BreakerConfig {
    let d = BreakerConfig::default();
    BreakerConfig {
        failures: raw.failures.unwrap_or(d.failures),
        open: raw.open_seconds.map_or(d.open, Duration::from_secs),
    }
}

#[cfg(test)]
mod tests {
    use super::Backoff;
    use std::time::Duration;

    #[test]
    fn backoff_grows_as_named() {
        let base = Duration::from_millis(100);
        let waits = |b: Backoff| {
            (1..=4)
                .map(|n| b.delay(base, n).as_millis())
                .collect::<Vec<_>>()
        };
        assert_eq!(waits(Backoff::Constant), [100, 100, 100, 100]);
        assert_eq!(waits(Backoff::Linear), [100, 200, 300, 400]);
        assert_eq!(waits(Backoff::Exponential), [100, 200, 400, 800]);
    }
}
