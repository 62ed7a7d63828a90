//! The OpenAI dialect: `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`, `/v1/models`.

use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use switchyard_gateway::{ClientApi, RequestContext};

use super::call::call;
use crate::AppState;

pub async fn chat_completions(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    call(state, ctx, ClientApi::ChatCompletions, request).await
}

pub async fn completions(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    call(state, ctx, ClientApi::Completions, request).await
}

pub async fn embeddings(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    call(state, ctx, ClientApi::Embeddings, request).await
}

pub async fn models(State(state): State<AppState>) -> Response {
    Json(state.gateway.models()).into_response()
}
