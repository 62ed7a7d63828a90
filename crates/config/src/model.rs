//! The validated configuration.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use switchyard_providers::ProviderSpec;

#[derive(Debug, Clone, Serialize)]
pub struct Config {
    #[serde(skip)]
    pub source: Option<PathBuf>,
    pub server: ServerConfig,
    pub providers: Vec<ProviderSpec>,
    pub models: Vec<ModelBinding>,
    /// Things that are allowed but probably not intended (a provider without a key, …).
    #[serde(skip)]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub max_response_bytes: usize,
    #[serde(rename = "shutdown_grace_ms", serialize_with = "millis")]
    pub shutdown_grace: Duration,
    pub log_level: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            max_body_bytes: 32 * 1024 * 1024,
            max_response_bytes: 64 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(30),
            log_level: "info".to_owned(),
        }
    }
}

/// An alias (`[[models]]`): a name clients use, the target it stands for, and what to try if the
/// target fails.
#[derive(Debug, Clone, Serialize)]
pub struct ModelBinding {
    pub name: String,
    pub target: ModelRef,
    pub fallbacks: Vec<ModelRef>,
}

/// `provider/model`, split and checked against the configured providers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    pub provider: String,
    pub model: String,
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.model)
    }
}

impl Serialize for ModelRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Config {
    /// The resolved configuration as TOML, secrets redacted (what `switchyard config check` prints).
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}
