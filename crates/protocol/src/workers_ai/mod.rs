//! Cloudflare Workers AI's native REST API (`POST /ai/run/{model}`) as an upstream: the
//! `{result, success, errors, messages}` envelope, its SSE stream (`data: {"response": "…"}` then
//! `[DONE]`), and embeddings (`{text} → {shape, data}`). [`client`]: the same dialect spoken by
//! clients of this gateway (`/ai/run/{model}` served here).

pub mod client;

use serde_json::{json, Map, Value};

use crate::canonical::{
    ChatRequest, ChatResponse, Part, Role, StopReason, StreamEvent, ToolCall, Unsupported, Usage,
};
use crate::sse;

const PROVIDER: &str = "workers-ai-run";

fn unsupported(feature: &str) -> Unsupported {
    Unsupported {
        feature: feature.to_owned(),
        provider: PROVIDER,
    }
}

/// Canonical → `/ai/run/{model}` text-generation input.
pub fn request_from_canonical(req: &ChatRequest) -> Result<Value, Unsupported> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n > 1"));
    }
    if req.stream && !req.tools.is_empty() {
        // The native API streams text only; tool calls come back only in whole answers.
        return Err(unsupported(
            "tools with stream (send the request without stream)",
        ));
    }
    let mut messages: Vec<Value> = req
        .system
        .iter()
        .map(|s| json!({"role": "system", "content": s}))
        .collect();
    for m in &req.messages {
        let mut text = String::new();
        let mut calls = Vec::new();
        for p in &m.content {
            match p {
                Part::Text(t) => text.push_str(t),
                Part::Image(_) => return Err(unsupported("images")),
                Part::ToolCall(c) => calls.push(json!({"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}})),
                Part::ToolResult { call_id, content, .. } => {
                    messages.push(json!({"role": "tool", "tool_call_id": call_id, "content": content}));
                }
                Part::Reasoning { .. } => {}
            }
        }
        let role = match m.role {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => continue,
        };
        let mut msg = json!({"role": role, "content": text});
        if !calls.is_empty() {
            msg["tool_calls"] = Value::Array(calls);
        }
        messages.push(msg);
    }
    let mut body = Map::new();
    body.insert("messages".into(), Value::Array(messages));
    crate::openai::upstream::put_sampling(&mut body, req);
    if !req.tools.is_empty() {
        body.insert("tools".into(), crate::openai::upstream::tools_json(req));
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(Value::Object(body))
}

fn usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input: n("prompt_tokens"),
        output: n("completion_tokens"),
        cached_input: 0,
        reasoning: 0,
    }
}

/// The envelope's `result` → canonical.
pub fn response_to_canonical(body: &[u8]) -> Option<ChatResponse> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if v["success"] == false {
        return None;
    }
    let result = v.get("result")?;
    let mut content = Vec::new();
    match &result["response"] {
        Value::String(s) if !s.is_empty() => content.push(Part::Text(s.clone())),
        Value::Object(_) | Value::Array(_) => {
            content.push(Part::Text(result["response"].to_string()))
        }
        _ => {}
    }
    for (i, call) in result["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        // Both the legacy `{name, arguments: {…}}` and the OpenAI-style shape occur.
        let function = call.get("function").unwrap_or(call);
        let arguments = match &function["arguments"] {
            Value::String(s) => s.clone(),
            Value::Null => "{}".to_owned(),
            other => other.to_string(),
        };
        content.push(Part::ToolCall(ToolCall {
            id: call["id"]
                .as_str()
                .map_or_else(|| format!("call_{i}"), str::to_owned),
            name: function["name"].as_str().unwrap_or_default().to_owned(),
            arguments,
        }));
    }
    let stop = if content.iter().any(|p| matches!(p, Part::ToolCall(_))) {
        StopReason::ToolCalls
    } else {
        StopReason::Stop
    };
    Some(ChatResponse {
        id: String::new(),
        model: String::new(),
        content,
        stop,
        usage: usage(&result["usage"]),
    })
}

/// `data: {"response": "…"}` events then `data: [DONE]` → canonical.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    usage: Usage,
    done: bool,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn decode(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: String::new(),
                model: String::new(),
            });
        }
        if event.data.trim() == "[DONE]" {
            self.done = true;
            out.push(StreamEvent::Finish(StopReason::Stop));
            out.push(StreamEvent::Usage(self.usage));
            out.push(StreamEvent::Done);
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(&event.data) else {
            return;
        };
        if let Some(text) = v["response"].as_str().filter(|t| !t.is_empty()) {
            out.push(StreamEvent::Text(text.to_owned()));
        }
        if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
            self.usage = usage(u);
        }
    }
}

/// OpenAI embeddings body → `{"text": [...]}`.
pub fn embeddings_request(openai: &[u8]) -> Result<Value, Unsupported> {
    let (texts, _) = crate::openai::embedding_texts(openai)
        .ok_or_else(|| unsupported("token-id inputs (send text)"))?;
    Ok(json!({"text": texts}))
}

/// A rerank body (Cohere / Jina shape) → bge-reranker's input: `{query, contexts: [{text}],
/// top_k}`.
pub fn rerank_request(body: &[u8]) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let contexts: Vec<Value> = v["documents"]
        .as_array()?
        .iter()
        .map(|d| {
            d.as_str()
                .or_else(|| d["text"].as_str())
                .map(|t| json!({"text": t}))
        })
        .collect::<Option<_>>()?;
    let mut out = json!({"query": v["query"].as_str()?, "contexts": contexts});
    if let Some(n) = v["top_n"].as_u64() {
        out["top_k"] = json!(n);
    }
    Some(out)
}

/// `{"result": {"response": [{id, score}]}}` → the rerank answer (`results: [{index,
/// relevance_score}]`, best first).
pub fn rerank_response(body: &[u8], model: &str) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let mut results: Vec<Value> = v
        .pointer("/result/response")?
        .as_array()?
        .iter()
        .map(|r| Some(json!({"index": r["id"].as_u64()?, "relevance_score": r["score"].as_f64()?})))
        .collect::<Option<_>>()?;
    results.sort_by(|a, b| {
        let s = |r: &Value| r["relevance_score"].as_f64().unwrap_or(0.0);
        s(b).total_cmp(&s(a))
    });
    Some(json!({"model": model, "results": results}))
}

/// An OpenAI images body → a text-to-image run's input (`size` → `width`/`height`; the
/// extensions pass as they are). One image a run: `n > 1` is refused.
pub fn image_request(body: &[u8]) -> Result<Value, Unsupported> {
    let v: Value = serde_json::from_slice(body).map_err(|_| unsupported("a non-JSON body"))?;
    if v["n"].as_u64().is_some_and(|n| n > 1) {
        return Err(unsupported("n > 1 (one image a run)"));
    }
    let mut out = json!({"prompt": v["prompt"]});
    if let Some((w, h)) = v["size"].as_str().and_then(|s| s.split_once('x')) {
        if let (Ok(w), Ok(h)) = (w.trim().parse::<u32>(), h.trim().parse::<u32>()) {
            out["width"] = json!(w);
            out["height"] = json!(h);
        }
    }
    for key in [
        "negative_prompt",
        "num_steps",
        "guidance",
        "seed",
        "width",
        "height",
    ] {
        if !v[key].is_null() {
            out[key] = v[key].clone();
        }
    }
    Ok(out)
}

/// A text-to-image run's answer — the PNG itself, or `{"result": {"image": base64}}` — → the
/// OpenAI images answer (`data: [{b64_json}]`).
pub fn image_response(body: &[u8]) -> Option<Value> {
    use base64::Engine as _;
    let b64 = if body.starts_with(b"\x89PNG") || body.starts_with(b"\xff\xd8") {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        let v: Value = serde_json::from_slice(body).ok()?;
        v.pointer("/result/image")?.as_str()?.to_owned()
    };
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Some(json!({"created": created, "data": [{"b64_json": b64}]}))
}

/// An OpenAI transcription upload → a Whisper run's input: `{"audio": base64, task, language,
/// initial_prompt}` for large-v3-turbo, `{"audio": [bytes…]}` for the others (which neither
/// translate nor take a language or prompt: refused by name). The answer comes back as `json`
/// or `verbose_json`.
pub fn speech_request(
    form: &crate::openai::TranscriptionRequest<'_>,
    model: &str,
    translate: bool,
) -> Result<Value, Unsupported> {
    use base64::Engine as _;
    match form.field("response_format").unwrap_or("json") {
        "json" | "verbose_json" => {}
        _ => {
            return Err(unsupported(
                "response_format other than json or verbose_json",
            ))
        }
    }
    if model.contains("large-v3-turbo") {
        let mut v = json!({
            "audio": base64::engine::general_purpose::STANDARD.encode(form.audio()),
            "task": if translate { "translate" } else { "transcribe" },
        });
        if let Some(l) = form.field("language") {
            v["language"] = json!(l);
        }
        if let Some(p) = form.field("prompt") {
            v["initial_prompt"] = json!(p);
        }
        return Ok(v);
    }
    if translate {
        return Err(unsupported(
            "translation (only @cf/openai/whisper-large-v3-turbo translates)",
        ));
    }
    if form.field("language").is_some() || form.field("prompt").is_some() {
        return Err(unsupported(
            "language and prompt (only @cf/openai/whisper-large-v3-turbo takes them)",
        ));
    }
    Ok(json!({"audio": form.audio()}))
}

/// A Whisper run's answer → OpenAI's transcription (`verbose`: with the segments, language and
/// duration large-v3-turbo reports), `usage` in seconds where the run says.
pub fn speech_response(body: &[u8], verbose: bool) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let r = v.get("result")?;
    let text = r["text"].as_str()?;
    let seconds = r
        .pointer("/transcription_info/duration")
        .and_then(Value::as_f64);
    let mut out = json!({"text": text});
    if let Some(s) = seconds {
        out["usage"] = json!({"type": "duration", "seconds": s.ceil()});
    }
    if verbose {
        let segments: Vec<Value> = r["segments"]
            .as_array()
            .map(|a| {
                a.iter()
                    .enumerate()
                    .map(|(id, s)| json!({"id": id, "start": s["start"], "end": s["end"], "text": s["text"]}))
                    .collect()
            })
            .unwrap_or_default();
        out["task"] = json!("transcribe");
        out["language"] = r
            .pointer("/transcription_info/language")
            .cloned()
            .unwrap_or(Value::Null);
        out["duration"] = json!(seconds.unwrap_or(0.0));
        out["segments"] = Value::Array(segments);
    }
    Some(out)
}

/// `{"result": {"shape": [n, d], "data": [[…]]}}` → OpenAI embeddings list.
pub fn embeddings_response(body: &[u8], model: &str) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let data = v.pointer("/result/data")?.as_array()?.clone();
    Some(crate::openai::embeddings_list(data, model, 0))
}
