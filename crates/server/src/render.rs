//! Errors rendered in the caller's dialect: OpenAI's `{"error": {...}}`, Anthropic's
//! `{"type": "error", ...}`, or Cloudflare's `{result, success: false, errors, messages}` envelope
//! on Workers AI's paths.

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

/// The error shape a path's clients expect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    OpenAi,
    Anthropic,
    /// Cloudflare's REST envelope (Workers AI's `/ai/run`, `/ai/models/…`, `/client/v4/…`).
    Cloudflare,
}

impl Shape {
    /// Errors on `path`: Anthropic's on `/v1/messages…`, Cloudflare's envelope on Workers AI's
    /// paths (but OpenAI's on its OpenAI-compatible `…/ai/v1/…`), OpenAI's elsewhere.
    pub fn of(path: &str) -> Shape {
        if path.starts_with("/v1/messages") {
            return Shape::Anthropic;
        }
        let cloudflare = path.starts_with("/ai/")
            || (path.starts_with("/client/v4/") && !is_openai_compatible(path));
        if cloudflare {
            Shape::Cloudflare
        } else {
            Shape::OpenAi
        }
    }
}

/// `/client/v4/accounts/{id}/ai/v1/…`: Workers AI's OpenAI-compatible endpoints.
fn is_openai_compatible(path: &str) -> bool {
    let mut segments = path.trim_matches('/').split('/');
    // client / v4 / accounts / {id} / ai / v1 / …
    matches!((segments.nth(4), segments.next()), (Some("ai"), Some("v1")))
}

/// Renders in the shape `path`'s clients expect.
pub fn render_for(path: &str, err: &GatewayError) -> Response {
    render_shape(Shape::of(path), err)
}

/// Renders in the caller's dialect.
pub fn render_in(dialect: Dialect, err: &GatewayError) -> Response {
    match dialect {
        Dialect::Anthropic => render_shape(Shape::Anthropic, err),
        _ => render_shape(Shape::OpenAi, err),
    }
}

/// Renders in `shape`.
pub fn render_shape(shape: Shape, err: &GatewayError) -> Response {
    let json = match shape {
        Shape::Anthropic => anthropic::client::error_body(err.status.as_u16(), &err.message)
            .to_string()
            .into_bytes(),
        Shape::Cloudflare => switchyard_protocol::workers_ai::client::error_envelope(
            err.status.as_u16(),
            &err.message,
        )
        .to_string()
        .into_bytes(),
        Shape::OpenAi => ErrorBody::new(
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
