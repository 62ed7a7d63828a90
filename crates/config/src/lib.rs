//! `switchyard.toml`, loaded in two stages: [`raw`] mirrors the file exactly (`deny_unknown_fields`, so
//! a typo is an error, not a silently ignored key), then [`validate`] turns it into [`Config`], in which
//! every value is known to be usable (addresses parsed, `env:VAR` resolved, targets pointing at real
//! providers). Errors name the file, line and column.
//!
//! # Layout
//! - [`raw`]: the serde mirror of the file.
//! - [`validate`]: raw → [`Config`], with located errors ([`aliases`] checks `[[models]]`).
//! - [`model`]: [`Config`] and its parts ([`ServerConfig`], [`ModelBinding`], [`ModelRef`]).
//! - [`cache`]: `[cache]`, the response cache settings.
//! - [`logs`]: `[logs]` (request log, OTLP) and `[[pricing]]`.
//! - [`limits`]: `[limits]`, `[[rate_limits]]`, `[[budgets]]` and keys' short forms.
//! - [`routes`]: `[[routes]]`, dynamic routes (`dynamic/NAME`) as node graphs.
//! - [`server`]: `[server]`, the listener and its limits.
//! - [`control`]: `[auth]` (gateway keys, admin token) and `[retries]`.
//! - [`env`]: providers picked up from the usual environment variables.
//! - [`template`]: the commented example written by `switchyard init`.
//!
//! This crate sits between the binary/server and the providers crate: it knows provider settings
//! ([`switchyard_providers::ProviderSpec`]) but nothing about HTTP.

mod aliases;
pub mod cache;
pub mod control;
pub mod env;
pub mod limits;
pub mod local;
pub mod logs;
pub mod model;
pub mod raw;
pub mod router;
pub mod routes;
pub mod semantic;
mod ser;
mod server;
pub mod template;
pub mod validate;

use std::path::{Path, PathBuf};

pub use cache::{CacheBackendConfig, CacheConfig};
pub use control::{AuthConfig, Backoff, RetryConfig};
pub use limits::LimitsConfig;
pub use local::{LocalModel, LocalTask, ModelSource, RuntimeConfig};
pub use logs::{LogsConfig, PriceRow};
pub use model::{Config, ModelBinding, ModelRef, ServerConfig};

/// A configuration error, located in its file when it comes from one.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
}

/// Where in the source a problem is: `file:line:column`, or just the file/origin.
pub(crate) struct Source<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

impl Source<'_> {
    pub(crate) fn error(
        &self,
        span: Option<std::ops::Range<usize>>,
        message: impl Into<String>,
    ) -> ConfigError {
        let location = match span {
            Some(span) => {
                let (line, column) = line_column(self.text, span.start);
                format!("{}:{line}:{column}", self.name)
            }
            None => self.name.to_owned(),
        };
        ConfigError::Invalid {
            location,
            message: message.into(),
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// A connection URL fit to print: the password of `scheme://user:password@host/…` is replaced by
/// `[redacted]` (log lines, error messages and `config check` must not carry it).
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:{}{}",
            &url[..scheme_end],
            &rest[..colon],
            switchyard_providers::secret::REDACTED,
            &rest[at..]
        ),
        // `scheme://token@host`: the whole user part may be the secret
        None => format!(
            "{}{}{}",
            &url[..scheme_end],
            switchyard_providers::secret::REDACTED,
            &rest[at..]
        ),
    }
}

/// Loads and validates a config file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let mut config = load_str(&path.display().to_string(), &text)?;
    config.source = Some(path.to_owned());
    Ok(config)
}

/// Validates config text; `name` is used in error locations.
pub fn load_str(name: &str, text: &str) -> Result<Config, ConfigError> {
    load_str_with_env(name, text, &env::ProcessEnv)
}

/// [`load_str`] with an explicit environment (tests use a fixed map).
pub fn load_str_with_env(
    name: &str,
    text: &str,
    env: &dyn env::Env,
) -> Result<Config, ConfigError> {
    let source = Source { name, text };
    let raw: raw::RawConfig = toml::from_str(text).map_err(|e| {
        let message = e.message().trim_end().to_owned();
        source.error(e.span(), message)
    })?;
    validate::validate(raw, &source, env)
}

/// The embedded defaults used when no file is given: loopback listener, providers from env vars.
pub fn defaults() -> Result<Config, ConfigError> {
    load_str("<embedded defaults>", "")
}

#[cfg(test)]
mod tests;
