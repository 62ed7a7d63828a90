//! The file as written. Every table denies unknown fields so typos are caught at start-up.

use std::collections::BTreeMap;

use serde::Deserialize;
use switchyard_providers::ProviderKind;
use toml::Spanned;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    pub models: Vec<RawModel>,
    #[serde(default)]
    pub cache: crate::cache::RawCache,
    #[serde(default)]
    pub logs: crate::logs::RawLogs,
    #[serde(default)]
    pub pricing: Vec<crate::logs::PriceRow>,
    #[serde(default)]
    pub auth: crate::control::RawAuth,
    #[serde(default)]
    pub retries: crate::control::RawRetries,
    #[serde(default)]
    pub limits: crate::limits::RawLimits,
    #[serde(default)]
    pub rate_limits: Vec<crate::limits::RawRateLimit>,
    #[serde(default)]
    pub budgets: Vec<crate::limits::RawBudget>,
    #[serde(default)]
    pub circuit_breaker: crate::control::RawBreaker,
    #[serde(default)]
    pub routes: Vec<crate::routes::RawRoute>,
    #[serde(default)]
    pub runtime: crate::local::RawRuntime,
    pub router: Option<crate::router::RawRouter>,
    /// Named hybrid routes, addressed as `dynamic/NAME`.
    #[serde(default)]
    pub routers: std::collections::BTreeMap<String, crate::router::RawRouter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<Spanned<String>>,
    pub max_body_bytes: Option<Spanned<u64>>,
    pub max_response_bytes: Option<Spanned<u64>>,
    pub shutdown_grace_ms: Option<u64>,
    /// The longest a request body may take to arrive (default 60 s).
    pub body_timeout_ms: Option<Spanned<u64>>,
    /// Open connections at most; more get 503 at once (default 8192).
    pub max_connections: Option<Spanned<u64>>,
    /// API requests being handled at most; more get 503 (default 4096).
    pub max_in_flight: Option<Spanned<u64>>,
    pub log_level: Option<Spanned<String>>,
    /// Add providers for API keys found in the usual env vars (default true).
    pub env_providers: Option<bool>,
    /// Web origins whose pages may call the gateway (CORS).
    #[serde(default)]
    pub allowed_origins: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub kind: Spanned<ProviderKind>,
    pub base_url: Option<Spanned<String>>,
    pub api_key: Option<Spanned<String>>,
    #[serde(default)]
    pub models: Vec<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, Spanned<String>>,
    pub api_version: Option<String>,
    /// Vertex AI: a service-account key file path, or `env:VAR` holding the key JSON (default: the
    /// file named by GOOGLE_APPLICATION_CREDENTIALS).
    pub service_account: Option<Spanned<String>>,
    /// Vertex AI project (default: the service account's `project_id`).
    pub project: Option<String>,
    /// Vertex AI location (default `us-central1`; `global` for the global endpoint).
    pub location: Option<String>,
    /// AWS region (kind `bedrock`; default AWS_REGION, AWS_DEFAULT_REGION, then us-east-1).
    pub region: Option<String>,
    /// AWS credentials (kind `bedrock`; default the usual AWS_* variables); `env:VAR` allowed.
    pub aws_access_key_id: Option<Spanned<String>>,
    pub aws_secret_access_key: Option<Spanned<String>>,
    pub aws_session_token: Option<Spanned<String>>,
    /// Cloudflare account id (kind `workers-ai`); `env:VAR` allowed.
    pub account_id: Option<Spanned<String>>,
    #[serde(default)]
    pub deployments: BTreeMap<String, String>,
    pub connect_timeout_ms: Option<Spanned<u64>>,
    pub timeout_ms: Option<Spanned<u64>>,
    pub idle_timeout_ms: Option<Spanned<u64>>,
    /// The whole answer, streams included (default: no bound).
    pub total_timeout_ms: Option<Spanned<u64>>,
    /// `native` (its own `/responses`; default for `openai` and `azure`) or `chat` (the
    /// Responses API translated to its chat API; default for every other kind).
    pub responses_api: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub name: Spanned<String>,
    pub target: Option<Spanned<String>>,
    /// Several deployments of one model, balanced (instead of `target`).
    #[serde(default)]
    pub targets: Vec<Spanned<String>>,
    /// With `targets`: their weights (default 1 each).
    #[serde(default)]
    pub weights: Vec<u32>,
    /// With `targets`: `weighted` (default) | `least-in-flight` | `latency`.
    pub strategy: Option<Spanned<String>>,
    #[serde(default)]
    pub fallbacks: Vec<Spanned<String>>,
    /// Cache TTL for requests through this alias (overrides `[cache] ttl_seconds`; 0 = never).
    pub cache_ttl_seconds: Option<Spanned<u64>>,
    /// Serve answers for prompts that mean the same (see `crate::semantic`).
    pub semantic_cache: Option<crate::semantic::RawSemanticCache>,
    // A local model (see `crate::local`): the weights' `source` and how to run them.
    /// A GGUF file, a model folder, or `hf:org/repo[/file]`.
    pub source: Option<Spanned<String>>,
    /// `text-generation` | `embeddings`.
    pub task: Option<Spanned<String>>,
    /// More names for the local model (e.g. `@cf/meta/llama-3.1-8b-instruct`).
    #[serde(default)]
    pub aliases: Vec<String>,
    pub threads: Option<u32>,
    pub context_size: Option<u64>,
    pub max_batch: Option<u64>,
    pub queue: Option<u64>,
    /// Unload after this many idle seconds (0 = never; default 900).
    pub idle_unload_seconds: Option<u64>,
    /// Default `max_tokens` for requests that give none (default 512).
    pub max_tokens: Option<u64>,
    pub units_per_1k_input: Option<f64>,
    pub units_per_1k_output: Option<f64>,
    /// Text-to-image: denoising steps and guidance when a request gives none.
    pub steps: Option<u64>,
    pub guidance: Option<f64>,
}
