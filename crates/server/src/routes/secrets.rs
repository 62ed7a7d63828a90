//! Stored provider keys (BYOK): `GET /api/secrets`, `PUT|DELETE /api/secrets/{provider}/{alias}`
//! (behind the admin token). Values go in and are never shown again.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;
use switchyard_gateway::control::Vault;
use switchyard_gateway::GatewayError;

use crate::render::render;
use crate::AppState;

fn vault(state: &AppState) -> Option<&Vault> {
    state.gateway.vault()
}

fn no_vault() -> Response {
    render(&GatewayError::bad_body(
        "stored provider keys need a master key: set SWITCHYARD_MASTER_KEY (64 hex digits) or [auth] master_key".into(),
    ))
}

pub async fn list(State(state): State<AppState>) -> Response {
    let Some(vault) = vault(&state) else {
        return no_vault();
    };
    match vault.list().await {
        Ok(list) => Json(json!({ "data": list })).into_response(),
        Err(e) => render(&e),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretValue {
    value: String,
    /// The gateway keys (ids) that may use it; absent: any caller.
    keys: Option<Vec<String>>,
}

/// `PUT /api/secrets/{provider}/{alias}` `{"value": "sk-…", "keys": ["key_…"]}`: stores or
/// rotates; with `keys`, only requests made with those gateway keys may use it.
pub async fn put(
    State(state): State<AppState>,
    Path((provider, alias)): Path<(String, String)>,
    body: Result<Json<SecretValue>, JsonRejection>,
) -> Response {
    let Some(vault) = vault(&state) else {
        return no_vault();
    };
    if state.gateway.router().provider(&provider).is_none() {
        return render(&GatewayError::route_not_found_with(format!(
            "no provider `{provider}`"
        )));
    }
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return render(&GatewayError::bad_body(e.body_text())),
    };
    match vault
        .set(&provider, &alias, &body.value, body.keys.as_deref())
        .await
    {
        Ok(()) => (
            StatusCode::CREATED,
            Json(json!({"provider": provider, "alias": alias})),
        )
            .into_response(),
        Err(e) => render(&e),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Path((provider, alias)): Path<(String, String)>,
) -> Response {
    let Some(vault) = vault(&state) else {
        return no_vault();
    };
    match vault.delete(&provider, &alias).await {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => render(&GatewayError::route_not_found_with(format!(
            "no key stored as `{alias}` for `{provider}`"
        ))),
        Err(e) => render(&e),
    }
}
