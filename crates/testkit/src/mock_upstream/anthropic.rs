//! Anthropic Messages API (`POST /v1/messages`), shaped like the documentation's examples:
//! authentication by `x-api-key` + `anthropic-version`, JSON answers with content blocks, and the
//! streaming event grammar (message_start, content_block_*, ping, message_delta, message_stop).
//! Steered like the OpenAI side: `status-NNN`, `delay-MS`, `hang`, `error-stream`, `broken-stream`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{json, Value};

use super::faults::event_body;
use super::{behaviour, record, Behaviour, CancelGuard, MockState};

fn error(status: u16, kind: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    (status, axum::Json(body)).into_response()
}

fn status_error(code: u16) -> Response {
    match code {
        401 => error(401, "authentication_error", "invalid x-api-key"),
        429 => error(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your per-minute rate limit",
        ),
        529 => error(529, "overloaded_error", "Overloaded"),
        400..=499 => error(
            code,
            "invalid_request_error",
            "messages: roles must alternate between \"user\" and \"assistant\"",
        ),
        _ => error(code, "api_error", "Internal server error"),
    }
}

fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// The answer: some text, plus a `get_weather` tool call when the request offers tools — unless
/// the conversation ends with the tools' results (then the model answers, as an agent expects).
fn wants_tool(body: &Value) -> bool {
    let offered = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let last = body["messages"].as_array().and_then(|m| m.last());
    let answered = last
        .and_then(|m| m["content"].as_array())
        .is_some_and(|c| !c.is_empty() && c.iter().all(|b| b["type"] == "tool_result"));
    offered && !answered
}

pub(super) async fn messages(State(state): State<Arc<MockState>>, request: Request) -> Response {
    let recorded = record(&state, request).await;
    if recorded.header("x-api-key").is_none() {
        return error(401, "authentication_error", "x-api-key header is required");
    }
    if recorded.header("anthropic-version").is_none() {
        return error(
            400,
            "invalid_request_error",
            "anthropic-version header is required",
        );
    }
    let body = recorded.json();
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    respond(state, model, body).await
}

/// Anthropic models on Vertex AI (`…/publishers/anthropic/models/{model}:rawPredict` and
/// `:streamRawPredict`): OAuth bearer token, `anthropic_version` in the body, no `model` field.
pub(super) async fn vertex(
    State(state): State<Arc<MockState>>,
    model_action: String,
    request: Request,
) -> Response {
    let recorded = record(&state, request).await;
    if recorded.header("authorization") != Some("Bearer ya29.mock-token") {
        return error(
            401,
            "authentication_error",
            "missing or invalid OAuth token",
        );
    }
    let mut body = recorded.json();
    if body["anthropic_version"] != "vertex-2023-10-16" || body.get("model").is_some() {
        return error(
            400,
            "invalid_request_error",
            "anthropic_version must be vertex-2023-10-16 and model must be in the URL",
        );
    }
    let Some((model, action)) = model_action.split_once(':') else {
        return error(404, "not_found_error", "unknown method");
    };
    if (action == "streamRawPredict") != (body["stream"] == true) {
        return error(
            400,
            "invalid_request_error",
            "stream flag does not match the method",
        );
    }
    body["model"] = json!(model);
    respond(state, model.to_owned(), body).await
}

async fn respond(state: Arc<MockState>, model: String, body: Value) -> Response {
    if body["max_tokens"].as_u64().is_none() {
        return error(400, "invalid_request_error", "max_tokens: Field required");
    }
    let mut guard = CancelGuard {
        state: state.clone(),
        armed: true,
    };
    match behaviour(&model) {
        Behaviour::Status(code) => {
            guard.armed = false;
            return status_error(code);
        }
        Behaviour::Delay(ms) => tokio::time::sleep(Duration::from_millis(ms)).await,
        Behaviour::Hang => std::future::pending::<()>().await,
        _ => {}
    }
    guard.armed = false;
    let tool = wants_tool(&body);
    let tool_name = body["tools"][0]["name"]
        .as_str()
        .unwrap_or("get_weather")
        .to_owned();
    if body["stream"].as_bool() != Some(true) {
        let mut content = vec![json!({"type": "text", "text": "Hello from mock"})];
        if tool {
            content.push(json!({"type": "tool_use", "id": "toolu_mock_1", "name": tool_name, "input": {"city": "Paris"}}));
        }
        return axum::Json(json!({
            "id": "msg_mock123", "type": "message", "role": "assistant", "model": model,
            "content": content,
            "stop_reason": if tool { "tool_use" } else { "end_turn" }, "stop_sequence": null,
            "usage": {"input_tokens": 12, "output_tokens": 3, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 4}
        }))
        .into_response();
    }
    let mut events = vec![
        event(
            "message_start",
            &json!({"type": "message_start", "message": {
            "id": "msg_mock123", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 12, "output_tokens": 1}}}),
        ),
        event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", &json!({"type": "ping"})),
    ];
    for word in ["Hello", " from", " mock"] {
        events.push(event("content_block_delta", &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}})));
    }
    events.push(event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    ));
    if tool {
        events.push(event("content_block_start", &json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": "toolu_mock_1", "name": tool_name, "input": {}}})));
        for part in ["{\"city\":", " \"Paris\"}"] {
            events.push(event("content_block_delta", &json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": part}})));
        }
        events.push(event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": 1}),
        ));
    }
    let plan = behaviour(&model);
    if matches!(plan, Behaviour::ErrorStream) {
        events.truncate(4);
        events.push(event("error", &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})));
    } else {
        events.push(event("message_delta", &json!({"type": "message_delta",
            "delta": {"stop_reason": if tool { "tool_use" } else { "end_turn" }, "stop_sequence": null},
            "usage": {"output_tokens": 3}})));
        events.push(event("message_stop", &json!({"type": "message_stop"})));
    }
    if matches!(plan, Behaviour::BrokenStream) {
        events.truncate(4);
    }
    let body = event_body(events, matches!(plan, Behaviour::BrokenStream));
    Response::builder()
        .header("content-type", "text/event-stream")
        .header("request-id", "req_mock_anthropic")
        .body(body)
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `POST /v1/messages/count_tokens`: a rough count (one token per 4 bytes of messages, plus 10).
pub(super) async fn count_tokens(
    State(state): State<Arc<MockState>>,
    request: Request,
) -> Response {
    let recorded = record(&state, request).await;
    if recorded.header("x-api-key").is_none() {
        return error(401, "authentication_error", "x-api-key header is required");
    }
    let body = recorded.json();
    let n = body["messages"].to_string().len() / 4 + 10;
    axum::Json(json!({"input_tokens": n})).into_response()
}
