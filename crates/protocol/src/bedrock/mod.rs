//! AWS Bedrock's Converse API (`/model/{id}/converse`, `/converse-stream`) as an upstream: canonical
//! requests out, answers in, and ConverseStream's event-stream messages (see [`eventstream`]) decoded
//! into canonical stream events.

pub mod eventstream;

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::canonical::{
    ChatRequest, ChatResponse, Image, Part, ResponseFormat, Role, StopReason, StreamEvent,
    ToolCall, ToolChoice, Unsupported, Usage,
};
use crate::sse;

const PROVIDER: &str = "bedrock";

fn unsupported(feature: &str) -> Unsupported {
    Unsupported {
        feature: feature.to_owned(),
        provider: PROVIDER,
    }
}

/// Canonical → Converse request body (the model is in the URL).
pub fn request_from_canonical(req: &ChatRequest) -> Result<Value, Unsupported> {
    for (present, feature) in [
        (req.n.is_some_and(|n| n > 1), "n > 1"),
        (req.logprobs, "logprobs"),
        (req.logit_bias, "logit_bias"),
        (req.seed.is_some(), "seed"),
        (req.presence_penalty.is_some(), "presence_penalty"),
        (req.frequency_penalty.is_some(), "frequency_penalty"),
        (
            matches!(
                req.response_format,
                Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })
            ),
            "response_format",
        ),
    ] {
        if present {
            return Err(unsupported(feature));
        }
    }
    let mut messages: Vec<(String, Vec<Value>)> = Vec::new();
    for m in &req.messages {
        let role = match m.role {
            Role::User | Role::Tool => "user",
            Role::Assistant => "assistant",
        };
        let mut blocks = Vec::new();
        for p in &m.content {
            blocks.push(match p {
                Part::Text(t) => json!({"text": t}),
                Part::Image(Image::Base64 { media_type, data }) => {
                    let format = media_type.strip_prefix("image/").unwrap_or(media_type);
                    json!({"image": {"format": format, "source": {"bytes": data}}})
                }
                Part::Image(Image::Url(_)) => {
                    return Err(unsupported(
                        "image URLs (send the image inline as a data: URL)",
                    ))
                }
                Part::ToolCall(c) => {
                    let input: Value =
                        serde_json::from_str(&c.arguments).unwrap_or_else(|_| json!({}));
                    json!({"toolUse": {"toolUseId": c.id, "name": c.name, "input": input}})
                }
                Part::ToolResult {
                    call_id,
                    content,
                    is_error,
                } => json!({"toolResult": {
                    "toolUseId": call_id, "content": [{"text": content}],
                    "status": if *is_error { "error" } else { "success" }
                }}),
                Part::Reasoning { text, signature } => {
                    let mut r = json!({"text": text});
                    if let Some(sig) = signature {
                        r["signature"] = json!(sig);
                    }
                    json!({"reasoningContent": {"reasoningText": r}})
                }
            });
        }
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some((last, existing)) if last == role => existing.extend(blocks),
            _ => messages.push((role.to_owned(), blocks)),
        }
    }
    let mut body = Map::new();
    body.insert(
        "messages".into(),
        Value::Array(
            messages
                .into_iter()
                .map(|(role, content)| json!({"role": role, "content": content}))
                .collect(),
        ),
    );
    if !req.system.is_empty() {
        body.insert(
            "system".into(),
            Value::Array(req.system.iter().map(|t| json!({"text": t})).collect()),
        );
    }
    let mut inference = Map::new();
    if let Some(v) = req.max_tokens {
        inference.insert("maxTokens".into(), json!(v));
    }
    if let Some(v) = req.temperature {
        inference.insert("temperature".into(), json!(v));
    }
    if let Some(v) = req.top_p {
        inference.insert("topP".into(), json!(v));
    }
    if !req.stop.is_empty() {
        inference.insert("stopSequences".into(), json!(req.stop));
    }
    if !inference.is_empty() {
        body.insert("inferenceConfig".into(), Value::Object(inference));
    }
    if !req.tools.is_empty() && req.tool_choice != Some(ToolChoice::None) {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut spec = json!({"name": t.name, "inputSchema": {"json": t.parameters}});
                if let Some(d) = &t.description {
                    spec["description"] = json!(d);
                }
                json!({"toolSpec": spec})
            })
            .collect();
        let mut config = json!({"tools": tools});
        match &req.tool_choice {
            Some(ToolChoice::Required) => config["toolChoice"] = json!({"any": {}}),
            Some(ToolChoice::Specific(name)) => {
                config["toolChoice"] = json!({"tool": {"name": name}})
            }
            Some(ToolChoice::Auto) => config["toolChoice"] = json!({"auto": {}}),
            _ => {}
        }
        body.insert("toolConfig".into(), config);
    }
    let mut extra = Map::new();
    if let Some(k) = req.top_k {
        extra.insert("top_k".into(), json!(k));
    }
    if let Some(r) = &req.reasoning {
        let budget = r.budget_tokens.unwrap_or(4096);
        extra.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    for (k, v) in &req.extra {
        extra.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if !extra.is_empty() {
        body.insert("additionalModelRequestFields".into(), Value::Object(extra));
    }
    Ok(Value::Object(body))
}

pub fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => StopReason::Length,
        "tool_use" => StopReason::ToolCalls,
        "guardrail_intervened" | "content_filtered" => StopReason::ContentFilter,
        _ => StopReason::Stop,
    }
}

fn usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input: n("inputTokens") + n("cacheReadInputTokens") + n("cacheWriteInputTokens"),
        output: n("outputTokens"),
        cached_input: n("cacheReadInputTokens"),
        reasoning: 0,
    }
}

/// A Converse answer → canonical.
pub fn response_to_canonical(body: &[u8]) -> Option<ChatResponse> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let message = v.pointer("/output/message")?;
    let mut content = Vec::new();
    for block in message["content"].as_array().into_iter().flatten() {
        if let Some(t) = block["text"].as_str() {
            content.push(Part::Text(t.to_owned()));
        } else if let Some(tool) = block.get("toolUse") {
            content.push(Part::ToolCall(ToolCall {
                id: tool["toolUseId"].as_str().unwrap_or_default().to_owned(),
                name: tool["name"].as_str().unwrap_or_default().to_owned(),
                arguments: tool
                    .get("input")
                    .map_or_else(|| "{}".to_owned(), Value::to_string),
            }));
        } else if let Some(r) = block.pointer("/reasoningContent/reasoningText") {
            content.push(Part::Reasoning {
                text: r["text"].as_str().unwrap_or_default().to_owned(),
                signature: r["signature"].as_str().map(str::to_owned),
            });
        }
    }
    Some(ChatResponse {
        id: String::new(),
        model: String::new(),
        content,
        stop: stop_reason(v["stopReason"].as_str().unwrap_or("end_turn")),
        usage: usage(&v["usage"]),
    })
}

/// ConverseStream events → canonical. `metadata` (usage) follows `messageStop`, so the answer is
/// complete only after both.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    /// Bedrock content block index → tool call index.
    tools: HashMap<u64, usize>,
    stopped: bool,
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
        let kind = event.event.as_deref().unwrap_or_default();
        if let Some(exception) = kind.strip_prefix("exception:") {
            self.done = true;
            let message = serde_json::from_str::<Value>(&event.data)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_owned))
                .unwrap_or_else(|| event.data.clone());
            out.push(StreamEvent::Error {
                message: format!("bedrock {exception}: {message}"),
            });
            return;
        }
        let Ok(v) = serde_json::from_str::<Value>(&event.data) else {
            return;
        };
        let index = v["contentBlockIndex"].as_u64().unwrap_or(0);
        match kind {
            "messageStart" => out.push(StreamEvent::Start {
                id: String::new(),
                model: String::new(),
            }),
            "contentBlockStart" => {
                if let Some(tool) = v.pointer("/start/toolUse") {
                    let ours = self.tools.len();
                    self.tools.insert(index, ours);
                    out.push(StreamEvent::ToolCallStart {
                        index: ours,
                        id: tool["toolUseId"].as_str().unwrap_or_default().to_owned(),
                        name: tool["name"].as_str().unwrap_or_default().to_owned(),
                    });
                }
            }
            "contentBlockDelta" => {
                let delta = &v["delta"];
                if let Some(t) = delta["text"].as_str() {
                    out.push(StreamEvent::Text(t.to_owned()));
                } else if let Some(input) = delta.pointer("/toolUse/input").and_then(Value::as_str)
                {
                    if let Some(&ours) = self.tools.get(&index) {
                        out.push(StreamEvent::ToolCallArguments {
                            index: ours,
                            delta: input.to_owned(),
                        });
                    }
                } else if let Some(t) = delta
                    .pointer("/reasoningContent/text")
                    .and_then(Value::as_str)
                {
                    out.push(StreamEvent::Reasoning(t.to_owned()));
                }
            }
            "messageStop" => {
                self.stopped = true;
                out.push(StreamEvent::Finish(stop_reason(
                    v["stopReason"].as_str().unwrap_or("end_turn"),
                )));
            }
            "metadata" => {
                out.push(StreamEvent::Usage(usage(&v["usage"])));
                if self.stopped {
                    self.done = true;
                    out.push(StreamEvent::Done);
                }
            }
            _ => {}
        }
    }
}

/// OpenAI embeddings body → `InvokeModel` body for Bedrock's embedding models: Cohere
/// (`cohere.embed-*`, batched) or Amazon Titan (`amazon.titan-embed-*`, one text per call).
pub fn embeddings_request(openai: &[u8], model: &str) -> Result<Value, Unsupported> {
    let (texts, v) = crate::openai::embedding_texts(openai)
        .ok_or_else(|| unsupported("token-id inputs (send text)"))?;
    if model.contains("cohere.embed") {
        return Ok(json!({
            "texts": texts,
            "input_type": v.get("input_type").and_then(Value::as_str).unwrap_or("search_document"),
        }));
    }
    if model.contains("titan-embed") {
        let [text] = texts.as_slice() else {
            return Err(unsupported(
                "more than one input per request with Titan embedding models",
            ));
        };
        let mut body = json!({"inputText": text});
        if let Some(d) = v.get("dimensions").and_then(Value::as_u64) {
            body["dimensions"] = json!(d);
        }
        return Ok(body);
    }
    Err(unsupported(
        "embeddings with this model (use cohere.embed-* or amazon.titan-embed-*)",
    ))
}

/// `InvokeModel` embedding answer (Cohere or Titan shape) → OpenAI embeddings list.
pub fn embeddings_response(body: &[u8], model: &str) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if let Some(single) = v.get("embedding") {
        let tokens = v["inputTextTokenCount"].as_u64().unwrap_or(0);
        return Some(crate::openai::embeddings_list(
            vec![single.clone()],
            model,
            tokens,
        ));
    }
    let vectors = match v.get("embeddings")? {
        Value::Array(list) => list.clone(),
        other => other.get("float")?.as_array()?.clone(),
    };
    Some(crate::openai::embeddings_list(vectors, model, 0))
}

#[cfg(test)]
mod tests;
