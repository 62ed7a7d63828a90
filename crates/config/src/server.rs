//! `[server]`: listener, body and response limits, connection caps, allowed web origins.

use std::net::SocketAddr;
use std::time::Duration;

use toml::Spanned;

use crate::raw::RawServer;
use crate::{ConfigError, ServerConfig, Source};

pub(crate) fn server(raw: RawServer, src: &Source<'_>) -> Result<ServerConfig, ConfigError> {
    let mut server = ServerConfig::default();
    if let Some(listen) = raw.listen {
        server.listen = listen.get_ref().parse::<SocketAddr>().map_err(|_| {
            src.error(
                Some(listen.span()),
                format!(
                    "invalid `listen` address `{}`: expected IP:PORT, e.g. \"127.0.0.1:8787\"",
                    listen.get_ref()
                ),
            )
        })?;
    }
    if let Some(max) = raw.max_body_bytes {
        server.max_body_bytes = positive_size(&max, "max_body_bytes", src)?;
    }
    if let Some(max) = raw.max_response_bytes {
        server.max_response_bytes = positive_size(&max, "max_response_bytes", src)?;
    }
    if let Some(ms) = &raw.body_timeout_ms {
        server.body_timeout =
            Duration::from_millis(positive_size(ms, "body_timeout_ms", src)? as u64);
    }
    if let Some(n) = &raw.max_connections {
        server.max_connections = positive_size(n, "max_connections", src)?;
    }
    if let Some(n) = &raw.max_in_flight {
        server.max_in_flight = positive_size(n, "max_in_flight", src)?;
    }
    if let Some(ms) = raw.shutdown_grace_ms {
        server.shutdown_grace = Duration::from_millis(ms);
    }
    for origin in raw.allowed_origins {
        let text = origin
            .get_ref()
            .trim()
            .trim_end_matches('/')
            .to_ascii_lowercase();
        let (scheme, host) = text.split_once("://").unwrap_or(("", ""));
        if text != "*"
            && (!matches!(scheme, "http" | "https") || host.is_empty() || host.contains('/'))
        {
            return Err(src.error(
                Some(origin.span()),
                format!(
                    "invalid origin `{}` in `allowed_origins`: expected scheme://host[:port] (e.g. \"http://localhost:3000\") or \"*\"",
                    origin.get_ref()
                ),
            ));
        }
        server.allowed_origins.push(text);
    }
    if let Some(level) = raw.log_level {
        const LEVELS: &[&str] = &["error", "warn", "info", "debug", "trace"];
        if !LEVELS.contains(&level.get_ref().as_str()) {
            return Err(src.error(
                Some(level.span()),
                format!(
                    "invalid `log_level` `{}`: expected one of {}",
                    level.get_ref(),
                    LEVELS.join(", ")
                ),
            ));
        }
        server.log_level = level.into_inner();
    }
    Ok(server)
}

pub(crate) fn positive_size(
    v: &Spanned<u64>,
    field: &str,
    src: &Source<'_>,
) -> Result<usize, ConfigError> {
    match usize::try_from(*v.get_ref()) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(src.error(
            Some(v.span()),
            format!("`{field}` must be a positive number"),
        )),
    }
}
