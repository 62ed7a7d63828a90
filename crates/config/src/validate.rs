//! Raw → validated. Each check reports the file position of the offending value.

use std::collections::BTreeMap;
use std::time::Duration;

use switchyard_providers::google::ServiceAccount;
use switchyard_providers::{
    AwsSpec, AzureSpec, ProviderKind, ProviderSpec, ResponsesApi, Secret, Timeouts,
};
use toml::Spanned;

use crate::env::{env_provider_kinds, Env};
use crate::raw::{RawConfig, RawModel, RawProvider};
use crate::{Config, ConfigError, ModelBinding, Source};

/// The Azure OpenAI API version used when none is configured (latest GA at the time of writing).
pub const DEFAULT_AZURE_API_VERSION: &str = "2024-10-21";

/// Provider names that would collide with routes (`/{provider}/…` is the native passthrough).
pub const RESERVED_NAMES: &[&str] = &[
    "v1",
    "api",
    "ai",
    "healthz",
    "readyz",
    "metrics",
    "universal",
    "compat",
    "dashboard",
    "client",
];

pub(crate) fn validate(
    raw: RawConfig,
    src: &Source<'_>,
    env: &dyn Env,
) -> Result<Config, ConfigError> {
    let mut warnings = Vec::new();
    let env_providers = raw.server.env_providers.unwrap_or(true);
    let server = crate::server::server(raw.server, src)?;

    let mut providers = Vec::with_capacity(raw.providers.len());
    for (name, p) in raw.providers {
        providers.push(provider(name, p, src, env, &mut warnings)?);
    }
    if env_providers {
        for (kind, key_env) in env_provider_kinds() {
            let name = kind.name();
            if providers.iter().any(|p| p.name == name) {
                continue;
            }
            if let Some(key) = env.var(key_env) {
                providers.push(from_env(kind, key));
            }
        }
    }

    let default_models = raw.runtime.default_models;
    let mut runtime = crate::local::runtime(raw.runtime, src)?;
    let (local, aliases): (Vec<RawModel>, Vec<RawModel>) =
        raw.models.into_iter().partition(|m| m.source.is_some());
    let nothing_configured = providers.is_empty() && local.is_empty() && aliases.is_empty();
    for m in &local {
        if let Some(source) = &m.source {
            let model = crate::local::local_model(m, source, &runtime.models_dir, src)?;
            if runtime.models.iter().any(|o| o.name == model.name) {
                return Err(src.error(
                    None,
                    format!("local model `{}` is declared twice", model.name),
                ));
            }
            runtime.models.push(model);
        }
    }
    if default_models.unwrap_or(nothing_configured) {
        crate::local::add_default_models(&mut runtime, &aliases)?;
    }
    if !runtime.models.is_empty() {
        if providers.iter().any(|p| p.name == "local") {
            return Err(src.error(None, "the provider name `local` is reserved for local models (`[[models]]` with a `source`)"));
        }
        providers.push(crate::local::provider(&runtime));
    }
    let mut models: Vec<ModelBinding> = Vec::with_capacity(aliases.len());
    for binding in crate::local::bindings(&runtime) {
        if models.iter().any(|b| b.name == binding.name) {
            return Err(src.error(None, format!("model name `{}` is used twice", binding.name)));
        }
        models.push(binding);
    }
    for m in aliases {
        let binding = crate::aliases::model(m, src, &providers)?;
        if models.iter().any(|b| b.name == binding.name) {
            return Err(src.error(
                None,
                format!("model alias `{}` is declared twice", binding.name),
            ));
        }
        models.push(binding);
    }

    crate::semantic::resolve_embedders(&mut models, &runtime, src)?;
    let router = crate::router::router(
        raw.router,
        &crate::router::Tiers::auto(),
        &runtime,
        &mut models,
        src,
    )?;
    let routers = crate::router::named(raw.routers, &runtime, &mut models, src)?;
    let mut cache = crate::cache::cache(raw.cache, src, env)?;
    cache.semantic = models.iter().any(|m| m.semantic.is_some());
    let logs = crate::logs::logs(raw.logs, src, env)?;
    let auth = crate::control::auth(raw.auth, server.listen, src, env)?;
    let retries = crate::control::retries(raw.retries, src)?;
    let breaker = crate::control::breaker(raw.circuit_breaker);
    let routes = crate::routes::routes(raw.routes, src, &providers)?;
    crate::router::distinct_from_routes(&routers, &routes, src)?;
    let limits = crate::limits::limits(
        crate::limits::RawControl {
            limits: raw.limits,
            rate_limits: raw.rate_limits,
            budgets: raw.budgets,
        },
        src,
        env,
    )?;
    let mut limits = limits;
    if let Some(units) = runtime.free_units_per_day {
        if runtime.usd_per_1k_units <= 0.0 {
            return Err(src.error(
                None,
                "`runtime.free_units_per_day` counts units by their price: `runtime.usd_per_1k_units` must be above 0",
            ));
        }
        limits.local_allowance = Some(crate::limits::LocalAllowance {
            units,
            usd: units * runtime.usd_per_1k_units / 1000.0,
        });
    }
    let settles = limits.local_allowance.is_some()
        || !limits.budgets.is_empty()
        || limits
            .rate_limits
            .iter()
            .any(|r| r.unit == crate::limits::Unit::Tokens);
    if settles && !logs.enabled {
        return Err(src.error(
            None,
            "token rate limits and budgets settle from the request log: they need `[logs] enabled = true`",
        ));
    }

    Ok(Config {
        source: None,
        server,
        providers,
        models,
        cache,
        logs,
        pricing: {
            // local models are priced by their metering rates (user rows still win: they come first)
            let mut rows = raw.pricing;
            rows.extend(crate::local::prices(&runtime));
            rows
        },
        auth,
        retries,
        limits,
        breaker,
        routes,
        runtime,
        router,
        routers,
        warnings,
    })
}

fn provider(
    name: String,
    raw: RawProvider,
    src: &Source<'_>,
    env: &dyn Env,
    warnings: &mut Vec<String>,
) -> Result<ProviderSpec, ConfigError> {
    let kind = *raw.kind.get_ref();
    let kind_span = raw.kind.span();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(src.error(
            Some(kind_span),
            format!(
                "invalid provider name `{name}`: use letters, digits, `-`, `_` or `.` (no `/`)"
            ),
        ));
    }
    if RESERVED_NAMES.contains(&name.as_str()) {
        return Err(src.error(
            Some(kind_span),
            format!(
                "provider name `{name}` is reserved (it is a path prefix of Switchyard's own routes: {})",
                RESERVED_NAMES.join(", ")
            ),
        ));
    }
    if kind == ProviderKind::Local {
        return Err(src.error(
            Some(kind_span),
            "providers of kind `local` are not configured: declare local models as `[[models]]` with a `source`",
        ));
    }
    let preset = kind.preset();
    if kind != ProviderKind::Vertex
        && (raw.service_account.is_some() || raw.project.is_some() || raw.location.is_some())
    {
        return Err(src.error(
            Some(kind_span.clone()),
            "`service_account`, `project` and `location` apply only to providers of kind `vertex`",
        ));
    }
    let google = if kind == ProviderKind::Vertex {
        Some(vertex(&name, &raw, src, env)?)
    } else {
        None
    };
    let base_url = match (&google, &raw.base_url) {
        (Some((_, default)), None) => default.clone(),
        _ if kind == ProviderKind::Bedrock && raw.base_url.is_none() => {
            format!(
                "https://bedrock-runtime.{}.amazonaws.com",
                aws_region(&raw, env)
            )
        }
        _ => base_url(&name, &raw, src, env)?,
    };
    let google = google.map(|(account, _)| account);
    let aws = if kind == ProviderKind::Bedrock {
        bedrock(&name, &raw, src, env)?
    } else {
        None
    };
    if !matches!(kind, ProviderKind::WorkersAi | ProviderKind::WorkersAiRun) {
        if let Some(account) = &raw.account_id {
            return Err(src.error(
                Some(account.span()),
                "`account_id` applies only to providers of kind `workers-ai`",
            ));
        }
    }

    let api_key = match &raw.api_key {
        Some(key) => Some(resolve_secret(
            key,
            &format!("providers.{name}.api_key"),
            src,
            env,
        )?),
        None => preset
            .and_then(|p| p.key_env)
            .or(
                matches!(kind, ProviderKind::WorkersAi | ProviderKind::WorkersAiRun)
                    .then_some("CLOUDFLARE_API_TOKEN"),
            )
            .or((kind == ProviderKind::Bedrock).then_some("AWS_BEARER_TOKEN_BEDROCK"))
            .and_then(|var| env.var(var))
            .map(Secret::new),
    };
    if api_key.is_none()
        && preset.is_none_or(|p| p.key_env.is_some())
        && aws.is_none()
        && !matches!(kind, ProviderKind::OpenAiCompatible | ProviderKind::Vertex)
    {
        warnings.push(format!(
            "provider `{name}` has no api_key; requests to it will be sent without credentials"
        ));
    }

    let mut headers = BTreeMap::new();
    for (header, value) in &raw.headers {
        headers.insert(
            header.clone(),
            resolve_secret(
                value,
                &format!("providers.{name}.headers.{header}"),
                src,
                env,
            )?,
        );
    }

    let azure = (kind == ProviderKind::Azure).then(|| AzureSpec {
        api_version: raw
            .api_version
            .clone()
            .unwrap_or_else(|| DEFAULT_AZURE_API_VERSION.to_owned()),
        deployments: raw.deployments.clone(),
    });
    if kind != ProviderKind::Azure && (raw.api_version.is_some() || !raw.deployments.is_empty()) {
        return Err(src.error(
            Some(kind_span),
            format!("`api_version` and `deployments` apply only to providers of kind `azure` (provider `{name}` is `{}`)", kind.name()),
        ));
    }

    let mut timeouts = Timeouts::default();
    let ms = |v: &Option<Spanned<u64>>, field: &str| -> Result<Option<Duration>, ConfigError> {
        match v {
            None => Ok(None),
            Some(v) if *v.get_ref() == 0 => {
                Err(src.error(Some(v.span()), format!("`{field}` must be greater than 0")))
            }
            Some(v) => Ok(Some(Duration::from_millis(*v.get_ref()))),
        }
    };
    if let Some(d) = ms(&raw.connect_timeout_ms, "connect_timeout_ms")? {
        timeouts.connect = d;
    }
    if let Some(d) = ms(&raw.timeout_ms, "timeout_ms")? {
        timeouts.first_byte = d;
    }
    if let Some(d) = ms(&raw.idle_timeout_ms, "idle_timeout_ms")? {
        timeouts.idle = d;
    }
    timeouts.total = ms(&raw.total_timeout_ms, "total_timeout_ms")?;
    let responses_api = match &raw.responses_api {
        None => ResponsesApi::default_for(kind),
        Some(v) => match v.get_ref().as_str() {
            "chat" => ResponsesApi::Chat,
            "native" if ResponsesApi::can_be_native(kind) => {
                ResponsesApi::Native
            }
            "native" => {
                return Err(src.error(
                    Some(v.span()),
                    format!("`responses_api = \"native\"` needs a provider of the OpenAI family (provider `{name}` is `{}`)", kind.name()),
                ))
            }
            other => {
                return Err(src.error(
                    Some(v.span()),
                    format!("`responses_api` must be \"native\" or \"chat\" (got `{other}`)"),
                ))
            }
        },
    };

    Ok(ProviderSpec {
        name,
        kind,
        base_url,
        api_key,
        models: raw.models,
        headers,
        azure,
        google,
        aws,
        timeouts,
        responses_api,
    })
}

/// Vertex AI: the service account, and the default base URL
/// (`https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/publishers/google`).
fn vertex(
    name: &str,
    raw: &RawProvider,
    src: &Source<'_>,
    env: &dyn Env,
) -> Result<(ServiceAccount, String), ConfigError> {
    let span = raw
        .service_account
        .as_ref()
        .map_or_else(|| raw.kind.span(), Spanned::span);
    let fail = |message: String| src.error(Some(span.clone()), message);
    let text = match &raw.service_account {
        Some(value) => match value.get_ref().strip_prefix("env:") {
            Some(var) => env.var(var).ok_or_else(|| {
                fail(format!("`providers.{name}.service_account` refers to environment variable `{var}`, which is not set"))
            })?,
            None => std::fs::read_to_string(value.get_ref()).map_err(|e| {
                fail(format!("cannot read service account file `{}`: {e}", value.get_ref()))
            })?,
        },
        None => {
            let path = env.var("GOOGLE_APPLICATION_CREDENTIALS").ok_or_else(|| {
                fail(format!("provider `{name}` of kind `vertex` needs `service_account` (a key file path or \"env:VAR\" with the key JSON), or GOOGLE_APPLICATION_CREDENTIALS"))
            })?;
            std::fs::read_to_string(&path)
                .map_err(|e| fail(format!("cannot read GOOGLE_APPLICATION_CREDENTIALS file `{path}`: {e}")))?
        }
    };
    let account = ServiceAccount::from_json(&text).map_err(|e| {
        fail(format!(
            "invalid service account for provider `{name}`: {e}"
        ))
    })?;
    let project = raw
        .project
        .clone()
        .or_else(|| account.project_id.clone())
        .ok_or_else(|| {
            fail(format!(
                "provider `{name}` needs `project` (the service account names none)"
            ))
        })?;
    let location = raw
        .location
        .clone()
        .unwrap_or_else(|| "us-central1".to_owned());
    let host = if location == "global" {
        "aiplatform.googleapis.com".to_owned()
    } else {
        format!("{location}-aiplatform.googleapis.com")
    };
    let base =
        format!("https://{host}/v1/projects/{project}/locations/{location}/publishers/google");
    Ok((account, base))
}

fn aws_region(raw: &RawProvider, env: &dyn Env) -> String {
    raw.region
        .clone()
        .or_else(|| env.var("AWS_REGION"))
        .or_else(|| env.var("AWS_DEFAULT_REGION"))
        .unwrap_or_else(|| "us-east-1".to_owned())
}

/// Bedrock: SigV4 credentials from config or the usual AWS_* variables. `None` when there are
/// none, in which case a Bedrock API key (`api_key`, or AWS_BEARER_TOKEN_BEDROCK) is used instead.
fn bedrock(
    name: &str,
    raw: &RawProvider,
    src: &Source<'_>,
    env: &dyn Env,
) -> Result<Option<AwsSpec>, ConfigError> {
    let field = |value: &Option<Spanned<String>>,
                 key: &str,
                 var: &str|
     -> Result<Option<Secret>, ConfigError> {
        match value {
            Some(v) => resolve_secret(v, &format!("providers.{name}.{key}"), src, env).map(Some),
            None => Ok(env.var(var).map(Secret::new)),
        }
    };
    let id = field(
        &raw.aws_access_key_id,
        "aws_access_key_id",
        "AWS_ACCESS_KEY_ID",
    )?;
    let secret = field(
        &raw.aws_secret_access_key,
        "aws_secret_access_key",
        "AWS_SECRET_ACCESS_KEY",
    )?;
    let token = field(
        &raw.aws_session_token,
        "aws_session_token",
        "AWS_SESSION_TOKEN",
    )?;
    match (id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Ok(Some(AwsSpec {
            region: aws_region(raw, env),
            access_key_id,
            secret_access_key,
            session_token: token,
        })),
        (None, None) if raw.api_key.is_some() || env.var("AWS_BEARER_TOKEN_BEDROCK").is_some() => Ok(None),
        _ => Err(src.error(
            Some(raw.kind.span()),
            format!("provider `{name}` of kind `bedrock` needs `aws_access_key_id` and `aws_secret_access_key` (or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), or a Bedrock API key in `api_key` / AWS_BEARER_TOKEN_BEDROCK"),
        )),
    }
}

/// The provider's base URL: configured, from the kind's preset, or built from `account_id`
/// (Workers AI).
fn base_url(
    name: &str,
    raw: &RawProvider,
    src: &Source<'_>,
    env: &dyn Env,
) -> Result<String, ConfigError> {
    let kind = *raw.kind.get_ref();
    let kind_span = raw.kind.span();
    if let Some(url) = &raw.base_url {
        let text = url.get_ref().trim_end_matches('/');
        if !(text.starts_with("http://") || text.starts_with("https://")) || text.len() < 9 {
            return Err(src.error(
                Some(url.span()),
                format!(
                    "invalid `base_url` `{}`: expected an http:// or https:// URL",
                    url.get_ref()
                ),
            ));
        }
        return Ok(kind.api_base(text));
    }
    if let Some(preset) = kind.preset() {
        return Ok(preset.base_url.to_owned());
    }
    if matches!(kind, ProviderKind::WorkersAi | ProviderKind::WorkersAiRun) {
        let Some(account) = &raw.account_id else {
            return Err(src.error(
                Some(kind_span),
                format!("provider `{name}` of kind `{}` needs `account_id` (your Cloudflare account id, or \"env:CLOUDFLARE_ACCOUNT_ID\")", kind.name()),
            ));
        };
        let account = resolve_secret(account, &format!("providers.{name}.account_id"), src, env)?;
        let api = if kind == ProviderKind::WorkersAi {
            "ai/v1"
        } else {
            "ai"
        };
        return Ok(format!(
            "https://api.cloudflare.com/client/v4/accounts/{}/{api}",
            account.expose()
        ));
    }
    let hint = if kind == ProviderKind::Azure {
        "e.g. base_url = \"https://YOUR-RESOURCE.openai.azure.com\""
    } else {
        "e.g. base_url = \"http://127.0.0.1:8000/v1\""
    };
    Err(src.error(
        Some(kind_span),
        format!(
            "provider `{name}` of kind `{}` needs a `base_url` ({hint})",
            kind.name()
        ),
    ))
}

/// `"env:VAR"` reads the variable (it must be set); anything else is the literal secret.
fn resolve_secret(
    value: &Spanned<String>,
    what: &str,
    src: &Source<'_>,
    env: &dyn Env,
) -> Result<Secret, ConfigError> {
    match value.get_ref().strip_prefix("env:") {
        Some(var) => env.var(var).map(Secret::new).ok_or_else(|| {
            src.error(
                Some(value.span()),
                format!("`{what}` refers to environment variable `{var}`, which is not set"),
            )
        }),
        None => Ok(Secret::new(value.get_ref().clone())),
    }
}

fn from_env(kind: ProviderKind, key: String) -> ProviderSpec {
    let base_url = kind
        .preset()
        .map_or_else(String::new, |p| p.base_url.to_owned());
    ProviderSpec {
        name: kind.name().to_owned(),
        kind,
        base_url,
        api_key: Some(Secret::new(key)),
        models: Vec::new(),
        headers: BTreeMap::new(),
        azure: None,
        google: None,
        aws: None,
        timeouts: Timeouts::default(),
        responses_api: ResponsesApi::default_for(kind),
    }
}
