//! The Anthropic dialect: `POST /v1/messages` and `POST /v1/messages/count_tokens`.

use axum::extract::{Request, State};
use axum::response::Response;
use axum::Extension;
use switchyard_gateway::{ClientApi, RequestContext};

use super::call::call;
use crate::AppState;

pub async fn messages(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    call(state, ctx, ClientApi::Messages, request).await
}

pub async fn count_tokens(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    request: Request,
) -> Response {
    call(state, ctx, ClientApi::CountTokens, request).await
}
