//! Errors rendered in the caller's dialect (OpenAI's `{"error": {...}}` for now).

use axum::body::Body;
use axum::response::Response;
use http::header::{HeaderValue, CONNECTION, CONTENT_TYPE};
use http::StatusCode;
use switchyard_gateway::GatewayError;
use switchyard_protocol::openai::ErrorBody;
use switchyard_protocol::{anthropic, Dialect};

/// The message, kept on the response so the access log can say why a request failed.
#[derive(Clone, Debug)]
pub struct ErrorNote(pub String);

/// Renders in the OpenAI dialect (the default for routes that are not dialect-specific).
pub fn render(err: &GatewayError) -> Response {
    render_in(Dialect::OpenAi, err)
}

/// Renders in the caller's dialect.
pub fn render_in(dialect: Dialect, err: &GatewayError) -> Response {
    let json = match dialect {
        Dialect::Anthropic => anthropic::client::error_body(err.status.as_u16(), &err.message)
            .to_string()
            .into_bytes(),
        // OpenAI's shape for OpenAI clients (the only other client dialect).
        _ => ErrorBody::new(
            err.message.clone(),
            &err.kind,
            err.param.as_deref(),
            err.code.as_deref(),
        )
        .to_json(),
    };
    let mut response = Response::new(Body::from(json));
    *response.status_mut() = err.status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if err.status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the body is never read, so the connection cannot be reused.
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
    for (name, value) in &err.headers {
        headers.insert(name.clone(), value.clone());
    }
    response
        .extensions_mut()
        .insert(ErrorNote(err.message.clone()));
    response
}
