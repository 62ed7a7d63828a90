//! Gateway API keys: `GET|POST /api/keys`, `GET|PATCH|DELETE /api/keys/{id}` (behind the admin
//! token). The key itself appears once, in the answer to `POST`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use switchyard_gateway::control::NewKey;
use switchyard_gateway::GatewayError;

use crate::render::render;
use crate::AppState;

fn no_store() -> Response {
    render(&GatewayError::internal(
        "the key store is not open on this gateway",
    ))
}

fn not_found(id: &str) -> Response {
    render(&GatewayError::route_not_found_with(format!(
        "no API key `{id}`"
    )))
}

/// `POST /api/keys` `{name, models?, expires?}` → 201 with the key, once.
pub async fn create(
    State(state): State<AppState>,
    body: Result<Json<NewKey>, JsonRejection>,
) -> Response {
    let Some(keys) = state.keys.clone() else {
        return no_store();
    };
    let Json(new) = match body {
        Ok(b) => b,
        Err(e) => return render(&GatewayError::bad_body(e.body_text())),
    };
    match keys.create(&new).await {
        Ok((key, record)) => (
            StatusCode::CREATED,
            Json(json!({"key": key, "record": record})),
        )
            .into_response(),
        Err(e) => render(&e),
    }
}

/// `GET /api/keys` → `{"data": [...]}` (never keys or hashes).
pub async fn list(State(state): State<AppState>) -> Response {
    let Some(keys) = state.keys.clone() else {
        return no_store();
    };
    match keys.list().await {
        Ok(list) => Json(json!({ "data": list })).into_response(),
        Err(e) => render(&e),
    }
}

pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(keys) = state.keys.clone() else {
        return no_store();
    };
    match keys.get(&id).await {
        Ok(Some(record)) => Json(record).into_response(),
        Ok(None) => not_found(&id),
        Err(e) => render(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyUpdate {
    disabled: bool,
}

/// `PATCH /api/keys/{id}` `{"disabled": true|false}`.
pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Json<KeyUpdate>, JsonRejection>,
) -> Response {
    let Some(keys) = state.keys.clone() else {
        return no_store();
    };
    let Json(update) = match body {
        Ok(b) => b,
        Err(e) => return render(&GatewayError::bad_body(e.body_text())),
    };
    match keys.set_disabled(&id, update.disabled).await {
        Ok(true) => get(State(state), Path(id)).await,
        Ok(false) => not_found(&id),
        Err(e) => render(&e),
    }
}

pub async fn delete(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Some(keys) = state.keys.clone() else {
        return no_store();
    };
    match keys.delete(&id).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => not_found(&id),
        Err(e) => render(&e),
    }
}
