//! Cohere v2 chat (`POST /v2/chat`), bearer-authenticated, JSON and SSE (`message-start`,
//! `content-start`/`-delta`/`-end`, `tool-call-start`/`-delta`/`-end`, `message-end`).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{json, Value};

use super::{behaviour, record, Behaviour, MockState};

fn usage() -> Value {
    json!({"billed_units": {"input_tokens": 10, "output_tokens": 3}, "tokens": {"input_tokens": 12, "output_tokens": 3}})
}

pub(super) async fn chat(State(state): State<Arc<MockState>>, request: Request) -> Response {
    let recorded = record(&state, request).await;
    if !recorded
        .header("authorization")
        .is_some_and(|a| a.starts_with("Bearer "))
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"message": "no api key supplied"})),
        )
            .into_response();
    }
    let body = recorded.json();
    let model = body["model"].as_str().unwrap_or_default();
    if let Behaviour::Status(code) = behaviour(model) {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return (
            status,
            axum::Json(json!({"message": "invalid request: model not found"})),
        )
            .into_response();
    }
    let tool = body["tools"][0]["function"]["name"]
        .as_str()
        .map(str::to_owned);
    if body["stream"].as_bool() != Some(true) {
        let message = match &tool {
            Some(name) => json!({"role": "assistant", "tool_plan": "I will use the tool.",
                "tool_calls": [{"id": "call_co_1", "type": "function", "function": {"name": name, "arguments": "{\"city\":\"Paris\"}"}}]}),
            None => {
                json!({"role": "assistant", "content": [{"type": "text", "text": "Hello from mock"}]})
            }
        };
        let finish = if tool.is_some() {
            "TOOL_CALL"
        } else {
            "COMPLETE"
        };
        return axum::Json(
            json!({"id": "co-mock", "finish_reason": finish, "message": message, "usage": usage()}),
        )
        .into_response();
    }
    let mut events = vec![(
        "message-start",
        json!({"id": "co-mock", "type": "message-start", "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}}}),
    )];
    match &tool {
        Some(name) => {
            events.push(("tool-call-start", json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {"id": "call_co_1", "type": "function", "function": {"name": name, "arguments": ""}}}}})));
            for part in ["{\"city\":", "\"Paris\"}"] {
                events.push(("tool-call-delta", json!({"type": "tool-call-delta", "index": 0, "delta": {"message": {"tool_calls": {"function": {"arguments": part}}}}})));
            }
            events.push((
                "tool-call-end",
                json!({"type": "tool-call-end", "index": 0}),
            ));
        }
        None => {
            events.push(("content-start", json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}})));
            for word in ["Hello", " from", " mock"] {
                events.push(("content-delta", json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": word}}}})));
            }
            events.push(("content-end", json!({"type": "content-end", "index": 0})));
        }
    }
    let finish = if tool.is_some() {
        "TOOL_CALL"
    } else {
        "COMPLETE"
    };
    events.push((
        "message-end",
        json!({"type": "message-end", "delta": {"finish_reason": finish, "usage": usage()}}),
    ));
    let frames: Vec<Result<Bytes, std::io::Error>> = events
        .into_iter()
        .map(|(name, data)| Ok(Bytes::from(format!("event: {name}\ndata: {data}\n\n"))))
        .collect();
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(futures_util::stream::iter(frames)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// `POST /v2/embed`: one small vector per text; `input_type` is required, as Cohere requires it.
pub(super) async fn embed(State(state): State<Arc<MockState>>, request: Request) -> Response {
    let recorded = record(&state, request).await;
    let body = recorded.json();
    if body["input_type"].as_str().is_none() {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"message": "invalid request: input_type is required"})),
        )
            .into_response();
    }
    let n = body["texts"].as_array().map_or(0, Vec::len);
    let vectors: Vec<Value> = (0..n).map(|i| json!([i as f64, 0.25])).collect();
    axum::Json(json!({"id": "emb-1", "embeddings": {"float": vectors}, "texts": body["texts"], "meta": {"billed_units": {"input_tokens": 2 * n}}})).into_response()
}
