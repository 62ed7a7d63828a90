//! Provider-native passthrough (`/{provider}/…`) and Cloudflare AI Gateway's URL shapes
//! (`/v1/{account}/{gateway}/{provider}/…` and `/v1/{account}/{gateway}/compat/…`), so Cloudflare
//! users only change the host.

use axum::extract::{Path, Request, State};
use axum::response::Response;
use axum::Extension;
use switchyard_gateway::passthrough::Metered;
use switchyard_gateway::{ClientApi, GatewayError, NativeRequest, RequestContext};

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
/// addressing and have no meaning here.
pub async fn cloudflare(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((_account, _gateway, provider, rest)): Path<(String, String, String, String)>,
    request: Request,
) -> Response {
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

/// Gateway-wide, per-key and per-provider limits and budgets hold on provider-native routes too
/// (their bodies are not read, so model-scoped ones cannot apply).
/// A call the gateway can meter (see [`switchyard_gateway::passthrough::metered`]) reserves and
/// is charged like any; one it cannot is refused under a budget.
async fn admit(
    state: &AppState,
    key: Option<&switchyard_gateway::control::ApiKey>,
    provider: &str,
    body: &[u8],
    metered: Option<&Metered>,
    method: &http::Method,
) -> Result<Option<switchyard_gateway::control::Ticket>, switchyard_gateway::GatewayError> {
    let kind = state
        .gateway
        .router()
        .provider(provider)
        .map_or("", |p| p.spec().kind.name());
    state
        .gateway
        .limiter()
        .admit(&switchyard_gateway::control::Admission {
            key,
            metadata: None,
            requested: "",
            provider,
            provider_kind: kind,
            model: metered.map_or("", |m| m.model.as_str()),
            body,
            // reads (listing models, fetching a batch) cost nothing
            metered: metered.is_some() || matches!(*method, http::Method::GET | http::Method::HEAD),
            estimated_tokens: (body.len() / 4) as u64,
            holds: &[],
        })
        .await
}

fn with_ticket(
    mut reply: switchyard_gateway::Reply,
    ticket: Option<switchyard_gateway::control::Ticket>,
) -> switchyard_gateway::Reply {
    reply.ticket = ticket.map(std::sync::Arc::new);
    reply
}

/// Keys limited to some models cannot use provider-native routes: their bodies are not checked.
fn refuse_restricted_key(request: &Request) -> Option<Response> {
    let key = crate::guard::key_of(request)?;
    (!key.0.models.is_empty()).then(|| {
        render(&switchyard_gateway::GatewayError::forbidden(format!(
            "API key `{}` is limited to models ({}); provider-native routes cannot be checked against that list",
            key.0.name,
            key.0.models.join(", ")
        )))
    })
}

/// `POST /universal` and `POST /v1/{account}/{gateway}`: steps tried in order.
pub async fn universal(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    if let Some(refused) = refuse_restricted_key(&request) {
        return refused;
    }
    let key = crate::guard::key_of(&request);
    let body = match read_body(request, state.max_body_bytes, state.body_timeout).await {
        Ok(body) => body,
        Err(e) => return render(&e),
    };
    // the steps' `headers` may carry upstream keys: the log keeps them redacted
    let note = native_note(
        &state,
        &switchyard_gateway::universal::redacted_for_log(&body),
    );
    let response = match switchyard_gateway::universal::parse_steps(&body) {
        Ok(steps) => {
            match admit(&state, key.as_ref(), "", &body, None, &http::Method::POST).await {
                Ok(ticket) => match state
                    .gateway
                    .universal(&ctx, steps, key.as_ref().map(|k| k.id()))
                    .await
                {
                    Ok(reply) => respond(with_ticket(reply, ticket)),
                    Err(e) => render(&e),
                },
                Err(e) => render(&e),
            }
        }
        Err(e) => render(&e),
    };
    super::call::with_note(response, note)
}

async fn forward(
    state: AppState,
    ctx: RequestContext,
    provider: String,
    rest: String,
    request: Request,
) -> Response {
    if let Some(refused) = refuse_restricted_key(&request) {
        return refused;
    }
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
    let metered = state.gateway.metered(&provider, &method, &rest, &body);
    let mut note = native_note(&state, &body);
    note.api = metered.as_ref().map(|m| m.api);
    let ticket = match admit(
        &state,
        key.as_ref(),
        &provider,
        &body,
        metered.as_ref(),
        &method,
    )
    .await
    {
        Ok(ticket) => ticket,
        Err(e) => return super::call::with_note(render(&e), note),
    };
    let native = NativeRequest {
        provider,
        method,
        rest,
        query,
        headers,
        body,
        caller: key.as_ref().map(|k| k.id().to_owned()),
        verify: false,
    };
    let response = match state.gateway.passthrough(&ctx, native).await {
        Ok(reply) => respond(with_ticket(reply, ticket)),
        Err(e) => render(&e),
    };
    super::call::with_note(response, note)
}
