//! The edge's part of the record step: what a request looked like on arrival, and attaching an
//! [`ObservedBody`] to its response so the log record is made when the answer ends.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use http::header::{HeaderName, HeaderValue, USER_AGENT};
use http::{Request, Response};
use switchyard_gateway::context::next_id;
use switchyard_gateway::observe::{CallNote, Observation, ObservedBody, Observer, ServedNote};
use switchyard_gateway::retry::Attempt;
use switchyard_gateway::RequestContext;

use crate::render::ErrorNote;

static LOG_ID: HeaderName = HeaderName::from_static("cf-aig-log-id");
static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// What is read from the request before it is handed to the router.
pub(crate) struct Arrival {
    /// Filled by the edge once the router is done with the request.
    pub(crate) method: http::Method,
    pub(crate) path: String,
    route: &'static str,
    user_agent: Option<String>,
    traceparent: Option<String>,
    /// The `cf-aig-log-id` value (the request id's, shared).
    pub(crate) log_id: Option<HeaderValue>,
}

/// The route template of a path (bounded, for metrics labels), or `None` for requests that are
/// not logged (health, metrics, the admin API).
pub(crate) fn route_template(path: &str) -> Option<&'static str> {
    Some(match path {
        "/v1/chat/completions" => "/v1/chat/completions",
        "/v1/embeddings" => "/v1/embeddings",
        "/v1/messages" => "/v1/messages",
        "/v1/messages/count_tokens" => "/v1/messages/count_tokens",
        "/v1/models" => "/v1/models",
        "/universal" => "/universal",
        p if p.starts_with("/v1/models/") => "/v1/models/{id}",
        "/healthz" | "/readyz" | "/metrics" => return None,
        p if p == "/api" || p.starts_with("/api/") => return None,
        p if p.starts_with("/v1/") => "/v1/{account}/{gateway}/…",
        _ => "/{provider}/…",
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
        method: http::Method::GET,
        path: String::new(),
        route,
        user_agent: header(&USER_AGENT),
        traceparent: header(&TRACEPARENT),
        log_id: None,
    })
}

fn served_by(a: Attempt) -> ServedNote {
    ServedNote {
        provider: a.provider,
        provider_kind: a.provider_kind,
        model: a.model,
        requested_model: Some(a.requested),
        stream: false,
        upstream_latency: a.took,
        cache: None,
        saved_usage: None,
        usage_slot: None,
        step: a.step,
        ticket: None,
        routing: None,
        similarity: None,
    }
}

/// A failed upstream attempt (a retry or a fallback step that did not answer) gets its own row.
fn submit_attempt(observer: &Observer, request: &Observation, a: Attempt) {
    let obs = Observation {
        id: next_id().0.hyphenated().to_string(),
        api_key_id: request.api_key_id.clone(),
        received_ms: a.started_ms,
        method: request.method.clone(),
        path: request.path.clone(),
        route: request.route,
        user_agent: request.user_agent.clone(),
        status: a.status,
        error: Some(a.error.clone()),
        call: request.call.clone(),
        head: a.took,
        total: a.took,
        served: Some(served_by(a)),
        ..Observation::default()
    };
    // `submit` counts a request out of flight
    observer.metrics().in_flight.fetch_add(1, Ordering::Relaxed);
    observer.submit(obs);
}

/// Wraps the response body so the record is submitted when it ends (or the client leaves).
pub(crate) fn attach(
    observer: &Arc<Observer>,
    arrival: Arrival,
    ctx: &RequestContext,
    served: Option<ServedNote>,
    mut response: Response<Body>,
) -> Response<Body> {
    // (encoded straight into a buffer: `to_string` would go through the formatting machinery)
    let mut buf = [0u8; 36];
    let id = ctx.id.hyphenated().encode_lower(&mut buf).to_owned();
    if let Some(v) = arrival
        .log_id
        .clone()
        .or_else(|| HeaderValue::from_str(&id).ok())
    {
        response.headers_mut().insert(LOG_ID.clone(), v);
    }
    let call = response.extensions_mut().remove::<CallNote>();
    let api_key_id = response
        .extensions_mut()
        .remove::<crate::guard::KeyNote>()
        .map(|k| k.0);
    let error = response
        .extensions()
        .get::<ErrorNote>()
        .map(|e| e.0.clone());
    let head_cap = observer.payload_cap().max(64 * 1024);
    let mut attempts = ctx.attempts.take();
    // nothing answered: the last attempt's error is the answer, and says who gave it
    let served = served.or_else(|| {
        let last = attempts.pop_if(|a| a.status == response.status().as_u16())?;
        Some(served_by(last))
    });
    let observation = Observation {
        id,
        api_key_id,
        received_ms: ctx.received_ms,
        method: arrival.method.as_str().to_owned(),
        path: arrival.path,
        route: arrival.route,
        user_agent: arrival.user_agent,
        traceparent: arrival.traceparent,
        status: response.status().as_u16(),
        error,
        call,
        served,
        head: ctx.received.elapsed(),
        ..Observation::default()
    };
    for attempt in attempts {
        submit_attempt(observer, &observation, attempt);
    }
    let observer = observer.clone();
    let received = ctx.received;
    response.map(|body| {
        Body::new(ObservedBody::new(
            body,
            observation,
            observer,
            received,
            head_cap,
        ))
    })
}
