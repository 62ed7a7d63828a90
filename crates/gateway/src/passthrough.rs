//! Provider-native passthrough: `/{provider}/…` forwards the request as is to that provider, with
//! the configured credentials injected (the client never needs the real key) and the answer relayed
//! untouched, streams included. No translation, no validation of the body: it is the provider's API.

use std::time::Instant;

use bytes::Bytes;
use http::header::{HeaderName, CONNECTION, CONTENT_LENGTH, SET_COOKIE, TRANSFER_ENCODING};
use http::{HeaderMap, Method, Response};
use switchyard_protocol::Dialect;
use switchyard_providers::ProviderKind;

use switchyard_providers::{Provider, UpstreamBody};

use crate::control::{Admission, ApiKey, Ticket};
use crate::relay::StreamInfo;
use crate::reply::ServedNote;
use crate::{ClientApi, Gateway, GatewayError, Reply, ReplyBody, RequestContext};

/// A native request as the client sent it.
pub struct NativeRequest {
    pub provider: String,
    pub method: Method,
    /// The path after `/{provider}/`.
    pub rest: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The gateway key the request authenticated with: its limits, budgets and stored keys.
    pub key: Option<ApiKey>,
    /// A `2xx` must be the answer it claims to be (a JSON body that parses, a stream whose
    /// first event does), else it is the provider's failure: for the universal endpoint's steps,
    /// which fall back like an alias. Plain passthrough relays whatever comes, untouched.
    pub verify: bool,
}

/// A provider-native call the gateway can meter: the client API its answer is read as (for usage)
/// and the model it names (for prices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metered {
    pub api: ClientApi,
    pub model: String,
}

/// `POST /{provider}/{rest}` on a provider of `kind`: the API whose usage can be read from its
/// answer — OpenAI-dialect chat, completions and embeddings, Anthropic messages — and the model
/// its body names; `None` for anything else.
pub fn metered(kind: ProviderKind, method: &Method, rest: &str, body: &[u8]) -> Option<Metered> {
    if method != Method::POST {
        return None;
    }
    let path = rest.trim_matches('/');
    let path = path.strip_prefix("v1/").unwrap_or(path);
    let api = match (kind.dialect(), path) {
        (Dialect::OpenAi, "chat/completions") => ClientApi::ChatCompletions,
        (Dialect::OpenAi, "completions") => ClientApi::Completions,
        (Dialect::OpenAi, "embeddings") => ClientApi::Embeddings,
        (Dialect::Anthropic, "messages") => ClientApi::Messages,
        _ => return None,
    };
    #[derive(serde::Deserialize)]
    struct Named {
        model: String,
    }
    let model = serde_json::from_slice::<Named>(body).ok()?.model;
    Some(Metered { api, model })
}

impl Gateway {
    /// `/{provider}/…`: a provider-native call, admitted like any (limits, budgets: what
    /// `metered` can price is reserved and charged, the rest refused under a budget) and
    /// forwarded. Keys limited to some models cannot use it: the body is not checked.
    pub(crate) async fn native(
        &self,
        ctx: &RequestContext,
        req: NativeRequest,
    ) -> Result<Reply, GatewayError> {
        refuse_restricted(req.key.as_ref())?;
        let metered = self.metered(&req.provider, &req.method, &req.rest, &req.body);
        let ticket = self
            .admit_native(
                req.key.as_ref(),
                &req.provider,
                &req.body,
                metered.as_ref(),
                &req.method,
            )
            .await?;
        let mut reply = self.passthrough(ctx, req).await?;
        reply.served.ticket = ticket.map(std::sync::Arc::new);
        Ok(reply)
    }

    /// Gateway-wide, per-key and per-provider limits and budgets on a native call (model-scoped
    /// ones apply only where [`metered`] names the model).
    pub(crate) async fn admit_native(
        &self,
        key: Option<&ApiKey>,
        provider: &str,
        body: &[u8],
        metered: Option<&Metered>,
        method: &Method,
    ) -> Result<Option<Ticket>, GatewayError> {
        let kind = self
            .router()
            .provider(provider)
            .map_or("", |p| p.spec().kind.name());
        self.limiter()
            .admit(&Admission {
                key,
                metadata: None,
                requested: "",
                provider,
                provider_kind: kind,
                model: metered.map_or("", |m| m.model.as_str()),
                body,
                // reads (listing models, fetching a batch) cost nothing
                metered: metered.is_some() || matches!(*method, Method::GET | Method::HEAD),
                holds: &[],
            })
            .await
    }

    /// A `2xx` answer checked to be one: a JSON body read whole and parsed, a stream's first
    /// event read and parsed (then relayed with the rest); other content types as they come.
    async fn verified(
        &self,
        provider: &Provider,
        headers: &HeaderMap,
        mut body: UpstreamBody,
        info: StreamInfo,
    ) -> Result<ReplyBody, GatewayError> {
        let content_type = headers
            .get(http::header::CONTENT_TYPE)
            .map_or(&b""[..], |v| v.as_bytes());
        if content_type.starts_with(b"text/event-stream") {
            let ends_by = info.ends_by;
            let first =
                crate::pipeline::verify::first_event(provider, &mut body, info.idle, ends_by)
                    .await?;
            return Ok(ReplyBody::sse(body, info, None, Some(first)));
        }
        if content_type.starts_with(b"application/json") {
            let bytes = provider.read_body(body, self.max_response_bytes()).await?;
            crate::pipeline::verify::json_answer(provider.name(), &bytes)?;
            return Ok(ReplyBody::full(bytes));
        }
        Ok(ReplyBody::raw(body, info))
    }

    /// What a native call to `provider` can be metered as (see `metered`).
    pub fn metered(
        &self,
        provider: &str,
        method: &Method,
        rest: &str,
        body: &[u8],
    ) -> Option<Metered> {
        let kind = self.router().provider(provider)?.spec().kind;
        metered(kind, method, rest, body)
    }

    /// Forwards a native request and relays the answer (no admission: see [`Self::native`]).
    pub(crate) async fn passthrough(
        &self,
        ctx: &RequestContext,
        req: NativeRequest,
    ) -> Result<Reply, GatewayError> {
        let provider = self.router().provider(&req.provider).ok_or_else(|| {
            let known: Vec<&str> = self.router().providers().iter().map(|p| p.name()).collect();
            GatewayError::route_not_found_with(format!(
                "no route for {} /{}/{}: `{}` is neither an API route nor a configured provider (providers: {})",
                req.method,
                req.provider,
                req.rest,
                req.provider,
                if known.is_empty() { "none".to_owned() } else { known.join(", ") }
            ))
        })?;
        if let Some(why) = switchyard_providers::native_path_problem(&req.rest) {
            return Err(GatewayError::invalid_path(&req.rest, why));
        }
        // the answer is priced by the model its body names, where its usage can be read
        let metered = metered(provider.spec().kind, &req.method, &req.rest, &req.body);
        let byok = crate::control::vault::alias_of(&req.headers)?;
        let mut upstream = provider.passthrough(
            req.method,
            &req.rest,
            req.query.as_deref(),
            &req.headers,
            req.body,
        )?;
        if let Some(alias) = byok {
            let caller = req.key.as_ref().map(ApiKey::id);
            self.use_stored_key(provider, &mut upstream, &alias, caller)
                .await?;
        }
        let sent = Instant::now();
        let response = provider.send(&upstream).await?;
        let latency = sent.elapsed();
        let (mut parts, body) = response.into_parts();
        // hop-by-hop headers, and the upstream's cookies: a session with the provider belongs to
        // the gateway's credentials, never to the client
        for hop in [CONNECTION, TRANSFER_ENCODING, CONTENT_LENGTH, SET_COOKIE] {
            parts.headers.remove(hop);
        }
        parts.headers.remove(HeaderName::from_static("keep-alive"));
        let stream = parts
            .headers
            .get(http::header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
        let info = StreamInfo {
            dialect: None,
            request_id: ctx.id,
            provider: provider.name().to_owned(),
            idle: provider.idle_timeout(),
            ends_by: provider.total_timeout().map(|t| (sent + t).into()),
            fault: None,
        };
        let body = if req.verify && parts.status.is_success() {
            self.verified(provider, &parts.headers, body, info).await?
        } else {
            ReplyBody::raw(body, info)
        };
        let response = Response::from_parts(parts, body);
        Ok(Reply::new(
            response,
            ServedNote {
                upstream_latency: latency,
                stream,
                ..ServedNote::new(
                    provider.name().to_owned(),
                    metered.map(|m| m.model).unwrap_or_default(),
                    provider.spec().kind.name(),
                )
            },
        ))
    }
}

/// Keys limited to some models cannot use provider-native routes: their bodies are not checked.
pub(crate) fn refuse_restricted(key: Option<&ApiKey>) -> Result<(), GatewayError> {
    match key {
        Some(key) if !key.0.models.is_empty() => Err(GatewayError::forbidden(format!(
            "API key `{}` is limited to models ({}); provider-native routes cannot be checked against that list",
            key.0.name,
            key.0.models.join(", ")
        ))),
        _ => Ok(()),
    }
}
