//! Who may come in: the admin token on `/api/*` and `/metrics`, a gateway key (`sy-…`) on API
//! routes. Runs as a layer in front of every route, so no handler can forget it.
//!
//! A gateway key may come in `cf-aig-authorization`, `Authorization: Bearer` or `x-api-key` (what
//! the Anthropic SDKs send); only values starting `sy-` count, so a provider key a client sends on
//! passthrough routes is never mistaken for one (and is never forwarded either). A presented key
//! must be valid even when keys are optional.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::{HeaderName, AUTHORIZATION};
use http::HeaderMap;
use switchyard_gateway::control::{same_secret, ApiKey};
use switchyard_gateway::{GatewayError, RequestContext};
use switchyard_protocol::Dialect;

use crate::render::{render_in, render_shape, Shape};
use crate::AppState;

static CF_AIG_AUTHORIZATION: HeaderName = HeaderName::from_static("cf-aig-authorization");
static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

fn bearer(value: &str) -> &str {
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .unwrap_or(value)
        .trim()
}

/// The gateway key presented, if any.
fn presented_key(headers: &HeaderMap) -> Option<&str> {
    [&CF_AIG_AUTHORIZATION, &AUTHORIZATION, &X_API_KEY]
        .into_iter()
        .filter_map(|h| headers.get(h)?.to_str().ok())
        .map(bearer)
        .find(|v| v.starts_with(switchyard_gateway::control::keys::PREFIX))
}

pub async fn check(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if path == "/healthz" || path == "/readyz" {
        return next.run(request).await;
    }
    if path == "/metrics" || path == "/api" || path.starts_with("/api/") {
        if let Some(token) = &state.admin_token {
            let given = request
                .headers()
                .get(AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(bearer);
            if !given.is_some_and(|g| same_secret(g, token.expose())) {
                return render_in(
                    Dialect::OpenAi,
                    &GatewayError::unauthorized(
                        "the admin API needs `Authorization: Bearer <admin token>`".into(),
                    ),
                );
            }
        }
        return next.run(request).await;
    }
    let shape = Shape::of(path);
    let key = match (presented_key(request.headers()), &state.keys) {
        (Some(key), Some(keys)) => match keys.authenticate(key).await {
            Ok(key) => Some(key),
            Err(e) => return render_shape(shape, &e),
        },
        (Some(_), None) => {
            return render_shape(
                shape,
                &GatewayError::unauthorized("this gateway has no API keys".into()),
            )
        }
        (None, _) if state.auth_required => {
            return render_shape(
                shape,
                &GatewayError::unauthorized(
                    "a gateway API key is required: `Authorization: Bearer sy-…` (or `cf-aig-authorization`, or `x-api-key`)"
                        .into(),
                ),
            )
        }
        (None, _) => None,
    };
    if let Some(key) = key {
        // the request log names the key
        if let Some(ctx) = request.extensions().get::<RequestContext>() {
            ctx.note_key(key.id().to_owned());
        }
        request.extensions_mut().insert(key);
    }
    next.run(request).await
}

/// The key a handler's request came with.
pub fn key_of(request: &Request) -> Option<ApiKey> {
    request.extensions().get::<ApiKey>().cloned()
}
