//! The part every API handler shares, whatever its dialect.

use axum::extract::Request;
use axum::response::Response;
use http::header::HeaderName;
use http::HeaderMap;
use switchyard_gateway::observe::controls::LogControls;
use switchyard_gateway::observe::CallNote;
use switchyard_gateway::{ApiRequest, CacheControls, ClientApi, RequestContext, RetryControls};

use crate::body::read_body;
use crate::edge::respond;
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
    let key = crate::guard::key_of(&request);
    let forward = forwarded_headers(api, request.headers());
    let byok = match switchyard_gateway::control::vault::alias_of(request.headers()) {
        Ok(alias) => alias,
        Err(e) => return with_note(&ctx, render_in(dialect, &e), CallNote::default()),
    };
    // dynamic routes' conditions may read any header; otherwise none is kept
    let headers = if state.gateway.has_dynamic_routes() {
        request.headers().clone()
    } else {
        HeaderMap::new()
    };
    let mut note = CallNote {
        api: Some(api),
        collect_payload: state.collect_payloads,
        ..CallNote::default()
    };
    let controls = CacheControls::from_headers(request.headers()).and_then(|cache| {
        Ok((
            cache,
            LogControls::from_headers(request.headers())?,
            RetryControls::from_headers(request.headers())?,
        ))
    });
    let (cache, retry, metadata) = match controls {
        Ok((cache, log, retry)) => {
            note.metadata = log.metadata;
            note.custom_cost = log.custom_cost;
            note.collect_payload = log.collect_payload.unwrap_or(state.collect_payloads);
            (cache, retry, log.fields)
        }
        Err(e) => return with_note(&ctx, render_in(dialect, &e), note),
    };
    let body = match read_body(request, state.max_body_bytes, state.body_timeout).await {
        Ok(body) => body,
        Err(e) => return with_note(&ctx, render_in(dialect, &e), note),
    };
    // an upload's bytes are audio, not text a log row can show
    if !api.is_speech() {
        note.request_body = Some(body.clone());
    }
    let request = ApiRequest {
        api,
        forward,
        cache,
        body,
        key,
        retry,
        metadata,
        headers,
        byok,
    };
    let response = match state.gateway.handle(&ctx, request).await {
        Ok(reply) => respond(&ctx, reply),
        Err(e) => render_in(dialect, &e),
    };
    with_note(&ctx, response, note)
}

/// Notes what the handler knows in the request's context, for its record.
pub(crate) fn with_note(ctx: &RequestContext, response: Response, note: CallNote) -> Response {
    ctx.note_call(note);
    response
}

/// Client headers a same-dialect provider should see: Anthropic's version and beta flags on the
/// Messages API, an upload's content type (its boundary). Nothing else from the client reaches
/// a provider.
fn forwarded_headers(api: ClientApi, headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::new();
    // an upload goes on with its boundary
    if api.is_speech() {
        if let Some(v) = headers.get(http::header::CONTENT_TYPE) {
            out.insert(http::header::CONTENT_TYPE, v.clone());
        }
    }
    if matches!(api, ClientApi::Messages | ClientApi::CountTokens) {
        for name in ["anthropic-version", "anthropic-beta"] {
            for value in headers.get_all(name) {
                out.append(HeaderName::from_static(name), value.clone());
            }
        }
    }
    out
}
