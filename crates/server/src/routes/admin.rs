//! Admin and observability endpoints: `GET|DELETE /api/cache`, `GET /metrics`.
//! (Admin authentication arrives with API keys; until then run the gateway on loopback.)

use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde::Deserialize;
use switchyard_gateway::GatewayError;
use switchyard_gateway::{parse_key, Purge};

use crate::render::render;
use crate::AppState;

/// `GET /api/cache`: counters and backend figures.
pub async fn cache_stats(State(state): State<AppState>) -> Response {
    Json(state.gateway.cache().stats().await).into_response()
}

/// What `DELETE /api/cache` deletes; no parameter means everything.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeQuery {
    /// A `cf-aig-cache-key` value.
    key: Option<String>,
    /// An entry's `x-switchyard-cache-key` (64 hex digits).
    hash: Option<String>,
    /// A model as clients address it (an alias, `provider/model`) or an upstream model name.
    model: Option<String>,
    /// With `model`: only this provider's entries.
    provider: Option<String>,
}

/// `DELETE /api/cache[?key=…|hash=…|model=…[&provider=…]]` → `{"purged": N}`.
pub async fn cache_purge(
    State(state): State<AppState>,
    query: Result<Query<PurgeQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return bad("expected ?key=…, ?hash=…, ?model=…[&provider=…] or nothing (everything)");
    };
    let cache = state.gateway.cache();
    let purge = match (q.key, q.hash, q.model, q.provider) {
        (None, None, None, None) => Purge::All,
        (Some(key), None, None, None) => Purge::Tag(cache.custom_tag(&key)),
        (None, Some(hash), None, None) => match parse_key(&hash) {
            Some(key) => Purge::Key(key),
            None => return bad("`hash` must be the 64 hex digits of x-switchyard-cache-key"),
        },
        (None, None, Some(model), Some(provider)) => Purge::Model {
            provider: Some(provider),
            model,
        },
        (None, None, Some(model), None) => match state.gateway.router().resolve(&model) {
            Ok(route) => Purge::Model {
                provider: Some(route.provider.name().to_owned()),
                model: route.upstream_model.to_owned(),
            },
            Err(_) => Purge::Model {
                provider: None,
                model,
            },
        },
        _ => return bad("give one of key, hash or model (provider only with model)"),
    };
    match cache.purge(&purge).await {
        Ok(n) => Json(serde_json::json!({ "purged": n })).into_response(),
        Err(e) => {
            let mut err = GatewayError::internal(format!(
                "the {} cache backend could not purge: {e}",
                cache.backend_name()
            ));
            err.status = StatusCode::SERVICE_UNAVAILABLE;
            render(&err)
        }
    }
}

fn bad(message: &str) -> Response {
    render(&GatewayError::bad_body(message.to_owned()))
}

/// `GET /metrics`: Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut out = String::with_capacity(8192);
    if let Some(observer) = &state.observer {
        observer.write_prometheus(&mut out);
    }
    state
        .gateway
        .cache()
        .stats()
        .await
        .write_prometheus(&mut out);
    (
        [(
            http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
        .into_response()
}
