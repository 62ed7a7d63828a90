//! Stored responses (OpenAI's Responses API): `GET` and `DELETE /v1/responses/{id}` and
//! `GET /v1/responses/{id}/input_items`, also under Workers AI's `…/ai/v1/`. A response is the
//! gateway key's that made it: another key gets 404, as for one that does not exist.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::HeaderValue;
use switchyard_gateway::control::ApiKey;
use switchyard_gateway::{GatewayError, ItemsQuery};
use switchyard_protocol::Dialect;

use crate::render::render_in;
use crate::AppState;

type Params = Path<HashMap<String, String>>;

fn id_of(params: &HashMap<String, String>) -> &str {
    params.get("id").map_or("", String::as_str)
}

fn json(answer: Result<Bytes, GatewayError>) -> Response {
    match answer {
        Ok(body) => (
            [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
            body,
        )
            .into_response(),
        Err(e) => render_in(Dialect::OpenAi, &e),
    }
}

/// `GET /v1/responses/{id}` (`responses.retrieve`).
pub async fn retrieve(
    State(state): State<AppState>,
    Path(params): Params,
    key: Option<Extension<ApiKey>>,
) -> Response {
    let caller = key.as_ref().map(|k| k.id());
    json(state.gateway.stored_response(id_of(&params), caller).await)
}

/// `DELETE /v1/responses/{id}` (`responses.delete`).
pub async fn delete(
    State(state): State<AppState>,
    Path(params): Params,
    key: Option<Extension<ApiKey>>,
) -> Response {
    let caller = key.as_ref().map(|k| k.id());
    json(
        state
            .gateway
            .delete_stored_response(id_of(&params), caller)
            .await,
    )
}

/// `GET /v1/responses/{id}/input_items` (`responses.input_items.list`).
pub async fn input_items(
    State(state): State<AppState>,
    Path(params): Params,
    query: Result<Query<ItemsQuery>, axum::extract::rejection::QueryRejection>,
    key: Option<Extension<ApiKey>>,
) -> Response {
    let query = match query {
        Ok(Query(q)) => q,
        Err(e) => {
            return render_in(
                Dialect::OpenAi,
                &GatewayError::bad_query("query", &e.body_text()),
            )
        }
    };
    let caller = key.as_ref().map(|k| k.id());
    json(
        state
            .gateway
            .stored_input_items(id_of(&params), caller, &query)
            .await,
    )
}
