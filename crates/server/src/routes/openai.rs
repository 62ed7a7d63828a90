//! The OpenAI dialect: `/v1/chat/completions`, `/v1/completions`, `/v1/embeddings`,
//! `/v1/audio/transcriptions`, `/v1/rerank`, `/v1/models`.

use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use http::HeaderMap;
use switchyard_gateway::{ClientApi, RequestContext};
use switchyard_protocol::openai::ModelEntry;
use switchyard_protocol::Dialect;

use super::call::call;
use crate::render::render_in;
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

/// `POST /v1/responses`: OpenAI's Responses API, answered through each provider's chat API.
pub async fn responses(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    call(state, ctx, ClientApi::Responses, request).await
}

/// `POST /v1/audio/transcriptions`: speech to text (a multipart upload), to a local speech model
/// or an OpenAI-family provider.
pub async fn transcriptions(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    call(state, ctx, ClientApi::Transcriptions, request).await
}

/// `POST /v1/audio/translations`: speech to English text (a multipart upload).
pub async fn translations(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    call(state, ctx, ClientApi::Translations, request).await
}

/// `POST /v1/rerank` (and Cohere's `/v2/rerank`): documents scored against a query, by a local
/// cross-encoder, Cohere, or an OpenAI-compatible server with the API (Jina, vLLM, TEI).
pub async fn rerank(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    call(state, ctx, ClientApi::Rerank, request).await
}

/// `POST /v1/images/generations`: images from a prompt, by a local Stable Diffusion model or an
/// OpenAI-family provider.
pub async fn images(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    call(state, ctx, ClientApi::Images, request).await
}

pub async fn embeddings(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    call(state, ctx, ClientApi::Embeddings, request).await
}

/// `GET /v1/models`: OpenAI's list, or Anthropic's shape for Anthropic's SDKs (they send
/// `anthropic-version`).
pub async fn models(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let list = state.gateway.models().await;
    if headers.contains_key("anthropic-version") {
        return Json(anthropic_list(&list.data)).into_response();
    }
    Json(list).into_response()
}

/// `GET /v1/models/{id}` (`models.retrieve`); ids may hold slashes (`openai/gpt-4o`).
pub async fn model(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let anthropic = headers.contains_key("anthropic-version");
    match state.gateway.model(&id).await {
        Ok(entry) if anthropic => Json(anthropic_model(&entry)).into_response(),
        Ok(entry) => Json(entry).into_response(),
        Err(e) => {
            let dialect = if anthropic {
                Dialect::Anthropic
            } else {
                Dialect::OpenAi
            };
            render_in(dialect, &e)
        }
    }
}

/// A model as Anthropic's Models API describes one.
fn anthropic_model(m: &ModelEntry) -> serde_json::Value {
    serde_json::json!({
        "type": "model",
        "id": m.id,
        "display_name": m.id,
        "created_at": "1970-01-01T00:00:00Z",
    })
}

/// Anthropic's list page: everything in one page.
fn anthropic_list(models: &[ModelEntry]) -> serde_json::Value {
    serde_json::json!({
        "data": models.iter().map(anthropic_model).collect::<Vec<_>>(),
        "has_more": false,
        "first_id": models.first().map(|m| m.id.as_str()),
        "last_id": models.last().map(|m| m.id.as_str()),
    })
}
