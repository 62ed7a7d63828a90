//! Cloudflare Workers AI's native API, `POST /client/v4/accounts/{account}/ai/run/{model}`:
//! the `{result, success, errors, messages}` envelope, its SSE stream, `{text} → {shape, data}`
//! embeddings (models whose name contains `bge` or `embedding`), bge-reranker's `{query,
//! contexts}` → `{response: [{id, score}]}`, and text-to-image runs: the PNG itself
//! (`stable-diffusion` models) or `{image: base64}` (`flux`).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{json, Value};

use super::{behaviour, record, Behaviour, MockState};

fn envelope(result: Value) -> Value {
    json!({"result": result, "success": true, "errors": [], "messages": []})
}

pub(super) async fn run(
    State(state): State<Arc<MockState>>,
    model: String,
    request: Request,
) -> Response {
    let recorded = record(&state, request).await;
    if !recorded
        .header("authorization")
        .is_some_and(|a| a.starts_with("Bearer "))
    {
        let body = json!({"result": null, "success": false, "errors": [{"code": 10000, "message": "Authentication error"}], "messages": []});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    if let Behaviour::Status(code) = behaviour(model.rsplit('/').next().unwrap_or_default()) {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"result": null, "success": false, "errors": [{"code": 5006, "message": "AiError: Bad input: must have required property 'messages'"}], "messages": []});
        return (status, axum::Json(body)).into_response();
    }
    let body = recorded.json();
    if let Some(contexts) = body["contexts"].as_array() {
        // the later contexts score higher, so the order is known
        let n = contexts.len();
        let top = body["top_k"].as_u64().map_or(n, |k| k as usize);
        let scored: Vec<Value> = (0..n)
            .rev()
            .take(top)
            .map(|i| json!({"id": i, "score": (i + 1) as f64 / n as f64}))
            .collect();
        return axum::Json(envelope(json!({"response": scored}))).into_response();
    }
    if model.contains("whisper") {
        // whisper and whisper-tiny-en take bytes; large-v3-turbo base64 and answers more
        return match &body["audio"] {
            Value::Array(bytes) if !bytes.is_empty() => axum::Json(envelope(json!({
                "text": "Hello from mock whisper.", "word_count": 4,
                "vtt": "WEBVTT\n\n00:00.000 --> 00:01.500\nHello from mock whisper.\n\n",
            }))),
            Value::String(b64) if !b64.is_empty() => {
                let text = if body["task"] == "translate" { "Hello, translated." } else { "Hola desde el simulacro." };
                axum::Json(envelope(json!({
                    "transcription_info": {"language": "es", "language_probability": 0.98,
                                           "duration": 2.4, "duration_after_vad": 2.4},
                    "text": text, "word_count": 3,
                    "segments": [{"start": 0.0, "end": 2.4, "text": text, "temperature": 0.0,
                                  "avg_logprob": -0.2, "compression_ratio": 1.0, "no_speech_prob": 0.01, "words": []}],
                    "vtt": "WEBVTT\n\n",
                })))
            }
            _ => {
                let e = json!({"result": null, "success": false, "errors": [{"code": 5006, "message": "AiError: Bad input: must have required property 'audio'"}], "messages": []});
                return (StatusCode::BAD_REQUEST, axum::Json(e)).into_response();
            }
        }
        .into_response();
    }
    if model.contains("stable-diffusion") {
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(super::speech::TINY_PNG_B64)
            .unwrap_or_default();
        return ([("content-type", "image/png")], png).into_response();
    }
    if model.contains("flux") {
        return axum::Json(envelope(json!({"image": super::speech::TINY_PNG_B64}))).into_response();
    }
    if model.contains("bge") || model.contains("embedding") {
        let n = body["text"].as_array().map_or(1, Vec::len);
        let data: Vec<Value> = (0..n).map(|i| json!([i as f64, 0.75, -0.75])).collect();
        return axum::Json(envelope(
            json!({"shape": [n, 3], "data": data, "pooling": "mean"}),
        ))
        .into_response();
    }
    let tool = body["tools"][0]["function"]["name"]
        .as_str()
        .map(str::to_owned);
    let usage = json!({"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11});
    if body["stream"].as_bool() != Some(true) {
        let result = match &tool {
            Some(name) => {
                json!({"response": null, "tool_calls": [{"name": name, "arguments": {"city": "Paris"}}], "usage": usage})
            }
            None => json!({"response": "Hello from mock", "tool_calls": [], "usage": usage}),
        };
        return axum::Json(envelope(result)).into_response();
    }
    let mut frames: Vec<Result<Bytes, std::io::Error>> = ["Hello", " from", " mock"]
        .iter()
        .map(|w| {
            Ok(Bytes::from(format!(
                "data: {}\n\n",
                json!({"response": w, "p": "abcdef"})
            )))
        })
        .collect();
    frames.push(Ok(Bytes::from(format!(
        "data: {}\n\n",
        json!({"response": "", "usage": usage})
    ))));
    frames.push(Ok(Bytes::from_static(b"data: [DONE]\n\n")));
    Response::builder()
        .header("content-type", "text/event-stream")
        .body(Body::from_stream(futures_util::stream::iter(frames)))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
