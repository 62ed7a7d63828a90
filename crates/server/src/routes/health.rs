//! Liveness, readiness, and the JSON answers for unknown routes.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{Method, StatusCode, Uri};
use switchyard_gateway::GatewayError;

use crate::render::render_for;
use crate::AppState;

/// The process is up and serving.
pub async fn healthz() -> Response {
    json(StatusCode::OK, r#"{"status":"ok"}"#)
}

/// Ready to take traffic: not shutting down.
pub async fn readyz(State(state): State<AppState>) -> Response {
    if state.is_ready() {
        json(StatusCode::OK, r#"{"status":"ready"}"#)
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            r#"{"status":"shutting_down"}"#,
        )
    }
}

pub async fn not_found(method: Method, uri: Uri) -> Response {
    render_for(
        uri.path(),
        &GatewayError::route_not_found(method.as_str(), uri.path()),
    )
}

pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    render_for(
        uri.path(),
        &GatewayError::method_not_allowed(method.as_str(), uri.path()),
    )
}

fn json(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}
