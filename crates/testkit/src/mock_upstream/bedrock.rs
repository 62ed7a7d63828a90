//! AWS Bedrock Converse (`/model/{id}/converse`) and ConverseStream (`/model/{id}/converse-stream`,
//! binary event-stream frames). Requests must carry a SigV4 `authorization` for the `bedrock`
//! service (or a Bedrock API key as a bearer token).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;
use switchyard_protocol::bedrock::eventstream;

use super::{behaviour, record, Behaviour, MockState};

fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"message": message}))).into_response()
}

pub(super) async fn model(
    State(state): State<Arc<MockState>>,
    Path((model, action)): Path<(String, String)>,
    request: Request,
) -> Response {
    let recorded = record(&state, request).await;
    let auth = recorded
        .header("authorization")
        .unwrap_or_default()
        .to_owned();
    let sigv4 = auth.starts_with("AWS4-HMAC-SHA256 Credential=")
        && auth.contains("/bedrock/aws4_request")
        && auth.contains("Signature=")
        && recorded.header("x-amz-date").is_some();
    if !sigv4 && !auth.starts_with("Bearer ") {
        return error(StatusCode::FORBIDDEN, "Missing Authentication Token");
    }
    if let Behaviour::Status(code) = behaviour(&model) {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return error(status, "The provided model identifier is invalid.");
    }
    let body = recorded.json();
    let tool = body
        .pointer("/toolConfig/tools/0/toolSpec/name")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    match action.as_str() {
        "invoke" if model.contains("titan-embed") => {
            axum::Json(json!({"embedding": [0.5, -0.5, 0.125], "inputTextTokenCount": 3}))
                .into_response()
        }
        "invoke" => {
            let n = body["texts"].as_array().map_or(0, Vec::len);
            let vectors: Vec<serde_json::Value> = (0..n).map(|i| json!([i as f64, 1.0])).collect();
            axum::Json(json!({"embeddings": vectors, "id": "e1", "response_type": "embeddings_floats", "texts": body["texts"]})).into_response()
        }
        "converse" => {
            let content = match &tool {
                Some(name) => {
                    json!([{"toolUse": {"toolUseId": "tooluse_mock", "name": name, "input": {"city": "Paris"}}}])
                }
                None => json!([{"text": "Hello from mock"}]),
            };
            axum::Json(json!({
                "output": {"message": {"role": "assistant", "content": content}},
                "stopReason": if tool.is_some() { "tool_use" } else { "end_turn" },
                "usage": {"inputTokens": 11, "outputTokens": 3, "totalTokens": 14},
                "metrics": {"latencyMs": 42}
            }))
            .into_response()
        }
        "converse-stream" => {
            let mut events = vec![("messageStart", json!({"role": "assistant"}))];
            match &tool {
                Some(name) => {
                    events.push(("contentBlockStart", json!({"contentBlockIndex": 0, "start": {"toolUse": {"toolUseId": "tooluse_mock", "name": name}}})));
                    for part in ["{\"city\":", "\"Paris\"}"] {
                        events.push((
                            "contentBlockDelta",
                            json!({"contentBlockIndex": 0, "delta": {"toolUse": {"input": part}}}),
                        ));
                    }
                    events.push(("contentBlockStop", json!({"contentBlockIndex": 0})));
                    events.push(("messageStop", json!({"stopReason": "tool_use"})));
                }
                None => {
                    for word in ["Hello", " from", " mock"] {
                        events.push((
                            "contentBlockDelta",
                            json!({"contentBlockIndex": 0, "delta": {"text": word}}),
                        ));
                    }
                    events.push(("contentBlockStop", json!({"contentBlockIndex": 0})));
                    events.push(("messageStop", json!({"stopReason": "end_turn"})));
                }
            }
            events.push(("metadata", json!({"usage": {"inputTokens": 11, "outputTokens": 3, "totalTokens": 14}, "metrics": {"latencyMs": 42}})));
            let frames: Vec<Result<Bytes, std::io::Error>> = events
                .iter()
                .map(|(name, payload)| {
                    Ok(Bytes::from(eventstream::encode(
                        name,
                        payload.to_string().as_bytes(),
                    )))
                })
                .collect();
            Response::builder()
                .header("content-type", "application/vnd.amazon.eventstream")
                .body(Body::from_stream(futures_util::stream::iter(frames)))
                .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
        }
        _ => error(StatusCode::NOT_FOUND, "unknown operation"),
    }
}
