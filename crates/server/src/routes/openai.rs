//! The OpenAI dialect: `/v1/chat/completions`, `/v1/embeddings`, `/v1/models`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use switchyard_gateway::RequestContext;
use switchyard_providers::Endpoint;

use crate::body::read_body;
use crate::edge::Served;
use crate::render::render;
use crate::AppState;

pub async fn chat_completions(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    call(state, ctx, Endpoint::ChatCompletions, request).await
}

pub async fn embeddings(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    call(state, ctx, Endpoint::Embeddings, request).await
}

pub async fn models(State(state): State<AppState>) -> Response {
    Json(state.gateway.models()).into_response()
}

async fn call(state: AppState, ctx: RequestContext, api: Endpoint, request: Request) -> Response {
    let body = match read_body(request, state.max_body_bytes).await {
        Ok(body) => body,
        Err(e) => return render(&e),
    };
    match state.gateway.handle(&ctx, api, body).await {
        Ok(reply) => {
            let served = Served {
                provider: reply.provider,
                model: reply.upstream_model,
                upstream_latency: reply.upstream_latency,
                stream: reply.stream,
            };
            let (parts, body) = reply.response.into_parts();
            let mut response = Response::from_parts(parts, Body::new(body));
            response.extensions_mut().insert(served);
            response
        }
        Err(e) => render(&e),
    }
}
