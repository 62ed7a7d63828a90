//! The validated configuration.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use switchyard_providers::ProviderSpec;

#[derive(Debug, Clone)]
pub struct Config {
    pub source: Option<PathBuf>,
    pub server: ServerConfig,
    pub providers: Vec<ProviderSpec>,
    pub models: Vec<ModelBinding>,
    pub cache: crate::CacheConfig,
    pub logs: crate::LogsConfig,
    /// Price overrides (on top of the shipped table).
    pub pricing: Vec<crate::PriceRow>,
    pub auth: crate::AuthConfig,
    pub retries: crate::RetryConfig,
    pub limits: crate::LimitsConfig,
    pub breaker: crate::control::BreakerConfig,
    /// Dynamic routes (`dynamic/NAME`).
    pub routes: Vec<crate::routes::Route>,
    /// Local models and the runtime's settings.
    pub runtime: crate::RuntimeConfig,
    /// Hybrid routing for `model = "auto"`.
    pub router: Option<crate::router::RouterConfig>,
    /// Named hybrid routes (`[routers.NAME]`, addressed as `dynamic/NAME`).
    pub routers: Vec<crate::router::RouterConfig>,
    /// Things that are allowed but probably not intended (a provider without a key, …).
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub max_response_bytes: usize,
    #[serde(rename = "shutdown_grace_ms", serialize_with = "crate::ser::millis")]
    pub shutdown_grace: Duration,
    pub log_level: String,
    /// The longest a request body may take to arrive; then 408.
    #[serde(rename = "body_timeout_ms", serialize_with = "crate::ser::millis")]
    pub body_timeout: Duration,
    /// Open connections at most: a new one past it is answered 503 and closed.
    pub max_connections: usize,
    /// API requests being handled at most (streams until they end): more get 503.
    pub max_in_flight: usize,
    /// Web origins (`scheme://host[:port]`, or `*`) whose pages may call the gateway: CORS is
    /// answered for them; any other `Origin` is refused. Empty by default.
    pub allowed_origins: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8787)),
            max_body_bytes: 32 * 1024 * 1024,
            max_response_bytes: 64 * 1024 * 1024,
            shutdown_grace: Duration::from_secs(30),
            log_level: "info".to_owned(),
            body_timeout: Duration::from_secs(60),
            max_connections: 8192,
            max_in_flight: 4096,
            allowed_origins: Vec::new(),
        }
    }
}

/// An alias (`[[models]]`): a name clients use, the target(s) it stands for, and what to try if
/// the target fails.
#[derive(Debug, Clone)]
pub struct ModelBinding {
    pub name: String,
    /// The first of `targets` (the only one unless the alias balances several).
    pub target: ModelRef,
    /// Deployments balanced by `strategy`, with their `weights` (one each).
    pub targets: Vec<ModelRef>,
    pub weights: Vec<u32>,
    pub strategy: Strategy,
    pub fallbacks: Vec<ModelRef>,
    /// Overrides the default cache TTL for this alias; `Some(0)` turns caching off for it.
    pub cache_ttl: Option<Duration>,
    /// `semantic_cache`: answers for prompts that mean the same.
    pub semantic: Option<crate::semantic::SemanticCacheConfig>,
}

impl Serialize for ModelBinding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View<'a> {
            name: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            target: Option<&'a ModelRef>,
            #[serde(skip_serializing_if = "Option::is_none")]
            targets: Option<&'a [ModelRef]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            weights: Option<&'a [u32]>,
            #[serde(skip_serializing_if = "Option::is_none")]
            strategy: Option<Strategy>,
            fallbacks: &'a [ModelRef],
            #[serde(
                rename = "cache_ttl_seconds",
                serialize_with = "crate::ser::opt_seconds",
                skip_serializing_if = "Option::is_none"
            )]
            cache_ttl: Option<Duration>,
            #[serde(skip_serializing_if = "Option::is_none")]
            semantic_cache: Option<&'a crate::semantic::SemanticCacheConfig>,
        }
        let balanced = self.targets.len() > 1;
        View {
            name: &self.name,
            target: (!balanced).then_some(&self.target),
            targets: balanced.then_some(self.targets.as_slice()),
            weights: balanced.then_some(self.weights.as_slice()),
            strategy: balanced.then_some(self.strategy),
            fallbacks: &self.fallbacks,
            cache_ttl: self.cache_ttl,
            semantic_cache: self.semantic.as_ref(),
        }
        .serialize(s)
    }
}

/// How an alias with several targets picks one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Smooth weighted round robin.
    #[default]
    Weighted,
    /// The target with the fewest requests in flight.
    LeastInFlight,
    /// The target with the lowest recent latency (EWMA), penalised by its requests in flight.
    Latency,
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

impl Config {
    /// The resolved configuration as TOML in the same shape as the file (so it can be loaded again),
    /// with every secret redacted. This is what `switchyard config check` prints.
    pub fn to_redacted_toml(&self) -> String {
        let view = Resolved {
            server: &self.server,
            // local models print as declared, not as the provider and aliases made from them
            providers: self
                .providers
                .iter()
                .filter(|p| p.kind != switchyard_providers::ProviderKind::Local)
                .map(|p| (p.name.as_str(), ResolvedProvider::from(p)))
                .collect(),
            models: self
                .models
                .iter()
                .filter(|m| {
                    m.target.provider != "local"
                        && !m.name.starts_with("auto:")
                        && !m.name.starts_with("hybrid:")
                })
                .map(ModelView::Alias)
                .chain(self.runtime.models.iter().map(ModelView::Local))
                .collect(),
            runtime: crate::local::RuntimeView::from(&self.runtime),
            router: self.router.as_ref(),
            routers: self
                .routers
                .iter()
                .map(|r| (r.model.trim_start_matches("dynamic/"), r))
                .collect(),
            cache: &self.cache,
            logs: &self.logs,
            pricing: self
                .pricing
                .iter()
                .filter(|p| !p.source.starts_with(crate::local::METERING_SOURCE))
                .collect(),
            auth: &self.auth,
            retries: &self.retries,
            limits: &self.limits.backend,
            rate_limits: &self.limits.rate_limits,
            budgets: &self.limits.budgets,
            circuit_breaker: &self.breaker,
        };
        toml::to_string_pretty(&view).unwrap_or_else(|e| format!("# cannot render config: {e}\n"))
    }
}

#[derive(Serialize)]
struct Resolved<'a> {
    server: &'a ServerConfig,
    providers: std::collections::BTreeMap<&'a str, ResolvedProvider<'a>>,
    models: Vec<ModelView<'a>>,
    runtime: crate::local::RuntimeView<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    router: Option<&'a crate::router::RouterConfig>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    routers: std::collections::BTreeMap<&'a str, &'a crate::router::RouterConfig>,
    cache: &'a crate::CacheConfig,
    logs: &'a crate::LogsConfig,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pricing: Vec<&'a crate::PriceRow>,
    auth: &'a crate::AuthConfig,
    retries: &'a crate::RetryConfig,
    limits: &'a crate::limits::CounterBackend,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    rate_limits: &'a [crate::limits::RateLimit],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    budgets: &'a [crate::limits::Budget],
    circuit_breaker: &'a crate::control::BreakerConfig,
}

/// A `[[models]]` entry: an alias, or a local model.
#[derive(Serialize)]
#[serde(untagged)]
enum ModelView<'a> {
    Alias(&'a ModelBinding),
    Local(&'a crate::LocalModel),
}

#[derive(Serialize)]
struct ResolvedProvider<'a> {
    kind: &'static str,
    base_url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key: Option<&'a switchyard_providers::Secret>,
    models: &'a [String],
    connect_timeout_ms: u64,
    timeout_ms: u64,
    idle_timeout_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deployments: Option<&'a std::collections::BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    headers: &'a std::collections::BTreeMap<String, switchyard_providers::Secret>,
    responses_api: &'static str,
}

impl<'a> From<&'a ProviderSpec> for ResolvedProvider<'a> {
    fn from(p: &'a ProviderSpec) -> Self {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        ResolvedProvider {
            kind: p.kind.name(),
            base_url: &p.base_url,
            api_key: p.api_key.as_ref(),
            models: &p.models,
            connect_timeout_ms: ms(p.timeouts.connect),
            timeout_ms: ms(p.timeouts.first_byte),
            idle_timeout_ms: ms(p.timeouts.idle),
            total_timeout_ms: p.timeouts.total.map(ms),
            api_version: p.azure.as_ref().map(|a| a.api_version.as_str()),
            deployments: p.azure.as_ref().map(|a| &a.deployments),
            headers: &p.headers,
            responses_api: p.responses_api.name(),
        }
    }
}
