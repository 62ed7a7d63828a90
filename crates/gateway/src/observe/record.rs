//! [`finish`]: the one place a request's record is made. Everything the request's context noted
//! on its way (key, call, who answered, failed attempts) and what the edge saw on arrival become
//! an [`Observation`]; each failed attempt is submitted as its own row now, and the answer's row
//! when its body ends (the [`ObservedBody`] that wraps it lives exactly as long as the body, so
//! the limits and budgets its ticket reserved settle then, whether or not the request log is on).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{Observation, ObservedBody, Observer};
use crate::clock::next_id;
use crate::context::RequestContext;
use crate::reply::ServedNote;
use crate::retry::Attempt;

/// What the edge read from a request on arrival.
#[derive(Debug, Clone, Default)]
pub struct Arrival {
    pub method: String,
    pub path: String,
    /// The route template (bounded, for metrics labels).
    pub route: &'static str,
    pub user_agent: Option<String>,
    /// W3C `traceparent`.
    pub traceparent: Option<String>,
}

/// How a request ended, as the edge rendered it.
pub struct Outcome {
    pub status: u16,
    /// The error's message, when the answer is an error.
    pub error: Option<String>,
}

/// Makes the request's record: failed attempts now, the answer's row when `body` ends.
pub fn finish<B: http_body::Body>(
    observer: &Arc<Observer>,
    ctx: &RequestContext,
    arrival: Arrival,
    outcome: Outcome,
    body: B,
) -> ObservedBody<B> {
    let notes = ctx.take_notes();
    let mut attempts = notes.attempts;
    // nothing answered: the last attempt's error is the answer, and says who gave it
    let served = notes.served.or_else(|| {
        let last = attempts.pop_if(|a| a.status == outcome.status)?;
        Some(served_by(last))
    });
    // (encoded straight into a buffer: `to_string` would go through the formatting machinery)
    let mut buf = [0u8; 36];
    let observation = Observation {
        id: ctx.id.hyphenated().encode_lower(&mut buf).to_owned(),
        api_key_id: notes.key_id,
        received_ms: ctx.received_ms,
        method: arrival.method,
        path: arrival.path,
        route: arrival.route,
        user_agent: arrival.user_agent,
        traceparent: arrival.traceparent,
        status: outcome.status,
        error: outcome.error,
        call: notes.call,
        served,
        head: ctx.received.elapsed(),
        ..Observation::default()
    };
    for attempt in attempts {
        submit_attempt(observer, &observation, attempt);
    }
    let head_cap = observer.payload_cap().max(64 * 1024);
    ObservedBody::new(body, observation, observer.clone(), ctx.received, head_cap)
}

fn served_by(a: Attempt) -> ServedNote {
    ServedNote {
        requested_model: Some(a.requested),
        upstream_latency: a.took,
        step: a.step,
        ..ServedNote::new(a.provider, a.model, a.provider_kind)
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
