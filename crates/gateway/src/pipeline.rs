//! [`Gateway::handle`]: the request life cycle, one named step after another.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, Response, StatusCode};
use switchyard_config::limits::CounterBackend;
use switchyard_config::Config;
use switchyard_protocol::anthropic::client::MessagesRequest;
use switchyard_protocol::openai::{ChatRequest, EmbeddingsRequest, ModelList};
use switchyard_protocol::Dialect;
use switchyard_providers::{Endpoint, Provider, UpstreamBody, UpstreamError};
use switchyard_store::cache::RedisSettings;
use switchyard_store::counters::Counters;

/// The API a client called, which fixes its dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientApi {
    /// OpenAI `POST /v1/chat/completions`.
    ChatCompletions,
    /// OpenAI `POST /v1/embeddings`.
    Embeddings,
    /// Anthropic `POST /v1/messages`.
    Messages,
    /// Anthropic `POST /v1/messages/count_tokens`.
    CountTokens,
}

impl ClientApi {
    pub fn dialect(self) -> Dialect {
        match self {
            ClientApi::ChatCompletions | ClientApi::Embeddings => Dialect::OpenAi,
            ClientApi::Messages | ClientApi::CountTokens => Dialect::Anthropic,
        }
    }

    /// Its name in cache keys and logs.
    pub fn name(self) -> &'static str {
        match self {
            ClientApi::ChatCompletions => "chat.completions",
            ClientApi::Embeddings => "embeddings",
            ClientApi::Messages => "messages",
            ClientApi::CountTokens => "messages.count_tokens",
        }
    }

    /// The provider API that serves it.
    pub fn endpoint(self) -> Endpoint {
        match self {
            ClientApi::ChatCompletions | ClientApi::Messages => Endpoint::ChatCompletions,
            ClientApi::Embeddings => Endpoint::Embeddings,
            ClientApi::CountTokens => Endpoint::CountTokens,
        }
    }
}

use crate::cache::{CacheControls, CacheStatus, Found, Plan, ResponseCache, TokenUsage};
use crate::control::limits::BudgetHold;
use crate::control::{Admission, Limiter, Ticket};
use crate::dynamic::{DynamicRoutes, WalkInput, Walked};
use crate::relay::StreamInfo;
use crate::retry::{Attempt, RetryControls, RetryPolicy};
use crate::translate::{self, Transcoder, Translation};
use crate::usage::UsageSlot;
use crate::{ErrorOrigin, GatewayError, ModelRouter, ReplyBody, RequestContext};

/// Upstream error bodies larger than this are cut (they are only read for their message).
const MAX_ERROR_BODY: usize = 1024 * 1024;

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
}

/// One API call as the edge received it.
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

/// A successful answer, plus what the edge reports about it.
pub struct Reply {
    pub response: Response<ReplyBody>,
    pub provider: String,
    pub upstream_model: String,
    /// From sending the upstream request to its response headers.
    pub upstream_latency: Duration,
    pub stream: bool,
    /// What the cache did, when it took part.
    pub cache: Option<CacheStatus>,
    /// On a cache hit: the tokens the stored answer used, i.e. what the hit saved (priced by the
    /// cost step).
    pub saved_usage: Option<TokenUsage>,
    /// What the log record needs: the client API (None for native passthrough), the provider's
    /// kind (for prices) and the model as the client named it.
    pub api: Option<ClientApi>,
    pub provider_kind: &'static str,
    pub requested_model: Option<String>,
    /// Usage taken out of the client's stream (see [`crate::usage`]).
    pub usage_slot: Option<UsageSlot>,
    /// Which step answered: 0 = the model asked for, 1.. = its fallbacks.
    pub step: u32,
    /// What the request took from rate limits and budgets, settled by the record step.
    pub ticket: Option<Arc<Ticket>>,
}

/// A request checked, routed and rewritten, ready to send. Owns everything it needs, so the body
/// views used to build it are gone before the first `.await`.
pub struct PreparedCall {
    api: ClientApi,
    provider: Provider,
    upstream_model: String,
    body: Bytes,
    stream: bool,
    /// Set when the provider speaks another dialect than the client.
    translation: Option<Translation>,
    /// The alias's cache TTL, if it sets one.
    cache_ttl: Option<Duration>,
    /// The model as the client named it.
    requested: String,
    /// Usage was requested upstream on the client's behalf: strip it from the client's stream.
    strip_usage: bool,
    /// A balanced alias's pick (its outcome feeds the balancer and the circuit breaker).
    slot: Option<crate::router::Slot>,
    /// A dynamic route's model node: (route, node).
    node: Option<(usize, usize)>,
}

impl PreparedCall {
    /// The body that will be sent upstream.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    pub fn provider(&self) -> &Provider {
        &self.provider
    }

    pub fn api(&self) -> ClientApi {
        self.api
    }

    pub fn upstream_model(&self) -> &str {
        &self.upstream_model
    }

    /// Whether the client asked for a stream.
    pub fn is_stream(&self) -> bool {
        self.stream
    }

    /// The model as the client named it.
    pub fn requested(&self) -> &str {
        &self.requested
    }

    pub fn cache_ttl(&self) -> Option<Duration> {
        self.cache_ttl
    }
}

/// A route's parts, owned: provider, upstream model, cache TTL, requested name, balancer pick.
type OwnedRoute = (
    Provider,
    String,
    Option<Duration>,
    String,
    Option<crate::router::Slot>,
);

/// The upstream's response headers, and when they arrived.
struct UpstreamReply {
    response: Response<UpstreamBody>,
    latency: Duration,
}

impl Gateway {
    /// `cache`: the response cache, opened from `config.cache` (opening may touch a disk).
    pub fn new(config: &Config, cache: ResponseCache) -> Result<Self, UpstreamError> {
        Ok(Gateway {
            router: ModelRouter::new(config)?,
            cache,
            max_response_bytes: config.server.max_response_bytes,
            retries: config.retries,
            limiter: Limiter::new(&config.limits, counters(&config.limits)?),
            dynamic: DynamicRoutes::new(&config.routes),
            vault: std::sync::OnceLock::new(),
        })
    }

    /// The life cycle of one API call.
    pub async fn handle(
        &self,
        ctx: &RequestContext,
        request: ApiRequest,
    ) -> Result<Reply, GatewayError> {
        // parse + validate, then route (a dynamic route is walked first), then rewrite
        let walked = self.walk_dynamic(ctx, &request).await?;
        let (call, holds) = match walked {
            Some(w) => (
                self.prepare_node(request.api, &request.body, w.route, w.node)?,
                w.holds,
            ),
            None => (self.prepare(request.api, &request.body)?, Vec::new()),
        };
        // the edge authenticated the key; here it meets the model, the limits and the budgets
        if let Some(key) = &request.key {
            key.check_model(call.requested())?;
        }
        let ticket = self
            .limiter
            .admit(&self.admission(&call, &request, &holds))
            .await?;
        let mut reply = self.answer(ctx, call, request).await?;
        reply.ticket = ticket.map(Arc::new);
        Ok(reply)
    }

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
            model: call.upstream_model(),
            // about four bytes a token; settled with the real usage after the call
            estimated_tokens: (request.body.len() / 4) as u64,
            holds,
        }
    }

    /// From the cache, or from the provider (and into the cache).
    async fn answer(
        &self,
        ctx: &RequestContext,
        call: PreparedCall,
        request: ApiRequest,
    ) -> Result<Reply, GatewayError> {
        let lookup = match self.cache.plan(&call, &request.body, &request.cache)? {
            Plan::Off => return self.forward(ctx, call, &request).await,
            Plan::Bypass => {
                self.cache.note_bypass();
                let mut reply = self.forward(ctx, call, &request).await?;
                reply.mark_cache(CacheStatus::Bypass);
                return Ok(reply);
            }
            Plan::Use(lookup) => lookup,
        };
        let leader = match self.cache.find(&lookup).await {
            Found::Hit(reply) => return Ok(*reply),
            Found::Failed(e) => return Err(e),
            Found::Lead(leader) => leader,
        };
        let result = self.forward(ctx, call, &request).await;
        self.cache.record(leader, &lookup, result)
    }

    /// Calls the provider — retrying it, then trying the alias's fallbacks in order — and turns
    /// the first good answer into the client's. Every failed attempt is kept in `ctx.attempts`
    /// for the request log (the last one is the answer when nothing succeeded).
    async fn forward(
        &self,
        ctx: &RequestContext,
        mut call: PreparedCall,
        request: &ApiRequest,
    ) -> Result<Reply, GatewayError> {
        let mut step = 0;
        loop {
            let policy = self.policy_for(&call, request);
            let err = match self.with_retries(ctx, &call, request, &policy, step).await {
                Ok(mut reply) => {
                    reply.set_step(step, call.node.is_some());
                    return Ok(reply);
                }
                Err(e) => e,
            };
            // the provider failed (not the request): the next fallback, if there is one
            if err.origin != ErrorOrigin::Upstream {
                return Err(err);
            }
            match self.next_call(ctx, &call, request, &mut step).await? {
                Some(next) => call = next,
                None => return Err(err),
            }
        }
    }

    /// One step: the call, retried on its provider as `policy` allows.
    async fn with_retries(
        &self,
        ctx: &RequestContext,
        call: &PreparedCall,
        request: &ApiRequest,
        policy: &RetryPolicy,
        step: u32,
    ) -> Result<Reply, GatewayError> {
        let mut retry = 0;
        loop {
            let started_ms = crate::context::unix_ms();
            let started = Instant::now();
            let result = match &call.slot {
                Some(slot) if slot.ejected => Err(GatewayError::circuit_open(
                    call.provider.name(),
                    &call.requested,
                    slot.pool.open_until(slot.index) - started_ms,
                )),
                Some(slot) => {
                    slot.pool.start(slot.index);
                    let result = self.call_and_translate(ctx, call, request, policy).await;
                    // the deployment failed (not the request): that counts for the breaker
                    let failed = result.as_ref().is_err_and(|e| e.retryable);
                    let ended = crate::context::unix_ms();
                    slot.pool
                        .finish(slot.index, !failed, started.elapsed(), ended);
                    result
                }
                None => self.call_and_translate(ctx, call, request, policy).await,
            };
            let err = match result {
                Ok(reply) => return Ok(reply),
                Err(e) => e,
            };
            ctx.attempts.push(Attempt {
                step,
                requested: call.requested.clone(),
                provider: call.provider.name().to_owned(),
                provider_kind: call.provider.spec().kind.name(),
                model: call.upstream_model.clone(),
                status: err.status.as_u16(),
                error: err.message.clone(),
                started_ms,
                took: started.elapsed(),
            });
            retry += 1;
            let Some(wait) = policy.wait(retry, &err) else {
                return Err(err);
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Turns on stored provider keys (once; later calls are ignored).
    pub fn attach_vault(&self, vault: crate::control::Vault) {
        let _ = self.vault.set(vault);
    }

    pub fn vault(&self) -> Option<&crate::control::Vault> {
        self.vault.get()
    }

    /// Replaces the provider's configured key with the one stored under `alias`.
    pub(crate) async fn use_stored_key(
        &self,
        provider: &Provider,
        request: &mut switchyard_providers::UpstreamRequest,
        alias: &str,
    ) -> Result<(), GatewayError> {
        const HEADER: &str = "cf-aig-byok-alias";
        let vault = self.vault().ok_or_else(|| {
            GatewayError::invalid_header(
                HEADER,
                "this gateway has no master key, so it keeps no stored provider keys".into(),
            )
        })?;
        let key = vault.get(provider.name(), alias).await?.ok_or_else(|| {
            GatewayError::invalid_header(
                HEADER,
                format!(
                    "no key is stored as `{alias}` for provider `{}`",
                    provider.name()
                ),
            )
        })?;
        provider.use_key(request, key.expose())?;
        Ok(())
    }

    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    pub fn dynamic(&self) -> &DynamicRoutes {
        &self.dynamic
    }

    /// Whether requests' headers are needed (dynamic routes' conditions may read them).
    pub fn has_dynamic_routes(&self) -> bool {
        !self.dynamic.is_empty()
    }

    /// `dynamic/NAME` in the body: the walk to a model node. Free when no route is configured.
    async fn walk_dynamic(
        &self,
        ctx: &RequestContext,
        request: &ApiRequest,
    ) -> Result<Option<Walked>, GatewayError> {
        if self.dynamic.is_empty() || memchr::memmem::find(&request.body, b"\"dynamic/").is_none() {
            return Ok(None);
        }
        let Some(model) = crate::dynamic::peek_model(&request.body) else {
            return Ok(None);
        };
        if !model.starts_with("dynamic/") {
            return Ok(None);
        }
        let route = self.dynamic.find(&model).ok_or_else(|| {
            GatewayError::model_not_found(format!(
                "model `{model}` not found: dynamic routes are {}",
                self.dynamic.names.join(", ")
            ))
        })?;
        let start = self.dynamic.routes[route].start;
        Ok(Some(
            self.walk(ctx, route, start, &walk_input(request)).await?,
        ))
    }

    /// A dynamic route's model node, prepared like any route.
    fn prepare_node(
        &self,
        api: ClientApi,
        body: &Bytes,
        route: usize,
        node: usize,
    ) -> Result<PreparedCall, GatewayError> {
        let switchyard_config::routes::Node::Model { target, .. } =
            &self.dynamic.routes[route].nodes[node]
        else {
            return Err(GatewayError::internal(
                "a dynamic route walk ended off a model",
            ));
        };
        let provider = self
            .router
            .provider(&target.provider)
            .ok_or_else(|| GatewayError::internal(format!("no provider `{}`", target.provider)))?;
        let given = crate::Route {
            provider,
            upstream_model: &target.model,
            alias: None,
            cache_ttl: None,
            requested: &self.dynamic.names[route],
            slot: None,
        };
        let mut call = self.prepare_on(api, body, Some(given))?;
        call.node = Some((route, node));
        Ok(call)
    }

    /// Retries for a call: the request's over the config's; a dynamic model node's own win.
    fn policy_for(&self, call: &PreparedCall, request: &ApiRequest) -> RetryPolicy {
        let mut policy = RetryPolicy::new(&self.retries, request.retry);
        if let Some((r, n)) = call.node {
            if let switchyard_config::routes::Node::Model {
                timeout,
                max_attempts,
                ..
            } = &self.dynamic.routes[r].nodes[n]
            {
                policy.max_attempts = max_attempts.unwrap_or(policy.max_attempts);
                policy.request_timeout = timeout.or(policy.request_timeout);
            }
        }
        policy
    }

    /// The next call after `call` failed: a dynamic node's fallback edge, else the alias's next
    /// fallback that can take the request. `None` when there is nothing left to try.
    async fn next_call(
        &self,
        ctx: &RequestContext,
        call: &PreparedCall,
        request: &ApiRequest,
        step: &mut u32,
    ) -> Result<Option<PreparedCall>, GatewayError> {
        if let Some((r, n)) = call.node {
            let switchyard_config::routes::Node::Model {
                fallback: Some(f), ..
            } = &self.dynamic.routes[r].nodes[n]
            else {
                return Ok(None);
            };
            *step += 1;
            let walked = self.walk(ctx, r, *f, &walk_input(request)).await?;
            return self
                .prepare_node(request.api, &request.body, walked.route, walked.node)
                .map(Some);
        }
        loop {
            *step += 1;
            let Some(route) = self.router.fallback(&call.requested, *step as usize) else {
                return Ok(None);
            };
            match self.prepare_on(request.api, &request.body, Some(route)) {
                Ok(next) => return Ok(Some(next)),
                // this fallback cannot take the request (e.g. a feature it lacks)
                Err(e) => tracing::debug!(step = *step, "fallback skipped: {}", e.message),
            }
        }
    }

    pub fn cache(&self) -> &ResponseCache {
        &self.cache
    }

    /// `GET /v1/models`.
    pub fn models(&self) -> ModelList {
        self.router.model_list()
    }

    pub fn router(&self) -> &ModelRouter {
        &self.router
    }

    /// Parse + validate, route and rewrite: all the CPU work of the hot path before the upstream
    /// call (public so the criterion benchmark measures exactly this).
    pub fn prepare(&self, api: ClientApi, body: &Bytes) -> Result<PreparedCall, GatewayError> {
        self.prepare_on(api, body, None)
    }

    /// [`Gateway::prepare`] for a given route (a fallback) instead of the body's model.
    fn prepare_on(
        &self,
        api: ClientApi,
        body: &Bytes,
        given: Option<crate::Route<'_>>,
    ) -> Result<PreparedCall, GatewayError> {
        let mut strip_usage = false;
        let (requested, stream, splicer) = match api {
            ClientApi::ChatCompletions => {
                let req = ChatRequest::parse(body)?;
                let route = match given {
                    Some(r) => r,
                    None => self.router.resolve(req.model())?,
                };
                if route.provider.dialect_for(route.upstream_model) != Dialect::OpenAi {
                    let upstream = translate::request(
                        Dialect::OpenAi,
                        body,
                        route.provider,
                        route.upstream_model,
                    )?;
                    return Ok(self.translated(api, &route, req.stream().is_on(), upstream));
                }
                let mut splicer = req.rewrite(route.upstream_model);
                strip_usage = req.stream().is_on()
                    && crate::usage::supported(route.provider.spec().kind)
                    && crate::usage::inject(req.view(), &mut splicer);
                (self.owned_route(&route), req.stream().is_on(), splicer)
            }
            ClientApi::Messages => {
                let req = MessagesRequest::parse(body)?;
                let route = match given {
                    Some(r) => r,
                    None => self.router.resolve(req.model())?,
                };
                if route.provider.dialect_for(route.upstream_model) != Dialect::Anthropic {
                    let upstream = translate::request(
                        Dialect::Anthropic,
                        body,
                        route.provider,
                        route.upstream_model,
                    )?;
                    return Ok(self.translated(api, &route, req.stream(), upstream));
                }
                let splicer = req.rewrite(route.upstream_model);
                (self.owned_route(&route), req.stream(), splicer)
            }
            ClientApi::CountTokens => {
                let req = MessagesRequest::parse_count(body)?;
                let route = match given {
                    Some(r) => r,
                    None => self.router.resolve(req.model())?,
                };
                if route.provider.dialect_for(route.upstream_model) == Dialect::Gemini {
                    let upstream = translate::count_tokens_request(
                        body,
                        route.provider,
                        route.upstream_model,
                    )?;
                    return Ok(self.translated(api, &route, false, upstream));
                }
                // Anthropic forwards it; other providers have no such API (refused as 400).
                let splicer = req.rewrite(route.upstream_model);
                (self.owned_route(&route), false, splicer)
            }
            ClientApi::Embeddings => {
                let req = EmbeddingsRequest::parse(body)?;
                let route = match given {
                    Some(r) => r,
                    None => self.router.resolve(req.model())?,
                };
                if matches!(
                    route.provider.dialect_for(route.upstream_model),
                    Dialect::Gemini | Dialect::Cohere | Dialect::Bedrock | Dialect::WorkersAi
                ) {
                    let upstream =
                        translate::embeddings_request(body, route.provider, route.upstream_model)?;
                    return Ok(self.translated(api, &route, false, upstream));
                }
                let splicer = req.rewrite(route.upstream_model);
                (self.owned_route(&route), false, splicer)
            }
        };
        let (provider, upstream_model, cache_ttl, requested, slot) = requested;
        let body = if splicer.is_noop() {
            body.clone()
        } else {
            Bytes::from(splicer.finish())
        };
        Ok(PreparedCall {
            api,
            provider,
            upstream_model,
            body,
            stream,
            translation: None,
            cache_ttl,
            requested,
            strip_usage,
            slot,
            node: None,
        })
    }

    /// A call whose body was translated for the provider (the dialects differ).
    fn translated(
        &self,
        api: ClientApi,
        route: &crate::Route<'_>,
        stream: bool,
        (body, translation): (Bytes, Translation),
    ) -> PreparedCall {
        let (provider, upstream_model, cache_ttl, requested, slot) = self.owned_route(route);
        PreparedCall {
            api,
            provider,
            upstream_model,
            body,
            stream,
            translation: Some(translation),
            cache_ttl,
            requested,
            strip_usage: false,
            slot,
            node: None,
        }
    }

    fn owned_route(&self, route: &crate::Route<'_>) -> OwnedRoute {
        (
            route.provider.clone(),
            route.upstream_model.to_owned(),
            route.cache_ttl,
            route.requested.to_owned(),
            route.slot.clone(),
        )
    }

    async fn call_and_translate(
        &self,
        ctx: &RequestContext,
        call: &PreparedCall,
        request: &ApiRequest,
        policy: &RetryPolicy,
    ) -> Result<Reply, GatewayError> {
        let upstream = self.call_provider(call, request, policy).await?;
        self.translate_back(ctx, call, upstream).await
    }

    async fn call_provider(
        &self,
        call: &PreparedCall,
        api_request: &ApiRequest,
        policy: &RetryPolicy,
    ) -> Result<UpstreamReply, GatewayError> {
        let forward = &api_request.forward;
        let mut request = call.provider.build(
            call.api.endpoint(),
            &call.upstream_model,
            call.stream,
            call.body.clone(),
        )?;
        if call.translation.is_none() && !forward.is_empty() {
            call.provider.forward_headers(&mut request, forward);
        }
        if let Some(alias) = &api_request.byok {
            self.use_stored_key(&call.provider, &mut request, alias)
                .await?;
        }
        let sent = Instant::now();
        let response = match policy.request_timeout {
            None => call.provider.send(&request).await?,
            Some(limit) => tokio::time::timeout(limit, call.provider.send(&request))
                .await
                .map_err(|_| GatewayError::request_timeout(call.provider.name(), limit))??,
        };
        Ok(UpstreamReply {
            response,
            latency: sent.elapsed(),
        })
    }

    /// A whole (non-streamed) answer, within the total timeout when there is one.
    async fn read_all(
        &self,
        call: &PreparedCall,
        body: UpstreamBody,
        ends_by: Option<Instant>,
    ) -> Result<Bytes, GatewayError> {
        let read = call.provider.read_body(body, self.max_response_bytes);
        let Some(t) = ends_by else {
            return Ok(read.await?);
        };
        match tokio::time::timeout_at(t.into(), read).await {
            Ok(bytes) => Ok(bytes?),
            Err(_) => Err(GatewayError::total_timeout(call.provider.name())),
        }
    }

    /// Same dialect on both sides: relay status, body and the useful headers. Errors become
    /// [`GatewayError`]s so the edge renders them uniformly.
    async fn translate_back(
        &self,
        ctx: &RequestContext,
        call: &PreparedCall,
        upstream: UpstreamReply,
    ) -> Result<Reply, GatewayError> {
        let (parts, body) = upstream.response.into_parts();
        let relayed = relayed_headers(&parts.headers);
        if !parts.status.is_success() {
            let bytes = call
                .provider
                .read_body(body, MAX_ERROR_BODY)
                .await
                .unwrap_or_default();
            let err = if parts.status.is_client_error() || parts.status.is_server_error() {
                GatewayError::upstream_status(call.provider.name(), parts.status, &bytes)
            } else {
                GatewayError::upstream_status(
                    call.provider.name(),
                    StatusCode::BAD_GATEWAY,
                    b"unexpected HTTP status",
                )
            };
            return Err(err.with_headers(relayed));
        }
        let is_sse = parts.headers.get(CONTENT_TYPE).is_some_and(|v| {
            let v = v.as_bytes();
            v.starts_with(b"text/event-stream")
                || v.starts_with(b"application/vnd.amazon.eventstream")
        });
        let stream = call.stream && is_sse;
        // the total timeout counts from when this attempt's request went out
        let ends_by = call
            .provider
            .total_timeout()
            .map(|t| Instant::now() - upstream.latency + t);
        let info = StreamInfo {
            dialect: Some(call.api.dialect()),
            request_id: ctx.id,
            provider: call.provider.name().to_owned(),
            idle: call.provider.idle_timeout(),
            ends_by: ends_by.map(Into::into),
        };
        let mut usage_slot: Option<UsageSlot> = None;
        let body = match (&call.translation, stream) {
            (None, true) if call.strip_usage => ReplyBody::sse(body, info, None)
                .strip_usage(usage_slot.get_or_insert_with(UsageSlot::default).clone()),
            (None, true) => ReplyBody::sse(body, info, None),
            (Some(t), true) => ReplyBody::sse(body, info, Some(Transcoder::new(t))),
            (None, false) => ReplyBody::full(self.read_all(call, body, ends_by).await?),
            (Some(t), false) => {
                let bytes = self.read_all(call, body, ends_by).await?;
                ReplyBody::full(translate::response(&bytes, t, call.provider.name())?)
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = parts.status;
        let headers = response.headers_mut();
        let content_type = match (&call.translation, stream) {
            (Some(_), true) => HeaderValue::from_static("text/event-stream"),
            (Some(_), false) => HeaderValue::from_static("application/json"),
            (None, _) => parts
                .headers
                .get(CONTENT_TYPE)
                .cloned()
                .unwrap_or(HeaderValue::from_static("application/json")),
        };
        headers.insert(CONTENT_TYPE, content_type);
        if stream {
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        }
        for (name, value) in relayed {
            headers.insert(name, value);
        }
        Ok(Reply {
            response,
            provider: call.provider.name().to_owned(),
            upstream_model: call.upstream_model.clone(),
            upstream_latency: upstream.latency,
            stream,
            cache: None,
            saved_usage: None,
            api: Some(call.api),
            provider_kind: call.provider.spec().kind.name(),
            requested_model: Some(call.requested.clone()),
            usage_slot,
            step: 0,
            ticket: None,
        })
    }
}

static STEP: HeaderName = HeaderName::from_static("cf-aig-step");
static SERVED_MODEL: HeaderName = HeaderName::from_static("cf-aig-model");
static SERVED_PROVIDER: HeaderName = HeaderName::from_static("cf-aig-provider");

impl Reply {
    /// Which step answered, in the reply and its `cf-aig-step` header; a fallback (or any
    /// answer when `named`, as for dynamic routes) also names what served it
    /// (`cf-aig-provider`, `cf-aig-model`).
    pub fn set_step(&mut self, step: u32, named: bool) {
        self.step = step;
        let headers = self.response.headers_mut();
        headers.insert(STEP.clone(), HeaderValue::from(step));
        if step > 0 || named {
            if let Ok(v) = HeaderValue::from_str(&self.provider) {
                headers.insert(SERVED_PROVIDER.clone(), v);
            }
            if let Ok(v) = HeaderValue::from_str(&self.upstream_model) {
                if !self.upstream_model.is_empty() {
                    headers.insert(SERVED_MODEL.clone(), v);
                }
            }
        }
    }

    /// Records what the cache did, in the reply and its `cf-aig-cache-status` header.
    pub fn mark_cache(&mut self, status: CacheStatus) {
        self.cache = Some(status);
        self.response
            .headers_mut()
            .insert(crate::cache::CACHE_STATUS.clone(), status.header_value());
    }
}

fn walk_input(request: &ApiRequest) -> WalkInput<'_> {
    WalkInput {
        metadata: request.metadata.as_ref(),
        headers: &request.headers,
        key: request.key.as_ref(),
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

static UPSTREAM_REQUEST_ID: HeaderName = HeaderName::from_static("x-upstream-request-id");

/// Upstream headers a client benefits from: rate-limit state, `retry-after`, the upstream's request
/// id (renamed, so it cannot be confused with ours).
fn relayed_headers(headers: &http::HeaderMap) -> Vec<(HeaderName, HeaderValue)> {
    let mut out = Vec::new();
    for (name, value) in headers {
        if name == RETRY_AFTER || name.as_str().starts_with("x-ratelimit-") {
            out.push((name.clone(), value.clone()));
        } else if name.as_str() == "x-request-id" {
            out.push((UPSTREAM_REQUEST_ID.clone(), value.clone()));
        }
    }
    out
}
