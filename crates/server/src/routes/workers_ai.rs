//! The Workers AI dialect: `POST /ai/run/{model}` with Cloudflare's `{result, success, errors,
//! messages}` envelope, `GET /ai/models/search` and `GET /ai/models/schema?model=`.
//!
//! A run is translated at the edge into the OpenAI request it stands for (text generation →
//! chat completions, or completions for `raw` prompts; embeddings → embeddings), goes through
//! the same pipeline as every other call (auth, limits, cache, logs), and its answer is wrapped
//! back into the envelope — streams included (`data: {"response": "…"}` … `data: [DONE]`).

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::Bytes;
use futures_util::StreamExt;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use serde_json::{json, Map, Value};
use switchyard_gateway::cache::TokenUsage;
use switchyard_gateway::observe::ServedNote;
use switchyard_gateway::usage::UsageSlot;
use switchyard_gateway::{ClientApi, RequestContext};

use super::call::call;
use crate::AppState;

/// What a run asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Embeddings,
}

fn envelope_error(status: StatusCode, message: &str) -> Response {
    let body = json!({"result": null, "success": false,
                      "errors": [{"code": status.as_u16(), "message": message}], "messages": []});
    (status, Json(body)).into_response()
}

/// Workers AI text-generation / embeddings input → (API, OpenAI body, kind).
fn to_openai(model: &str, body: &[u8]) -> Result<(ClientApi, Value, Kind), String> {
    let input: Map<String, Value> = match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => m,
        Ok(_) => return Err("the input must be a JSON object".into()),
        Err(e) => return Err(format!("the input is not valid JSON: {e}")),
    };
    if let Some(text) = input.get("text") {
        let ok = text.is_string()
            || text
                .as_array()
                .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
        if !ok {
            return Err("`text` must be a string or a non-empty array of strings".into());
        }
        let out = json!({"model": model, "input": text});
        return Ok((ClientApi::Embeddings, out, Kind::Embeddings));
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    const PASSED: [&str; 12] = [
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "seed",
        "repetition_penalty",
        "frequency_penalty",
        "presence_penalty",
        "stream",
        "tools",
        "stop",
        "min_p",
    ];
    for key in PASSED {
        if let Some(v) = input.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if let Some(format) = input.get("response_format") {
        // Workers AI: {"type": "json_schema", "json_schema": SCHEMA}
        let schema = format.get("json_schema").cloned().unwrap_or(json!({}));
        let of_type = format.get("type").and_then(Value::as_str).unwrap_or("");
        let v = match of_type {
            "json_schema" => {
                json!({"type": "json_schema", "json_schema": {"name": "output", "schema": schema}})
            }
            "json_object" => json!({"type": "json_object"}),
            _ => return Err("`response_format.type` must be json_object or json_schema".into()),
        };
        out.insert("response_format".into(), v);
    }
    if input.get("stream").and_then(Value::as_bool) == Some(true) {
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    let raw = input.get("raw").and_then(Value::as_bool) == Some(true);
    match (input.get("messages"), input.get("prompt")) {
        (Some(m), None) if m.is_array() => {
            out.insert("messages".into(), m.clone());
            Ok((ClientApi::ChatCompletions, Value::Object(out), Kind::Text))
        }
        (None, Some(Value::String(p))) if raw => {
            out.insert("prompt".into(), json!(p));
            Ok((ClientApi::Completions, Value::Object(out), Kind::Text))
        }
        (None, Some(Value::String(p))) => {
            out.insert("messages".into(), json!([{"role": "user", "content": p}]));
            Ok((ClientApi::ChatCompletions, Value::Object(out), Kind::Text))
        }
        (Some(_), Some(_)) => Err("give `prompt` or `messages`, not both".into()),
        _ => Err(
            "the input needs `prompt` (a string), `messages` (an array) or `text` (embeddings)"
                .into(),
        ),
    }
}

/// `POST /ai/run/{model}`.
pub async fn run(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(model): Path<String>,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let bytes = match crate::body::read_body(
        Request::from_parts(parts.clone(), body),
        state.max_body_bytes,
        state.body_timeout,
    )
    .await
    {
        Ok(b) => b,
        Err(e) => return envelope_error(e.status, &e.message),
    };
    let (api, openai, kind) = match to_openai(&model, &bytes) {
        Ok(x) => x,
        Err(msg) => return envelope_error(StatusCode::BAD_REQUEST, &msg),
    };
    let body = Bytes::from(openai.to_string());
    parts
        .headers
        .insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    let response = call(
        state,
        ctx,
        api,
        Request::from_parts(parts, Body::from(body)),
    )
    .await;
    wrap(response, kind).await
}

/// The OpenAI answer (or error) in the envelope.
async fn wrap(response: Response, kind: Kind) -> Response {
    let (mut parts, body) = response.into_parts();
    let is_sse = parts
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if is_sse && parts.status.is_success() {
        // the log reads this stream's usage from a slot (the events are no longer OpenAI's)
        let slot = match parts.extensions.get_mut::<ServedNote>() {
            Some(note) => note
                .usage_slot
                .get_or_insert_with(UsageSlot::default)
                .clone(),
            None => UsageSlot::default(),
        };
        let stream = sse_to_workers(body, slot);
        return Response::from_parts(parts, Body::from_stream(stream));
    }
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            return envelope_error(
                StatusCode::BAD_GATEWAY,
                &format!("the answer broke off: {e}"),
            )
        }
    };
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    parts.headers.remove(CONTENT_LENGTH);
    if !parts.status.is_success() {
        let message = v
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("the request failed");
        let mut r = envelope_error(parts.status, message);
        for (k, val) in parts
            .headers
            .iter()
            .filter(|(k, _)| k.as_str().starts_with("cf-aig-") || *k == http::header::RETRY_AFTER)
        {
            r.headers_mut().insert(k.clone(), val.clone());
        }
        return r;
    }
    let result = match kind {
        Kind::Embeddings => {
            let data: Vec<Value> = v["data"]
                .as_array()
                .map(|a| a.iter().map(|d| d["embedding"].clone()).collect())
                .unwrap_or_default();
            let dim = data.first().and_then(Value::as_array).map_or(0, Vec::len);
            json!({"shape": [data.len(), dim], "data": data, "pooling": "mean"})
        }
        Kind::Text => {
            let choice = &v["choices"][0];
            let text = choice["message"]["content"]
                .as_str()
                .or_else(|| choice["text"].as_str())
                .unwrap_or("");
            let mut r = json!({"response": text, "usage": v["usage"]});
            if let Some(calls) = choice["message"]["tool_calls"].as_array() {
                let calls: Vec<Value> = calls
                    .iter()
                    .map(|c| {
                        let args = c["function"]["arguments"]
                            .as_str()
                            .and_then(|a| serde_json::from_str(a).ok())
                            .unwrap_or(json!({}));
                        json!({"name": c["function"]["name"], "arguments": args})
                    })
                    .collect();
                r["tool_calls"] = json!(calls);
            }
            r
        }
    };
    let body = json!({"result": result, "success": true, "errors": [], "messages": []});
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// OpenAI chat/completion chunks → `data: {"response": "…"}` events; the usage chunk becomes a
/// last `{"response": "", "usage": …}` event; `[DONE]` passes through.
fn sse_to_workers(
    body: Body,
    usage: UsageSlot,
) -> impl futures_util::Stream<Item = Result<Bytes, axum::Error>> {
    let mut buf: Vec<u8> = Vec::new();
    body.into_data_stream().map(move |chunk| {
        let chunk = chunk?;
        buf.extend_from_slice(&chunk);
        let mut out = Vec::new();
        while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buf.drain(..end + 2).collect();
            let text = String::from_utf8_lossy(&event);
            for line in text.lines() {
                let Some(data) = line.strip_prefix("data:").map(str::trim) else {
                    continue;
                };
                if data == "[DONE]" {
                    out.extend_from_slice(b"data: [DONE]\n\n");
                    continue;
                }
                let Ok(v) = serde_json::from_str::<Value>(data) else {
                    continue;
                };
                let piece = if let Some(err) = v.get("error") {
                    json!({"error": err})
                } else if v.get("usage").is_some_and(|u| !u.is_null())
                    && v["choices"].as_array().is_none_or(Vec::is_empty)
                {
                    let n = |k: &str| v["usage"][k].as_u64().unwrap_or(0);
                    if let Ok(mut slot) = usage.lock() {
                        *slot = Some(TokenUsage {
                            input: n("prompt_tokens"),
                            output: n("completion_tokens"),
                            ..TokenUsage::default()
                        });
                    }
                    json!({"response": "", "usage": v["usage"]})
                } else {
                    let c = &v["choices"][0];
                    let text = c["delta"]["content"]
                        .as_str()
                        .or_else(|| c["text"].as_str())
                        .unwrap_or("");
                    if text.is_empty() {
                        continue;
                    }
                    json!({"response": text})
                };
                out.extend_from_slice(format!("data: {piece}\n\n").as_bytes());
            }
        }
        Ok(Bytes::from(out))
    })
}

#[derive(serde::Deserialize)]
pub struct SearchQuery {
    search: Option<String>,
    task: Option<String>,
}

/// `GET /ai/models/search`: the local models and their names.
pub async fn search(State(state): State<AppState>, Query(q): Query<SearchQuery>) -> Response {
    let status = state.gateway.runtime().status();
    let mut result = Vec::new();
    for m in state.local_models.iter() {
        let task = m.task.workers_ai_name();
        if q.task
            .as_deref()
            .is_some_and(|t| !t.eq_ignore_ascii_case(task))
        {
            continue;
        }
        for name in std::iter::once(&m.name).chain(&m.aliases) {
            if q.search
                .as_deref()
                .is_some_and(|s| !name.to_lowercase().contains(&s.to_lowercase()))
            {
                continue;
            }
            result.push(json!({
                "id": stable_id(name),
                "name": name,
                "description": format!("local model `{}` ({})", m.name, m.task.name()),
                "task": {"name": task},
                "properties": [{"property_id": "context_window", "value": m.context.to_string()},
                               {"property_id": "loaded", "value": status.iter().any(|s| s.name == m.name && s.loaded).to_string()}],
            }));
        }
    }
    Json(json!({"result": result, "success": true, "errors": [], "messages": []})).into_response()
}

#[derive(serde::Deserialize)]
pub struct SchemaQuery {
    model: Option<String>,
}

/// `GET /ai/models/schema?model=`: the input and output JSON schemas of a model's task.
pub async fn schema(State(state): State<AppState>, Query(q): Query<SchemaQuery>) -> Response {
    let Some(model) = q.model else {
        return envelope_error(
            StatusCode::BAD_REQUEST,
            "the `model` query parameter is required",
        );
    };
    let Some(m) = state
        .local_models
        .iter()
        .find(|m| m.name == model || m.aliases.contains(&model))
    else {
        return envelope_error(
            StatusCode::NOT_FOUND,
            &format!("no local model is named `{model}`"),
        );
    };
    let schema = match m.task {
        switchyard_runtime::TaskKind::TextGeneration => json!({
            "input": {"type": "object", "oneOf": [
                {"properties": {"prompt": {"type": "string", "minLength": 1}, "raw": {"type": "boolean", "default": false},
                                "stream": {"type": "boolean", "default": false}, "max_tokens": {"type": "integer"},
                                "temperature": {"type": "number", "minimum": 0, "maximum": 5},
                                "top_p": {"type": "number"}, "top_k": {"type": "integer"}, "seed": {"type": "integer"},
                                "repetition_penalty": {"type": "number"}, "frequency_penalty": {"type": "number"},
                                "presence_penalty": {"type": "number"}, "response_format": {"type": "object"}},
                 "required": ["prompt"]},
                {"properties": {"messages": {"type": "array", "items": {"type": "object",
                                 "properties": {"role": {"type": "string"}, "content": {"type": "string"}},
                                 "required": ["role", "content"]}},
                                "tools": {"type": "array"}, "stream": {"type": "boolean"}, "max_tokens": {"type": "integer"},
                                "temperature": {"type": "number"}},
                 "required": ["messages"]}]},
            "output": {"oneOf": [
                {"type": "object", "properties": {"response": {"type": "string"}, "tool_calls": {"type": "array"},
                                                   "usage": {"type": "object"}}},
                {"type": "string", "format": "binary", "description": "text/event-stream of {\"response\": …} events"}]},
        }),
        switchyard_runtime::TaskKind::Embeddings => json!({
            "input": {"type": "object", "properties": {"text": {"oneOf": [
                {"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]}},
                "required": ["text"]},
            "output": {"type": "object", "properties": {
                "shape": {"type": "array", "items": {"type": "number"}},
                "data": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                "pooling": {"type": "string", "enum": ["mean", "cls"]}}},
        }),
    };
    Json(json!({"result": schema, "success": true, "errors": [], "messages": []})).into_response()
}

/// A UUID-shaped id that stays the same for a name (FNV-1a, 128-bit).
fn stable_id(name: &str) -> String {
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    for b in name.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
    }
    uuid::Uuid::from_u128(h).to_string()
}
