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
use serde_json::{json, Value};
use switchyard_gateway::{ClientApi, RequestContext, TokenUsage, UsageSlot};
use switchyard_protocol::workers_ai::client::{self, RunApi, RunEvent, RunModel};
use switchyard_runtime::TaskKind;

use super::call::call;
use crate::AppState;

fn envelope_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        Json(client::error_envelope(status.as_u16(), message)),
    )
        .into_response()
}

/// The gateway API a run goes through.
fn api_of(run: RunApi) -> ClientApi {
    match run {
        RunApi::Chat => ClientApi::ChatCompletions,
        RunApi::Completion => ClientApi::Completions,
        RunApi::Embeddings => ClientApi::Embeddings,
        RunApi::Rerank => ClientApi::Rerank,
        RunApi::Classify { .. } => ClientApi::Classify,
        RunApi::Image { .. } => ClientApi::Images,
    }
}

/// `POST /client/v4/accounts/{account_id}/ai/run/{model}`: Cloudflare's REST path (the account is
/// Cloudflare's addressing and means nothing here).
pub async fn run_in_account(
    state: State<AppState>,
    ctx: Extension<RequestContext>,
    Path((_account, model)): Path<(String, String)>,
    request: Request,
) -> Response {
    run(state, ctx, Path(model), request).await
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
    // speech models take audio: the raw body, or `audio` in JSON
    match super::workers_speech::audio_of(&parts.headers, &bytes) {
        Ok(Some(audio)) => {
            return super::workers_speech::run(state, ctx, parts, &model, audio).await
        }
        Ok(None) => {}
        Err(msg) => return envelope_error(StatusCode::BAD_REQUEST, &msg),
    }
    let (run, openai) = match client::run_to_openai(&model, &bytes, run_model(&state, &model)) {
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
        ctx.clone(),
        api_of(run),
        Request::from_parts(parts, Body::from(body)),
    )
    .await;
    wrap(&ctx, response, run).await
}

/// What a run's model does where its input alone does not say: a local model's task (FLUX's
/// schema answers images in JSON, Stable Diffusion's as PNG bytes).
fn run_model(state: &AppState, model: &str) -> RunModel {
    let name = model.strip_prefix("local/").unwrap_or(model);
    let Some(m) = state
        .local_models
        .iter()
        .find(|m| m.name == name || m.aliases.iter().any(|a| a == model))
    else {
        return RunModel::Any;
    };
    match m.task {
        TaskKind::TextClassification => RunModel::Classifier,
        TaskKind::TextToImage => RunModel::Image {
            json: model.to_lowercase().contains("flux"),
        },
        _ => RunModel::Any,
    }
}

/// The OpenAI answer (or error) in the envelope.
async fn wrap(ctx: &RequestContext, response: Response, run: RunApi) -> Response {
    let (mut parts, body) = response.into_parts();
    let is_sse = parts
        .headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if is_sse && parts.status.is_success() {
        // the log reads this stream's usage from a slot (the events are no longer OpenAI's)
        let slot = ctx.with_served(|served| match served {
            Some(note) => note
                .usage_slot
                .get_or_insert_with(UsageSlot::default)
                .clone(),
            None => UsageSlot::default(),
        });
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
    // the envelope drops what the answer said it used (embeddings, rerank, classification):
    // the log reads it from the slot
    if let Some(used) = switchyard_gateway::usage_of(api_of(run), false, &bytes) {
        ctx.with_served(|served| {
            if let Some(note) = served {
                let slot = note.usage_slot.get_or_insert_with(UsageSlot::default);
                if let Ok(mut slot) = slot.lock() {
                    *slot = Some(used);
                }
            }
        });
    }
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
    if run == (RunApi::Image { json: false }) {
        return png_answer(parts, &v);
    }
    let body = client::envelope(client::result_from_openai(run, &v));
    Response::from_parts(parts, Body::from(body.to_string()))
}

/// Stable Diffusion's run answer: the PNG itself.
fn png_answer(mut parts: http::response::Parts, answer: &Value) -> Response {
    use base64::Engine as _;
    let png = answer
        .pointer("/data/0/b64_json")
        .and_then(Value::as_str)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok());
    let Some(png) = png else {
        return envelope_error(StatusCode::BAD_GATEWAY, "the model answered no image");
    };
    parts
        .headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("image/png"));
    Response::from_parts(parts, Body::from(png))
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
                let piece = match client::event_from_openai(data) {
                    None => continue,
                    Some(RunEvent::Done) => {
                        out.extend_from_slice(b"data: [DONE]\n\n");
                        continue;
                    }
                    Some(RunEvent::Data(piece)) => piece,
                    Some(RunEvent::Usage(piece, input, output)) => {
                        if let Ok(mut slot) = usage.lock() {
                            *slot = Some(TokenUsage {
                                input,
                                output,
                                ..TokenUsage::default()
                            });
                        }
                        piece
                    }
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
    author: Option<String>,
    /// 1-based; pages past the end are empty (how Cloudflare's SDKs know to stop).
    page: Option<String>,
    per_page: Option<String>,
}

/// A positive whole number from a query parameter, or the message saying why not.
fn positive(name: &str, value: Option<&str>, default: usize) -> Result<usize, String> {
    match value {
        None => Ok(default),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(format!(
                "`{name}` must be a whole number of at least 1, got `{v}`"
            )),
        },
    }
}

/// Who made a model: the second part of `@cf/{author}/…` names, else `local`.
fn author_of(name: &str) -> &str {
    let mut parts = name.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(scope), Some(author), Some(_)) if scope.starts_with('@') => author,
        _ => "local",
    }
}

/// `GET /ai/models/search` (and Cloudflare's `/client/v4/accounts/{id}/ai/models/search`): the
/// local models and their names, filtered by `search`, `task` and `author`, a page at a time.
pub async fn search(State(state): State<AppState>, Query(q): Query<SearchQuery>) -> Response {
    let (page, per_page) = match (
        positive("page", q.page.as_deref(), 1),
        positive("per_page", q.per_page.as_deref(), 50),
    ) {
        (Ok(p), Ok(n)) => (p, n.min(1000)),
        (Err(e), _) | (_, Err(e)) => return envelope_error(StatusCode::BAD_REQUEST, &e),
    };
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
            if q.author
                .as_deref()
                .is_some_and(|a| !a.eq_ignore_ascii_case(author_of(name)))
            {
                continue;
            }
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
    let total = result.len();
    let result: Vec<Value> = result
        .into_iter()
        .skip((page - 1).saturating_mul(per_page))
        .take(per_page)
        .collect();
    let info =
        json!({"page": page, "per_page": per_page, "count": result.len(), "total_count": total});
    Json(json!({"result": result, "result_info": info, "success": true, "errors": [], "messages": []}))
        .into_response()
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
        // Workers AI's Whisper schema: the audio as the raw body, or its bytes as an array
        switchyard_runtime::TaskKind::SpeechRecognition => json!({
            "input": {"oneOf": [
                {"type": "string", "format": "binary"},
                {"type": "object", "properties": {"audio": {"type": "array", "items": {"type": "number"}}},
                 "required": ["audio"]}]},
            "output": {"type": "object", "properties": {
                "text": {"type": "string"}, "word_count": {"type": "number"}},
                "required": ["text"]},
        }),
        // bge-reranker-base's schema
        switchyard_runtime::TaskKind::Rerank => json!({
            "input": {"type": "object", "properties": {
                "query": {"type": "string", "minLength": 1},
                "top_k": {"type": "integer", "minimum": 1},
                "contexts": {"type": "array", "items": {"type": "object",
                    "properties": {"text": {"type": "string", "minLength": 1}}}}},
                "required": ["query", "contexts"]},
            "output": {"type": "object", "properties": {"response": {"type": "array", "items": {
                "type": "object", "properties": {"id": {"type": "integer"}, "score": {"type": "number"}}}}}},
        }),
        // distilbert-sst-2's schema
        switchyard_runtime::TaskKind::TextClassification => json!({
            "input": {"type": "object", "properties": {"text": {"type": "string", "minLength": 1}},
                      "required": ["text"]},
            "output": {"type": "array", "items": {"type": "object", "properties": {
                "score": {"type": "number"}, "label": {"type": "string"}}}},
        }),
        // stable-diffusion-xl-base-1.0's schema (FLUX's answers `{image}` instead)
        switchyard_runtime::TaskKind::TextToImage => json!({
            "input": {"type": "object", "properties": {
                "prompt": {"type": "string", "minLength": 1},
                "negative_prompt": {"type": "string"},
                "height": {"type": "integer", "minimum": 64, "maximum": 2048},
                "width": {"type": "integer", "minimum": 64, "maximum": 2048},
                "num_steps": {"type": "integer", "minimum": 1, "maximum": 100},
                "guidance": {"type": "number", "minimum": 0, "maximum": 30},
                "seed": {"type": "integer"}},
                "required": ["prompt"]},
            "output": if model.to_lowercase().contains("flux") {
                json!({"type": "object", "properties": {"image": {"type": "string", "description": "base64 PNG"}}})
            } else {
                json!({"type": "string", "contentType": "image/png", "format": "binary"})
            },
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
