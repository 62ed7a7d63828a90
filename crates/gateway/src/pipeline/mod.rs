//! [`Gateway::handle`]: the request life cycle, one named step after another.
//!
//! - [`steps`]: dynamic route walks and what follows a failure (fallbacks), with their retry policy.
//! - [`upstream`]: the attempt loop — the provider called, retried, fallen back — and the answer
//!   turned into the client's; [`verify`]: a 2xx checked to be the answer it claims to be.

mod cascade;
mod prepare;
mod steps;
pub use crate::call::PreparedCall;
mod upstream;
pub(crate) mod verify;

pub use crate::api::ClientApi;

use std::sync::Arc;

use bytes::Bytes;
use http::HeaderMap;
use switchyard_config::limits::CounterBackend;
use switchyard_config::Config;
use switchyard_protocol::openai::{ModelEntry, ModelList};
use switchyard_providers::UpstreamError;
use switchyard_store::cache::RedisSettings;
use switchyard_store::counters::Counters;

use crate::cache::{CacheControls, Looked, ResponseCache};
use crate::control::limits::BudgetHold;
use crate::control::{Admission, Limiter};
use crate::dynamic::DynamicRoutes;
use crate::in_process::{InProcess, InProcessProviders};
use crate::passthrough::NativeRequest;
use crate::reply::Reply;
use crate::retry::RetryControls;
use crate::stored::{Keeping, StoredResponses};
use crate::{GatewayError, ModelRouter, RequestContext};

/// Shared, immutable gateway state.
pub struct Gateway {
    router: ModelRouter,
    cache: ResponseCache,
    max_response_bytes: usize,
    retries: switchyard_config::RetryConfig,
    limiter: Limiter,
    dynamic: DynamicRoutes,
    /// Stored provider keys, once the key store is open (needs a master key).
    vault: std::sync::OnceLock<crate::control::Vault>,
    /// Local models (`[[models]]` with a `source`), served in-process.
    runtime: Arc<switchyard_runtime::Runtime>,
    /// `[router]` and `[routers.NAME]`: where `model = "auto"` (and `dynamic/NAME`) goes.
    hybrids: Vec<crate::hybrid::Hybrid>,
    /// Providers answered in this process: every provider of kind `local` (the runtime), and
    /// whatever [`Gateway::answer_in_process`] added.
    in_process: InProcessProviders,
    /// The Responses API's stored responses (once the request log is attached).
    stored: StoredResponses,
}

/// What the edge parsed: the one input of [`Gateway::handle`].
pub enum Call {
    /// An API call in a client dialect (`/v1/chat/completions`, `/v1/messages`, …).
    Api(ApiRequest),
    /// A provider-native request (`/{provider}/…`), forwarded with credentials injected.
    Native(NativeRequest),
    /// The universal endpoint's step list, and the gateway key it came with.
    Universal {
        body: Bytes,
        key: Option<crate::control::ApiKey>,
    },
}

impl From<ApiRequest> for Call {
    fn from(request: ApiRequest) -> Self {
        Call::Api(request)
    }
}

impl From<NativeRequest> for Call {
    fn from(native: NativeRequest) -> Self {
        Call::Native(native)
    }
}

/// One API call as the edge received it.
#[derive(Clone)]
pub struct ApiRequest {
    pub api: ClientApi,
    /// Client headers meant for a same-dialect provider (`anthropic-beta`, …); sent only when no
    /// translation happens.
    pub forward: HeaderMap,
    /// The `cf-aig-cache-*` headers.
    pub cache: CacheControls,
    pub body: Bytes,
    /// The gateway key the request authenticated with, if any.
    pub key: Option<crate::control::ApiKey>,
    /// `cf-aig-max-attempts`, `-retry-delay`, `-backoff`, `-request-timeout`.
    pub retry: RetryControls,
    /// `cf-aig-metadata` entries (rate limits per user, budgets per metadata value).
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// The request's headers, for dynamic routes' conditions (empty when none is configured).
    pub headers: HeaderMap,
    /// `cf-aig-byok-alias`: send the provider key stored under this alias.
    pub byok: Option<String>,
}

impl Gateway {
    /// `cache`: the response cache, opened from `config.cache` (opening may touch a disk).
    pub fn new(config: &Config, cache: ResponseCache) -> Result<Self, UpstreamError> {
        let runtime = Arc::new(crate::local::runtime(&config.runtime));
        let router = ModelRouter::new(config)?;
        let mut in_process = InProcessProviders::default();
        let local: Arc<dyn InProcess> = Arc::new(crate::local::LocalModels(Arc::clone(&runtime)));
        for p in router.providers() {
            if p.spec().kind == switchyard_providers::ProviderKind::Local {
                in_process.insert(p.name(), Arc::clone(&local));
            }
        }
        Ok(Gateway {
            router,
            in_process,
            cache,
            max_response_bytes: config.server.max_response_bytes,
            retries: config.retries,
            limiter: Limiter::new(&config.limits, counters(&config.limits)?, &config.pricing),
            dynamic: DynamicRoutes::new(&config.routes),
            vault: std::sync::OnceLock::new(),
            hybrids: config
                .router
                .iter()
                .chain(&config.routers)
                .map(|r| {
                    crate::hybrid::Hybrid::new(r.clone(), Arc::clone(&runtime)).map_err(|e| {
                        UpstreamError::new(
                            "router",
                            switchyard_providers::UpstreamErrorKind::InvalidRequest,
                            e,
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
            runtime,
            stored: StoredResponses::default(),
        })
    }

    /// One request, whatever the edge parsed it as.
    pub async fn handle(
        &self,
        ctx: &RequestContext,
        call: impl Into<Call>,
    ) -> Result<Reply, GatewayError> {
        match call.into() {
            Call::Api(request) => self.api(ctx, request).await,
            Call::Native(native) => self.native(ctx, native).await,
            Call::Universal { body, key } => self.universal(ctx, &body, key.as_ref()).await,
        }
    }

    /// The life cycle of one API call, one named step after another.
    pub(crate) async fn api(
        &self,
        ctx: &RequestContext,
        mut request: ApiRequest,
    ) -> Result<Reply, GatewayError> {
        // the Responses API: an earlier response's conversation carried in; what to keep
        let keeping = self.stored_state(ctx, &mut request).await?;
        // `model = "auto"`: the hybrid router picks the tier (and says why), or runs the cascade
        let routed = match self.route_auto(&request).await? {
            Auto::No => None,
            Auto::Tier(body, routed) => {
                request.body = body;
                Some(routed)
            }
            Auto::Cascade(hybrid, routed) => {
                return cascade::run(self, hybrid, ctx, request, routed).await
            }
        };
        // parse and validate, resolve the route, rewrite or translate the body for the provider
        let (call, holds) = self.resolve(ctx, &request).await?;
        // the key the edge authenticated meets the model
        authorize(&request, &call)?;
        // rate limits; budgets reserve what the request may cost
        let ticket = self
            .limiter
            .admit(&self.admission(&call, &request, &holds))
            .await?;
        let inferred = call.inferred;
        let caller = request.key.as_ref().map_or("", |k| k.id());
        let reply = match self
            .cache
            .lookup(&self.runtime, &call, &request.body, &request.cache, caller)
            .await?
        {
            Looked::Answered(reply) => *reply,
            Looked::Miss(pending) => {
                // the provider called, retried, then the fallbacks; the answer translated back
                let result = self.forward(ctx, call, &request).await;
                self.cache.store(pending, result)?
            }
        };
        Ok(self.finish(reply, ticket, routed, inferred, keeping))
    }

    /// Step 0 (Responses API only): `previous_response_id` read back into the body's input;
    /// whether and how the answer is kept.
    async fn stored_state(
        &self,
        ctx: &RequestContext,
        request: &mut ApiRequest,
    ) -> Result<Option<Keeping>, GatewayError> {
        if request.api != ClientApi::Responses {
            return Ok(None);
        }
        let caller = request.key.as_ref().map(|k| k.id());
        self.stored.prepare(ctx, &mut request.body, caller).await
    }

    /// Step 1: a hybrid route (`model = "auto"` or a named one) decides the tier.
    async fn route_auto(&self, request: &ApiRequest) -> Result<Auto<'_>, GatewayError> {
        for h in &self.hybrids {
            let Some((body, routed)) = h
                .route(request.api, &request.body, request.metadata.as_ref())
                .await?
            else {
                continue;
            };
            let cascade = routed.local
                && request.api == ClientApi::ChatCompletions
                && h.config.cascade_min_logprob.is_some();
            return Ok(match cascade {
                true => Auto::Cascade(h, routed),
                false => Auto::Tier(body, routed),
            });
        }
        Ok(Auto::No)
    }

    /// Step 2: the call to make — a dynamic route walked to its model node, else the model the
    /// body names (alias, `provider/model`, bare name) — with its body ready for the provider,
    /// and the budget gates a walk passed.
    async fn resolve(
        &self,
        ctx: &RequestContext,
        request: &ApiRequest,
    ) -> Result<(PreparedCall, Vec<BudgetHold>), GatewayError> {
        match self.walk_dynamic(ctx, request).await? {
            Some(w) => Ok((
                self.prepare_node(request.api, &request.body, w.route, w.node)?,
                w.holds,
            )),
            None => Ok((
                self.with_listed(|| self.prepare(request.api, &request.body))
                    .await?,
                Vec::new(),
            )),
        }
    }

    /// What admission weighs: who asks, for what, and the body it will cost.
    fn admission<'a>(
        &self,
        call: &'a PreparedCall,
        request: &'a ApiRequest,
        holds: &'a [BudgetHold],
    ) -> Admission<'a> {
        Admission {
            key: request.key.as_ref(),
            metadata: request.metadata.as_ref(),
            requested: call.requested(),
            provider: call.provider().name(),
            provider_kind: call.provider().spec().kind.name(),
            model: call.upstream_model(),
            body: &request.body,
            metered: true,
            holds,
        }
    }

    /// Last step: what the reply carries for the edge — the provider named when the client did
    /// not, what the request took from limits and budgets (settled once its body is done), and
    /// where `auto` sent it.
    fn finish(
        &self,
        mut reply: Reply,
        ticket: Option<crate::control::Ticket>,
        routed: Option<crate::hybrid::Routed>,
        inferred: bool,
        keeping: Option<Keeping>,
    ) -> Reply {
        if inferred {
            // a bare model name: say which provider it went to (cache hits too)
            reply.set_step(reply.served.step, true);
        }
        let holds = std::mem::take(&mut reply.gate_holds);
        reply.served.ticket = self.limiter.with_holds(ticket, holds).map(Arc::new);
        if let Some(routed) = routed {
            reply.set_routing(routed);
        }
        if let Some(keeping) = keeping {
            let stream = reply.served.stream;
            reply.response = reply
                .response
                .map(|body| self.stored.keep(keeping, body, stream));
        }
        reply
    }

    /// From now on, calls to `provider` are answered by `handler` in this process instead of
    /// over HTTP (a test's fake provider; local models are answered this way already).
    pub fn answer_in_process(&mut self, provider: &str, handler: Arc<dyn InProcess>) {
        self.in_process.insert(provider, handler);
    }

    /// Stores the Responses API's responses in `observer`'s request log (once; ignored when the
    /// log is off).
    pub fn attach_log(&self, observer: Arc<crate::observe::Observer>) {
        self.stored.attach(observer);
    }

    /// `GET /v1/responses/{id}`: the stored response, if `caller` (a gateway key id) may see it.
    pub async fn stored_response(
        &self,
        id: &str,
        caller: Option<&str>,
    ) -> Result<Bytes, GatewayError> {
        self.stored.get(id, caller).await
    }

    /// `DELETE /v1/responses/{id}`.
    pub async fn delete_stored_response(
        &self,
        id: &str,
        caller: Option<&str>,
    ) -> Result<Bytes, GatewayError> {
        self.stored.delete(id, caller).await
    }

    /// `GET /v1/responses/{id}/input_items`.
    pub async fn stored_input_items(
        &self,
        id: &str,
        caller: Option<&str>,
        query: &crate::stored::ItemsQuery,
    ) -> Result<Bytes, GatewayError> {
        self.stored.input_items(id, caller, query).await
    }

    /// Turns on stored provider keys (once; later calls are ignored).
    pub fn attach_vault(&self, vault: crate::control::Vault) {
        let _ = self.vault.set(vault);
    }

    pub fn vault(&self) -> Option<&crate::control::Vault> {
        self.vault.get()
    }

    /// The local models.
    /// The most of an answer read into memory (`[server] max_response_bytes`).
    pub(crate) fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    pub fn runtime(&self) -> &Arc<switchyard_runtime::Runtime> {
        &self.runtime
    }

    pub(crate) fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Whether requests' headers are needed (dynamic routes' conditions may read them).
    pub fn has_dynamic_routes(&self) -> bool {
        !self.dynamic.is_empty()
    }

    pub fn cache(&self) -> &ResponseCache {
        &self.cache
    }

    /// `GET /v1/models`, with the providers' own lists fetched when due.
    pub async fn models(&self) -> ModelList {
        if self.router.catalog_is_stale() {
            self.router.refresh_catalog().await;
        }
        self.router.model_list()
    }

    /// `GET /v1/models/{id}`.
    pub async fn model(&self, id: &str) -> Result<ModelEntry, GatewayError> {
        self.with_listed(|| self.router.model_entry(id)).await
    }

    /// `resolve()`, tried again once the providers' own model lists are fetched when it finds no
    /// model and they are due (never on the hot path: only names nothing else resolves).
    pub(crate) async fn with_listed<T>(
        &self,
        resolve: impl Fn() -> Result<T, GatewayError>,
    ) -> Result<T, GatewayError> {
        match resolve() {
            Err(e) if e.is_model_not_found() && self.router.catalog_is_stale() => {
                self.router.refresh_catalog().await;
                resolve()
            }
            found => found,
        }
    }

    pub fn router(&self) -> &ModelRouter {
        &self.router
    }
}

/// What the hybrid router decided for a request.
enum Auto<'a> {
    /// Not a hybrid route.
    No,
    /// This tier: the body with `model` rewritten to it.
    Tier(Bytes, crate::hybrid::Routed),
    /// The local tier answers first, kept when it is confident enough (`cascade_min_logprob`).
    Cascade(&'a crate::hybrid::Hybrid, crate::hybrid::Routed),
}

/// The gateway key the edge authenticated may use this model.
fn authorize(request: &ApiRequest, call: &PreparedCall) -> Result<(), GatewayError> {
    match &request.key {
        Some(key) => key.check_model(call.requested()),
        None => Ok(()),
    }
}

/// The limit counters the config asks for.
fn counters(c: &switchyard_config::LimitsConfig) -> Result<Counters, UpstreamError> {
    match &c.backend {
        CounterBackend::Memory => Ok(Counters::memory()),
        CounterBackend::Redis {
            url,
            prefix,
            timeout,
        } => Counters::redis(RedisSettings {
            url: url.clone(),
            prefix: prefix.clone(),
            timeout: *timeout,
        })
        .map_err(|e| {
            UpstreamError::new(
                "limits",
                switchyard_providers::UpstreamErrorKind::InvalidRequest,
                format!("[limits] redis: {e}"),
            )
        }),
    }
}
