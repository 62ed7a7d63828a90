//! What happens around every request, whatever its route: a request id and clock, panics caught and
//! turned into a 500, the `cf-aig-request-id` and `server-timing` headers, and one access-log line.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use futures_util::FutureExt;
use http::header::{HeaderName, HeaderValue};
use http::{Request, Response};
use switchyard_gateway::observe::Observer;
use switchyard_gateway::{CacheStatus, GatewayError, Reply, RequestContext};
use tower::Service;

use crate::record;
use crate::render::{render, ErrorNote};

static REQUEST_ID: HeaderName = HeaderName::from_static("cf-aig-request-id");
static SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The HTTP response for a gateway reply. Who answered goes to the request's context, read by
/// the access log, `server-timing` and the record step.
pub fn respond(ctx: &RequestContext, reply: Reply) -> Response<Body> {
    ctx.note_served(reply.served);
    let (parts, body) = reply.response.into_parts();
    Response::from_parts(parts, Body::new(body))
}

/// Runs one request through the router; with an observer, its response body is observed for
/// the request log.
pub async fn handle<B>(
    mut router: Router,
    observer: Option<Arc<Observer>>,
    max_in_flight: usize,
    mut request: Request<B>,
) -> Result<Response<Body>, Infallible>
where
    B: http_body::Body<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let ctx = RequestContext::new();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let mut arrival = record::arrive(observer.as_ref(), &request);
    request.extensions_mut().insert(ctx.clone());

    // past `max_in_flight` API requests (this one counted) the answer is a 503, logged like any
    let over = arrival.is_some()
        && observer.as_ref().is_some_and(|o| {
            o.metrics()
                .in_flight
                .load(std::sync::atomic::Ordering::Relaxed)
                > max_in_flight as i64
        });
    let outcome = if over {
        if let Some(o) = &observer {
            o.metrics()
                .refused_in_flight
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(Ok(render(&GatewayError::overloaded(max_in_flight))))
    } else {
        AssertUnwindSafe(router.call(request.map(Body::new)))
            .catch_unwind()
            .await
    };
    let mut response = match outcome {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(request_id = %ctx.id, %method, path, "handler panicked: {what}");
            render(&GatewayError::internal(format!(
                "internal error while handling request {} (a bug; it has been logged)",
                ctx.id
            )))
        }
    };

    let total = ctx.received.elapsed();
    // the upstream's share of the time, when an upstream answered (not the cache)
    let upstream = ctx.with_served(|s| {
        s.filter(|s| !s.cache.is_some_and(CacheStatus::is_hit))
            .map(|s| s.upstream_latency)
    });
    let mut buf = uuid::Uuid::encode_buffer();
    let id = ctx.id.hyphenated().encode_lower(&mut buf);
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(id) {
        if let Some(arrival) = &mut arrival {
            // the log id is the request id: the same value, shared
            arrival.log_id = Some(value.clone());
        }
        headers.insert(REQUEST_ID.clone(), value);
    }
    if let Ok(value) = HeaderValue::from_str(&server_timing(total, upstream)) {
        headers.insert(SERVER_TIMING.clone(), value);
    }

    let status = response.status().as_u16();
    let error = response
        .extensions()
        .get::<ErrorNote>()
        .map(|e| e.0.as_str());
    // the access log line reads who answered in place (no copies)
    ctx.with_served(|served| match (served, error) {
        (Some(s), _) => match s.cache {
            None => tracing::info!(
                request_id = id, %method, path, status, provider = s.provider, model = s.model,
                stream = s.stream, ms = %ms3(total), upstream_ms = %ms3(s.upstream_latency), "request"
            ),
            Some(cache) => match s.saved_usage {
                Some(saved) => tracing::info!(
                    request_id = id, %method, path, status, provider = s.provider, model = s.model,
                    stream = s.stream, ms = %ms3(total), cache = cache.as_str(),
                    saved_input_tokens = saved.input, saved_output_tokens = saved.output, "request"
                ),
                None => tracing::info!(
                    request_id = id, %method, path, status, provider = s.provider, model = s.model,
                    stream = s.stream, ms = %ms3(total), upstream_ms = %ms3(s.upstream_latency),
                    cache = cache.as_str(), "request"
                ),
            },
        },
        (None, Some(error)) if status >= 500 => {
            tracing::warn!(request_id = id, %method, path, status, ms = %ms3(total), error, "request failed")
        }
        (None, Some(error)) => {
            tracing::info!(request_id = id, %method, path, status, ms = %ms3(total), error, "request rejected")
        }
        (None, None) => {
            tracing::debug!(request_id = id, %method, path, status, ms = %ms3(total), "request")
        }
    });
    if let (Some(observer), Some(mut arrival)) = (&observer, arrival) {
        arrival.seen.method = method.as_str().to_owned();
        arrival.seen.path = path;
        response = record::attach(observer, arrival, &ctx, response);
    }
    Ok(response)
}

/// Milliseconds with microsecond precision (`1.234`), formatted from integers: float formatting
/// showed up in profiles of the hot path.
struct Ms(Duration);

impl std::fmt::Display for Ms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let us = self.0.as_micros();
        write!(f, "{}.{:03}", us / 1000, us % 1000)
    }
}

fn ms3(d: Duration) -> Ms {
    Ms(d)
}

/// `gateway;dur=0.041, upstream;dur=1.203` (milliseconds; W3C Server-Timing). For streams the
/// figures cover the time to the response headers.
fn server_timing(total: Duration, upstream: Option<Duration>) -> String {
    let mut out = String::with_capacity(48);
    match upstream {
        Some(up) => {
            let own = total.saturating_sub(up);
            let _ = write!(out, "gateway;dur={}, upstream;dur={}", Ms(own), Ms(up));
        }
        None => {
            let _ = write!(out, "gateway;dur={}", Ms(total));
        }
    }
    out
}

#[cfg(test)]
mod tests;
