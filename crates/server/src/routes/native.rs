//! Provider-native passthrough (`/{provider}/…`) and Cloudflare AI Gateway's URL shapes
//! (`/v1/{account}/{gateway}/{provider}/…` and `/v1/{account}/{gateway}/compat/…`), so Cloudflare
//! users only change the host.

use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::Extension;
use switchyard_gateway::{Call, ClientApi, GatewayError, NativeRequest, RequestContext};

use super::call::call;
use crate::body::read_body;
use crate::edge::respond;
use crate::render::render;
use crate::AppState;

/// `/{provider}/{*rest}`
pub async fn provider(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((provider, rest)): Path<(String, String)>,
    request: Request,
) -> Response {
    forward(state, ctx, provider, rest, request).await
}

/// `/v1/{account}/{gateway}/{provider}/{*rest}`: the account and gateway are Cloudflare's
/// addressing and have no meaning here. Provider `workers-ai` with none configured by that name is
/// Workers AI itself, answered here: `…/workers-ai/@cf/{model}` runs like `/ai/run/{model}`,
/// `…/workers-ai/v1/chat/completions` and `…/v1/embeddings` like the OpenAI endpoints.
pub async fn cloudflare(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((_account, _gateway, provider, rest)): Path<(String, String, String, String)>,
    request: Request,
) -> Response {
    if provider == "workers-ai" && state.gateway.router().provider(&provider).is_none() {
        return match rest.trim_start_matches('/') {
            "v1/chat/completions" => call(state, ctx, ClientApi::ChatCompletions, request).await,
            "v1/embeddings" => call(state, ctx, ClientApi::Embeddings, request).await,
            model => {
                let model = model.to_owned();
                super::workers_ai::run(State(state), Extension(ctx), Path(model), request).await
            }
        };
    }
    forward(state, ctx, provider, rest, request).await
}

/// `/v1/{account}/{gateway}/compat/chat/completions`: the OpenAI-compatible endpoint, models
/// addressed as `provider/model`.
pub async fn compat_chat(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    call(state, ctx, ClientApi::ChatCompletions, request).await
}

/// `/v1/{account}/{gateway}/compat/embeddings`
pub async fn compat_embeddings(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    call(state, ctx, ClientApi::Embeddings, request).await
}

/// What the request log keeps of a provider-native call.
fn native_note(state: &AppState, body: &bytes::Bytes) -> switchyard_gateway::observe::CallNote {
    switchyard_gateway::observe::CallNote {
        api: None,
        request_body: Some(body.clone()),
        collect_payload: state.collect_payloads,
        ..Default::default()
    }
}

/// `POST /universal` and `POST /v1/{account}/{gateway}`: steps tried in order.
pub async fn universal(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    let key = crate::guard::key_of(&request);
    let body = match read_body(request, state.max_body_bytes, state.body_timeout).await {
        Ok(body) => body,
        Err(e) => return render(&e),
    };
    // the steps' `headers` may carry upstream keys: the log keeps them redacted
    let note = native_note(&state, &switchyard_gateway::redacted_for_log(&body));
    let response = match state
        .gateway
        .handle(&ctx, Call::Universal { body, key })
        .await
    {
        Ok(reply) => respond(&ctx, reply),
        Err(e) => render(&e),
    };
    super::call::with_note(&ctx, response, note)
}

async fn forward(
    state: AppState,
    ctx: RequestContext,
    provider: String,
    rest: String,
    request: Request,
) -> Response {
    // the router decoded the path once: an encoded slash or backslash is only visible here
    let raw = request.uri().path().to_ascii_lowercase();
    if raw.contains("%2f") || raw.contains("%5c") {
        return render(&GatewayError::invalid_path(
            request.uri().path(),
            "encoded slashes and backslashes are not allowed",
        ));
    }
    let key = crate::guard::key_of(&request);
    let method = request.method().clone();
    let query = request.uri().query().map(str::to_owned);
    let headers = request.headers().clone();
    let body = match read_body(request, state.max_body_bytes, state.body_timeout).await {
        Ok(body) => body,
        Err(e) => return render(&e),
    };
    let mut note = native_note(&state, &body);
    // what the log reads the answer as, where the gateway can meter it
    note.api = state
        .gateway
        .metered(&provider, &method, &rest, &body)
        .map(|m| m.api);
    let native = NativeRequest {
        provider,
        method,
        rest,
        query,
        headers,
        body,
        key,
        verify: false,
    };
    let response = match state.gateway.handle(&ctx, native).await {
        Ok(reply) => respond(&ctx, reply),
        Err(e) => render(&e),
    };
    super::call::with_note(&ctx, response, note)
}
