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

use crate::relay::StreamInfo;
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
    /// The gateway key the request authenticated with (its id), for stored provider keys.
    pub caller: Option<String>,
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

    /// What a native call to `provider` can be metered as (see [`metered`]).
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

    /// Forwards a native request and relays the answer.
    pub async fn passthrough(
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
        let byok = req
            .headers
            .get("cf-aig-byok-alias")
            .map(|v| v.to_str().map(str::to_owned))
            .transpose()
            .map_err(|_| {
                GatewayError::invalid_header("cf-aig-byok-alias", "not valid text".into())
            })?;
        let mut upstream = provider.passthrough(
            req.method,
            &req.rest,
            req.query.as_deref(),
            &req.headers,
            req.body,
        )?;
        if let Some(alias) = byok {
            self.use_stored_key(provider, &mut upstream, &alias, req.caller.as_deref())
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
        };
        let body = if req.verify && parts.status.is_success() {
            self.verified(provider, &parts.headers, body, info).await?
        } else {
            ReplyBody::raw(body, info)
        };
        let response = Response::from_parts(parts, body);
        Ok(Reply {
            response,
            provider: provider.name().to_owned(),
            upstream_model: metered.map(|m| m.model).unwrap_or_default(),
            upstream_latency: latency,
            stream,
            cache: None,
            saved_usage: None,
            api: None,
            provider_kind: provider.spec().kind.name(),
            requested_model: None,
            usage_slot: None,
            step: 0,
            ticket: None,
            gate_holds: Vec::new(),
            routing: None,
            similarity: None,
        })
    }
}
