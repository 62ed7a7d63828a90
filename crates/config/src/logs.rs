//! `[logs]`: the request log (store, payload capture, batching, retention, OTLP) and `[[pricing]]`
//! overrides of the shipped price table.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::env::Env;
use crate::{ConfigError, Source};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLogs {
    pub enabled: Option<bool>,
    /// `sqlite://PATH` or `postgres://…` (`env:VAR` allowed).
    pub url: Option<Spanned<String>>,
    pub collect_payloads: Option<bool>,
    pub max_payload_bytes: Option<u64>,
    pub batch_size: Option<Spanned<u64>>,
    pub queue_capacity: Option<Spanned<u64>>,
    pub spill_path: Option<String>,
    pub max_rows: Option<u64>,
    pub max_age_days: Option<u64>,
    pub retention: Option<Spanned<String>>,
    /// OTLP/HTTP endpoint (e.g. `http://127.0.0.1:4318`); traces are exported when set.
    pub otlp_endpoint: Option<Spanned<String>>,
    pub otlp_service_name: Option<String>,
}

/// One `[[pricing]]` row: USD per million tokens (and per image / audio minute).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PriceRow {
    /// A provider kind (`openai`) or a configured provider name.
    pub provider: String,
    /// The model, or a prefix ending in `*`.
    pub model: String,
    pub input: f64,
    pub output: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_image: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_audio_minute: Option<f64>,
    /// When the price was read, and where.
    #[serde(default)]
    pub date: String,
    #[serde(default)]
    pub source: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct LogsConfig {
    pub enabled: bool,
    #[serde(serialize_with = "crate::ser::redacted_url")]
    pub url: String,
    pub collect_payloads: bool,
    pub max_payload_bytes: usize,
    pub batch_size: usize,
    pub queue_capacity: usize,
    pub spill_path: PathBuf,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_rows: Option<u64>,
    #[serde(
        rename = "max_age_days",
        serialize_with = "crate::ser::opt_days",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_age: Option<Duration>,
    /// `delete-oldest` | `stop-inserting`.
    pub retention: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    pub otlp_service_name: String,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            enabled: true,
            url: "sqlite://.switchyard/logs.db".to_owned(),
            collect_payloads: true,
            max_payload_bytes: 64 * 1024,
            batch_size: 500,
            queue_capacity: 20_000,
            spill_path: PathBuf::from(".switchyard/logs.spill"),
            max_rows: None,
            max_age: None,
            retention: "delete-oldest".to_owned(),
            otlp_endpoint: None,
            otlp_service_name: "switchyard".to_owned(),
        }
    }
}

pub(crate) fn logs(
    raw: RawLogs,
    src: &Source<'_>,
    env: &dyn Env,
) -> Result<LogsConfig, ConfigError> {
    let mut c = LogsConfig::default();
    if let Some(v) = raw.enabled {
        c.enabled = v;
    }
    if let Some(url) = &raw.url {
        let value = match url.get_ref().strip_prefix("env:") {
            Some(var) => env.var(var).ok_or_else(|| {
                src.error(
                    Some(url.span()),
                    format!("`logs.url` refers to environment variable `{var}`, which is not set"),
                )
            })?,
            None => url.get_ref().clone(),
        };
        if !["sqlite://", "postgres://", "postgresql://"]
            .iter()
            .any(|p| value.starts_with(p))
        {
            return Err(src.error(
                Some(url.span()),
                "`logs.url` must be sqlite://PATH or postgres://USER@HOST/DB",
            ));
        }
        c.url = value;
    }
    if let Some(v) = raw.collect_payloads {
        c.collect_payloads = v;
    }
    if let Some(v) = raw.max_payload_bytes {
        c.max_payload_bytes = usize::try_from(v).unwrap_or(usize::MAX);
    }
    for (field, value, target) in [
        ("batch_size", &raw.batch_size, &mut c.batch_size),
        ("queue_capacity", &raw.queue_capacity, &mut c.queue_capacity),
    ] {
        if let Some(v) = value {
            *target = usize::try_from(*v.get_ref())
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    src.error(Some(v.span()), format!("`logs.{field}` must be positive"))
                })?;
        }
    }
    if let Some(p) = raw.spill_path {
        c.spill_path = PathBuf::from(p);
    }
    c.max_rows = raw.max_rows;
    c.max_age = raw.max_age_days.map(|d| Duration::from_secs(d * 86_400));
    if let Some(r) = &raw.retention {
        if !matches!(r.get_ref().as_str(), "delete-oldest" | "stop-inserting") {
            return Err(src.error(
                Some(r.span()),
                "`logs.retention` must be \"delete-oldest\" or \"stop-inserting\"",
            ));
        }
        c.retention = r.get_ref().clone();
    }
    if let Some(e) = &raw.otlp_endpoint {
        if !e.get_ref().starts_with("http://") {
            return Err(src.error(
                Some(e.span()),
                "`logs.otlp_endpoint` must be an http:// OTLP/HTTP endpoint, e.g. \"http://127.0.0.1:4318\"",
            ));
        }
        c.otlp_endpoint = Some(e.get_ref().trim_end_matches('/').to_owned());
    }
    if let Some(n) = raw.otlp_service_name {
        c.otlp_service_name = n;
    }
    Ok(c)
}
