//! The part every API handler shares, whatever its dialect.

use axum::extract::Request;
use axum::response::Response;
use http::header::HeaderName;
use http::HeaderMap;
use switchyard_gateway::{ApiRequest, CacheControls, ClientApi, RequestContext};

use crate::body::read_body;
use crate::edge::Served;
use crate::render::render_in;
use crate::AppState;

/// Reads the body, runs the gateway, and renders the reply (or error) in `api`'s dialect.
pub(crate) async fn call(
    state: AppState,
    ctx: RequestContext,
    api: ClientApi,
    request: Request,
) -> Response {
    let dialect = api.dialect();
    let forward = forwarded_headers(api, request.headers());
    let cache = match CacheControls::from_headers(request.headers()) {
        Ok(cache) => cache,
        Err(e) => return render_in(dialect, &e),
    };
    let body = match read_body(request, state.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => return render_in(dialect, &e),
    };
    let request = ApiRequest {
        api,
        forward,
        cache,
        body,
    };
    match state.gateway.handle(&ctx, request).await {
        Ok(reply) => Served::respond(reply),
        Err(e) => render_in(dialect, &e),
    }
}

/// Client headers a same-dialect provider should see: Anthropic's version and beta flags on the
/// Messages API. Nothing else from the client reaches a provider.
fn forwarded_headers(api: ClientApi, headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    if matches!(api, ClientApi::Messages | ClientApi::CountTokens) {
        for name in ["anthropic-version", "anthropic-beta"] {
            for value in headers.get_all(name) {
                out.append(HeaderName::from_static(name), value.clone());
            }
        }
    }
    out
}
