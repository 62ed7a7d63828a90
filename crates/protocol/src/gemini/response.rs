//! `generateContent` answers → canonical; `batchEmbedContents` → OpenAI embeddings.

use serde_json::{json, Value};

use super::{call_id, stop_reason};
use crate::canonical::{ChatResponse, Part, StopReason, ToolCall, Usage};

pub(crate) fn usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    let thoughts = n("thoughtsTokenCount");
    Usage {
        input: n("promptTokenCount"),
        output: n("candidatesTokenCount") + thoughts,
        cached_input: n("cachedContentTokenCount"),
        reasoning: thoughts,
    }
}

/// Parts of the first candidate → canonical parts (`first_call` numbers the tool calls).
pub(crate) fn parts(candidate: &Value, first_call: usize) -> Vec<Part> {
    let mut out = Vec::new();
    let mut calls = first_call;
    for p in candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(call) = p.get("functionCall") {
            out.push(Part::ToolCall(ToolCall {
                id: call["id"].as_str().map_or_else(
                    || call_id(calls, p["thoughtSignature"].as_str()),
                    str::to_owned,
                ),
                name: call["name"].as_str().unwrap_or_default().to_owned(),
                arguments: call
                    .get("args")
                    .map_or_else(|| "{}".to_owned(), Value::to_string),
            }));
            calls += 1;
        } else if let Some(text) = p["text"].as_str() {
            if p["thought"].as_bool() == Some(true) {
                out.push(Part::Reasoning {
                    text: text.to_owned(),
                    signature: p["thoughtSignature"].as_str().map(str::to_owned),
                });
            } else {
                out.push(Part::Text(text.to_owned()));
            }
        }
    }
    out
}

/// Parses a `GenerateContentResponse`. A blocked prompt (no candidates, `promptFeedback`) is an
/// empty answer stopped by the content filter.
pub fn response_to_canonical(body: &[u8]) -> Option<ChatResponse> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if v.get("candidates").is_none() && v.get("promptFeedback").is_none() {
        return None;
    }
    let candidate = v.pointer("/candidates/0").cloned().unwrap_or(Value::Null);
    let content = parts(&candidate, 0);
    let has_calls = content.iter().any(|p| matches!(p, Part::ToolCall(_)));
    let stop = match candidate["finishReason"].as_str() {
        Some(reason) => stop_reason(reason, has_calls),
        None if v.pointer("/promptFeedback/blockReason").is_some() => StopReason::ContentFilter,
        None => StopReason::Stop,
    };
    Some(ChatResponse {
        id: v["responseId"].as_str().unwrap_or_default().to_owned(),
        model: v["modelVersion"].as_str().unwrap_or_default().to_owned(),
        content,
        stop,
        usage: usage(&v["usageMetadata"]),
    })
}

/// `{"embeddings": [{"values": [...]}]}` → OpenAI's embeddings list.
pub fn embeddings_response(body: &[u8], model: &str) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let data: Vec<Value> = v
        .get("embeddings")?
        .as_array()?
        .iter()
        .enumerate()
        .map(|(i, e)| json!({"object": "embedding", "index": i, "embedding": e["values"]}))
        .collect();
    Some(json!({
        "object": "list", "data": data, "model": model,
        "usage": {"prompt_tokens": 0, "total_tokens": 0}
    }))
}

/// `{"totalTokens": n}` → Anthropic's `{"input_tokens": n}`.
pub fn count_tokens_response(body: &[u8]) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    Some(json!({"input_tokens": v.get("totalTokens")?.as_u64()?}))
}
