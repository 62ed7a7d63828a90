//! The edge's part of the record step: what a request looked like on arrival, and handing its
//! response to the gateway's `observe::record::finish`, which records it when the answer ends.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use http::header::{HeaderName, HeaderValue, USER_AGENT};
use http::{Request, Response};
use switchyard_gateway::observe::record::{finish, Outcome};
use switchyard_gateway::observe::Observer;
use switchyard_gateway::RequestContext;

use crate::render::ErrorNote;

static LOG_ID: HeaderName = HeaderName::from_static("cf-aig-log-id");
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// What is read from the request before it is handed to the router.
pub(crate) struct Arrival {
    /// Method and path are filled by the edge once the router is done with the request.
    pub(crate) seen: switchyard_gateway::observe::record::Arrival,
    /// The `cf-aig-log-id` value (the request id's, shared).
    pub(crate) log_id: Option<HeaderValue>,
}

/// The route template of a path (bounded, for metrics labels), or `None` for requests that are
/// not logged (health, metrics, the admin API).
pub(crate) fn route_template(path: &str) -> Option<&'static str> {
    Some(match path {
        "/v1/chat/completions" => "/v1/chat/completions",
        "/v1/embeddings" => "/v1/embeddings",
        "/v1/responses" => "/v1/responses",
        "/v1/audio/transcriptions" => "/v1/audio/transcriptions",
        "/v1/audio/translations" => "/v1/audio/translations",
        "/v1/rerank" => "/v1/rerank",
        "/v2/rerank" => "/v2/rerank",
        "/v1/images/generations" => "/v1/images/generations",
        "/v1/messages" => "/v1/messages",
        "/v1/messages/count_tokens" => "/v1/messages/count_tokens",
        "/v1/models" => "/v1/models",
        "/universal" => "/universal",
        p if p.starts_with("/v1/models/") => "/v1/models/{id}",
        p if p.starts_with("/v1/responses/") => "/v1/responses/{id}",
        p if p.starts_with("/ai/run/") => "/ai/run/{model}",
        "/ai/models/search" | "/ai/models/schema" => "/ai/models/…",
        p if p.starts_with("/client/v4/") => match cloudflare_route(p) {
            Some(template) => template,
            None => "/client/v4/…",
        },
        "/healthz" | "/readyz" | "/metrics" => return None,
        p if p == "/api" || p.starts_with("/api/") => return None,
        p if p.starts_with("/v1/") => "/v1/{account}/{gateway}/…",
        _ => "/{provider}/…",
    })
}

/// The template of a `/client/v4/accounts/{account}/ai/…` path.
fn cloudflare_route(path: &str) -> Option<&'static str> {
    let rest = path.strip_prefix("/client/v4/accounts/")?;
    let (_account, rest) = rest.split_once('/')?;
    Some(match rest {
        r if r.starts_with("ai/run/") => "/client/v4/accounts/{account}/ai/run/{model}",
        "ai/models/search" | "ai/models/schema" => "/client/v4/accounts/{account}/ai/models/…",
        "ai/v1/chat/completions" => "/client/v4/accounts/{account}/ai/v1/chat/completions",
        "ai/v1/embeddings" => "/client/v4/accounts/{account}/ai/v1/embeddings",
        "ai/v1/responses" => "/client/v4/accounts/{account}/ai/v1/responses",
        r if r.starts_with("ai/v1/responses/") => {
            "/client/v4/accounts/{account}/ai/v1/responses/{id}"
        }
        "ai/v1/models" => "/client/v4/accounts/{account}/ai/v1/models",
        "ai/v1/audio/transcriptions" => "/client/v4/accounts/{account}/ai/v1/audio/transcriptions",
        "ai/v1/audio/translations" => "/client/v4/accounts/{account}/ai/v1/audio/translations",
        _ => return None,
    })
}

pub(crate) fn arrive<B>(observer: Option<&Arc<Observer>>, request: &Request<B>) -> Option<Arrival> {
    let observer = observer?;
    let route = route_template(request.uri().path())?;
    observer.metrics().in_flight.fetch_add(1, Ordering::Relaxed);
    // by `HeaderName` (a `&str` name is parsed and validated on every lookup)
    let header = |name: &HeaderName| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Some(Arrival {
        seen: switchyard_gateway::observe::record::Arrival {
            route,
            user_agent: header(&USER_AGENT),
            traceparent: header(&TRACEPARENT),
            ..Default::default()
        },
        log_id: None,
    })
}

/// Names the log row in the response and has the gateway record the request when its body ends.
pub(crate) fn attach(
    observer: &Arc<Observer>,
    arrival: Arrival,
    ctx: &RequestContext,
    mut response: Response<Body>,
) -> Response<Body> {
    let log_id = arrival.log_id.or_else(|| {
        let mut buf = [0u8; 36];
        HeaderValue::from_str(ctx.id.hyphenated().encode_lower(&mut buf)).ok()
    });
    if let Some(v) = log_id {
        response.headers_mut().insert(LOG_ID.clone(), v);
    }
    let outcome = Outcome {
        status: response.status().as_u16(),
        error: response
            .extensions()
            .get::<ErrorNote>()
            .map(|e| e.0.clone()),
    };
    response.map(|body| Body::new(finish(observer, ctx, arrival.seen, outcome, body)))
}
