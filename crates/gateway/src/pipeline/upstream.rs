//! The attempt loop: calling the provider (retried, then falling back), and turning its answer
//! into the client's.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{Response, StatusCode};
use switchyard_providers::{Provider, UpstreamBody};

use super::{verify, ApiRequest, Gateway, PreparedCall};
use crate::in_process::InProcessCall;
use crate::relay::StreamInfo;
use crate::reply::{Reply, ServedNote};
use crate::retry::{Attempt, RetryPolicy};
use crate::translate::{self, Transcoder};
use crate::usage::UsageSlot;
use crate::{ErrorOrigin, GatewayError, ReplyBody, RequestContext};

/// Upstream error bodies larger than this are cut (they are only read for their message).
const MAX_ERROR_BODY: usize = 1024 * 1024;

/// The upstream's response headers, and when they arrived.
struct UpstreamReply {
    response: Response<UpstreamBody>,
    latency: Duration,
}

impl Gateway {
    /// Calls the provider — retrying it, then trying the alias's fallbacks in order — and turns
    /// the first good answer into the client's. Every failed attempt is kept in `ctx.attempts`
    /// for the request log (the last one is the answer when nothing succeeded).
    pub(super) async fn forward(
        &self,
        ctx: &RequestContext,
        mut call: PreparedCall,
        request: &ApiRequest,
    ) -> Result<Reply, GatewayError> {
        let mut step = 0;
        let mut holds = Vec::new();
        loop {
            let policy = self.policy_for(&call, request);
            let err = match self.with_retries(ctx, &call, request, &policy, step).await {
                Ok(mut reply) => {
                    reply.set_step(step, call.node.is_some());
                    reply.gate_holds = holds;
                    return Ok(reply);
                }
                Err(e) => e,
            };
            // the provider failed (not the request): the next fallback, if there is one
            if err.origin != ErrorOrigin::Upstream {
                return Err(err);
            }
            match self
                .next_call(ctx, &call, request, (&mut step, &mut holds))
                .await?
            {
                Some(next) => call = next,
                None => return Err(err),
            }
        }
    }

    /// One step: the call, retried as `policy` allows — on its provider, or for a balanced
    /// alias on another deployment that has not failed yet (back on the same one when none is
    /// left).
    async fn with_retries(
        &self,
        ctx: &RequestContext,
        call: &PreparedCall,
        request: &ApiRequest,
        policy: &RetryPolicy,
        step: u32,
    ) -> Result<Reply, GatewayError> {
        let mut retry = 0;
        let mut moved: Option<PreparedCall> = None;
        let mut tried: Vec<usize> = Vec::new();
        loop {
            let call = moved.as_ref().unwrap_or(call);
            let started_ms = crate::clock::unix_ms();
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
                    let ended = crate::clock::unix_ms();
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
            ctx.push_attempt(Attempt {
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
            let next = call.slot.as_ref().and_then(|slot| {
                tried.push(slot.index);
                let index = slot.pool.pick_other(&tried)?;
                let route = self.router.member(&call.requested, index)?;
                self.prepare_on(request.api, &request.body, Some(route))
                    .ok()
            });
            if next.is_some() {
                moved = next;
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Replaces the provider's configured key with the one stored under `alias`, if the
    /// gateway key `caller` (its id) may use it.
    pub(crate) async fn use_stored_key(
        &self,
        provider: &Provider,
        request: &mut switchyard_providers::UpstreamRequest,
        alias: &str,
        caller: Option<&str>,
    ) -> Result<(), GatewayError> {
        const HEADER: &str = crate::control::vault::ALIAS_HEADER;
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
        if !key.allows(caller) {
            return Err(GatewayError::forbidden(format!(
                "the key stored as `{alias}` for provider `{}` is not available to {}",
                provider.name(),
                caller.map_or("requests without a gateway key".to_owned(), |id| format!(
                    "gateway key `{id}`"
                ))
            )));
        }
        provider.use_key(request, key.secret.expose())?;
        Ok(())
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
        if let Some(in_process) = self.in_process.get(call.provider.name()) {
            let sent = Instant::now();
            let response = in_process
                .call(InProcessCall {
                    api: call.api,
                    model: &call.upstream_model,
                    body: &call.body,
                    stream: call.stream,
                })
                .await?;
            return Ok(UpstreamReply {
                response,
                latency: sent.elapsed(),
            });
        }
        let forward = &api_request.forward;
        let mut request = call.provider.build(
            call.endpoint(),
            &call.upstream_model,
            call.stream,
            call.body.clone(),
        )?;
        if call.translation.is_none() && !forward.is_empty() {
            call.provider.forward_headers(&mut request, forward);
        }
        if let Some(alias) = &api_request.byok {
            let caller = api_request.key.as_ref().map(|k| k.id());
            self.use_stored_key(&call.provider, &mut request, alias, caller)
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
        let (parts, mut body) = upstream.response.into_parts();
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
        let content_type = parts.headers.get(CONTENT_TYPE).map(HeaderValue::as_bytes);
        let text_events = content_type.is_some_and(|v| v.starts_with(b"text/event-stream"));
        let is_sse = text_events
            || content_type.is_some_and(|v| v.starts_with(b"application/vnd.amazon.eventstream"));
        let stream = call.stream && is_sse;
        // the total timeout counts from when this attempt's request went out
        let ends_by = call
            .provider
            .total_timeout()
            .map(|t| Instant::now() - upstream.latency + t);
        let fault = stream.then(crate::relay::FaultSlot::default);
        let info = StreamInfo {
            fault: fault.clone(),
            dialect: Some(call.api.dialect()),
            request_id: ctx.id,
            provider: call.provider.name().to_owned(),
            idle: call.provider.idle_timeout(),
            ends_by: ends_by.map(Into::into),
        };
        // an event stream that does not open with a JSON event failed like a 502 would have
        let first = match stream && text_events {
            true => {
                let ends_by = ends_by.map(Into::into);
                Some(verify::first_event(&call.provider, &mut body, info.idle, ends_by).await?)
            }
            false => None,
        };
        // an in-process answer may say what it used beside its body (local speech)
        let mut usage_slot: Option<UsageSlot> = parts
            .extensions
            .get::<crate::TokenUsage>()
            .map(|u| std::sync::Arc::new(std::sync::Mutex::new(Some(*u))));
        let body = match (&call.translation, stream) {
            (None, true) if call.strip_usage => ReplyBody::sse(body, info, None, first)
                .strip_usage(usage_slot.get_or_insert_with(UsageSlot::default).clone()),
            (None, true) => ReplyBody::sse(body, info, None, first),
            (Some(t), true) => ReplyBody::sse(body, info, Some(Transcoder::new(t)), first),
            (None, false) => {
                let bytes = self.read_all(call, body, ends_by).await?;
                // a transcription may be asked for as plain text or subtitles
                let json = content_type.is_none_or(|v| v.starts_with(b"application/json"));
                if !call.api.is_speech() || json {
                    verify::json_answer(call.provider.name(), &bytes)?;
                }
                ReplyBody::full(bytes)
            }
            (Some(t), false) => {
                let bytes = self.read_all(call, body, ends_by).await?;
                ReplyBody::full(translate::response(&bytes, t, call.provider.name())?)
            }
        };
        let mut response = Response::new(body);
        *response.status_mut() = parts.status;
        let headers = response.headers_mut();
        // room for what the edge adds later (request and log ids, server timing, cache status):
        // a header map that grows on the way out is rehashed and reallocated per request
        headers.reserve(12);
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
        Ok(Reply::new(
            response,
            ServedNote {
                upstream_latency: upstream.latency,
                stream,
                requested_model: Some(call.requested.clone()),
                usage_slot,
                stream_fault: fault,
                ..ServedNote::new(
                    call.provider.name().to_owned(),
                    call.upstream_model.clone(),
                    call.provider.spec().kind.name(),
                )
            },
        ))
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
