//! `[cache]`: the response cache — which backend, default TTL, bounds, coalescing.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use switchyard_providers::Secret;
use toml::Spanned;

use crate::env::Env;
use crate::{ConfigError, Source};

/// Longest TTL accepted anywhere (config or `cf-aig-cache-ttl`): 30 days, as Cloudflare.
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    /// `memory` (default), `sqlite` or `redis`.
    pub backend: Option<Spanned<String>>,
    /// Default TTL for every model; caching is off unless this, a model's `cache_ttl_seconds` or a
    /// request's `cf-aig-cache-ttl` turns it on.
    pub ttl_seconds: Option<Spanned<u64>>,
    pub max_bytes: Option<Spanned<u64>>,
    pub max_entry_bytes: Option<Spanned<u64>>,
    pub path: Option<String>,
    pub url: Option<Spanned<String>>,
    pub prefix: Option<String>,
    pub timeout_ms: Option<Spanned<u64>>,
    pub coalesce: Option<bool>,
    pub compress_min_bytes: Option<u64>,
    /// Entries the semantic cache's in-memory index holds at most (default 100,000).
    pub semantic_max_entries: Option<u64>,
    /// One cache for every gateway key; by default each key reads and writes only its own.
    pub shared: Option<bool>,
}

/// The validated `[cache]` table.
#[derive(Debug, Clone, Serialize)]
pub struct CacheConfig {
    #[serde(flatten)]
    pub backend: CacheBackendConfig,
    /// `None`: off unless a model binding or a request sets a TTL.
    #[serde(rename = "ttl_seconds", serialize_with = "crate::ser::opt_seconds")]
    pub ttl: Option<Duration>,
    /// Responses larger than this are relayed but not stored.
    pub max_entry_bytes: usize,
    /// Identical requests in flight at the same time share one upstream call.
    pub coalesce: bool,
    /// Values at least this large are compressed (lz4) for the SQLite and Redis backends.
    pub compress_min_bytes: usize,
    /// Entries the semantic cache's index holds at most (the oldest go first).
    pub semantic_max_entries: usize,
    /// Every gateway key reads and writes the same entries (`false`: each key its own).
    pub shared: bool,
    /// Some binding has a semantic cache (its vector log is then read in the background).
    #[serde(skip)]
    pub semantic: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum CacheBackendConfig {
    Memory {
        max_bytes: u64,
    },
    Sqlite {
        path: PathBuf,
        max_bytes: u64,
    },
    Redis {
        #[serde(serialize_with = "crate::ser::redacted_secret_url")]
        url: Secret,
        prefix: String,
        #[serde(rename = "timeout_ms", serialize_with = "crate::ser::millis")]
        timeout: Duration,
    },
}

const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            backend: CacheBackendConfig::Memory {
                max_bytes: DEFAULT_MAX_BYTES,
            },
            ttl: None,
            max_entry_bytes: 8 * 1024 * 1024,
            coalesce: true,
            compress_min_bytes: 1024,
            semantic_max_entries: 100_000,
            shared: false,
            semantic: false,
        }
    }
}

pub(crate) fn cache(
    raw: RawCache,
    src: &Source<'_>,
    env: &dyn Env,
) -> Result<CacheConfig, ConfigError> {
    let mut config = CacheConfig::default();
    if let Some(ttl) = &raw.ttl_seconds {
        config.ttl = ttl_seconds(ttl, "ttl_seconds", src)?;
    }
    let max_bytes = match &raw.max_bytes {
        Some(v) if *v.get_ref() == 0 => {
            return Err(src.error(
                Some(v.span()),
                "`cache.max_bytes` must be a positive number of bytes",
            ))
        }
        Some(v) => *v.get_ref(),
        None => DEFAULT_MAX_BYTES,
    };
    if let Some(v) = &raw.max_entry_bytes {
        config.max_entry_bytes = usize::try_from(*v.get_ref())
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| {
                src.error(
                    Some(v.span()),
                    "`cache.max_entry_bytes` must be a positive number of bytes",
                )
            })?;
    }
    if let Some(c) = raw.coalesce {
        config.coalesce = c;
    }
    if let Some(s) = raw.shared {
        config.shared = s;
    }
    if let Some(n) = raw.semantic_max_entries {
        config.semantic_max_entries = usize::try_from(n).unwrap_or(usize::MAX).max(16);
    }
    if let Some(n) = raw.compress_min_bytes {
        config.compress_min_bytes = usize::try_from(n).unwrap_or(usize::MAX);
    }
    let backend = raw
        .backend
        .as_ref()
        .map_or("memory", |b| b.get_ref().as_str());
    let misplaced = |field: &str, for_backend: &str| {
        src.error(
            raw.backend.as_ref().map(Spanned::span),
            format!("`cache.{field}` only applies to backend = \"{for_backend}\" (backend is \"{backend}\")"),
        )
    };
    config.backend = match backend {
        "memory" => {
            if raw.path.is_some() {
                return Err(misplaced("path", "sqlite"));
            }
            if raw.url.is_some() {
                return Err(misplaced("url", "redis"));
            }
            CacheBackendConfig::Memory { max_bytes }
        }
        "sqlite" => {
            if raw.url.is_some() {
                return Err(misplaced("url", "redis"));
            }
            CacheBackendConfig::Sqlite {
                path: PathBuf::from(raw.path.as_deref().unwrap_or(".switchyard/cache.db")),
                max_bytes,
            }
        }
        "redis" => {
            if raw.path.is_some() {
                return Err(misplaced("path", "sqlite"));
            }
            let url = match &raw.url {
                Some(url) => match url.get_ref().strip_prefix("env:") {
                    Some(var) => env.var(var).ok_or_else(|| {
                        src.error(
                            Some(url.span()),
                            format!("`cache.url` refers to environment variable `{var}`, which is not set"),
                        )
                    })?,
                    None => url.get_ref().clone(),
                },
                None => "redis://127.0.0.1:6379".to_owned(),
            };
            if !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("unix://")
                || url.starts_with("redis+unix://"))
            {
                return Err(src.error(
                    raw.url.as_ref().map(Spanned::span),
                    "`cache.url` must be a redis:// (or rediss://, unix://) URL, e.g. \"redis://127.0.0.1:6379\"",
                ));
            }
            let timeout = match &raw.timeout_ms {
                Some(ms) if *ms.get_ref() == 0 => {
                    return Err(src.error(Some(ms.span()), "`cache.timeout_ms` must be positive"))
                }
                Some(ms) => Duration::from_millis(*ms.get_ref()),
                None => Duration::from_millis(250),
            };
            CacheBackendConfig::Redis {
                url: Secret::new(url),
                prefix: raw.prefix.unwrap_or_else(|| "switchyard:cache:".to_owned()),
                timeout,
            }
        }
        other => {
            return Err(src.error(
                raw.backend.as_ref().map(Spanned::span),
                format!("unknown cache backend `{other}`: expected memory, sqlite or redis"),
            ))
        }
    };
    Ok(config)
}

/// A TTL in seconds: 0 turns caching off, more than [`MAX_TTL`] is refused.
pub(crate) fn ttl_seconds(
    v: &Spanned<u64>,
    field: &str,
    src: &Source<'_>,
) -> Result<Option<Duration>, ConfigError> {
    let ttl = Duration::from_secs(*v.get_ref());
    if ttl > MAX_TTL {
        return Err(src.error(
            Some(v.span()),
            format!("`{field}` is at most {} (30 days)", MAX_TTL.as_secs()),
        ));
    }
    Ok(Some(ttl))
}
