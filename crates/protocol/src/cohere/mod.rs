//! Cohere v2 chat (`POST /v2/chat`) as an upstream. The request is close to OpenAI's (so it is
//! derived from the OpenAI encoding with Cohere's names); answers and the stream events
//! (`message-start`, `content-delta`, `tool-call-start`/`-delta`, `message-end`, …) are decoded here.

use std::collections::HashMap;

use serde_json::{json, Map, Value};

use crate::canonical::{
    ChatRequest, ChatResponse, Part, StopReason, StreamEvent, ToolChoice, Unsupported, Usage,
};
use crate::openai::upstream;
use crate::sse;

const PROVIDER: &str = "cohere";

fn unsupported(feature: &str) -> Unsupported {
    Unsupported {
        feature: feature.to_owned(),
        provider: PROVIDER,
    }
}

/// Canonical → `/v2/chat` body.
pub fn request_from_canonical(req: &ChatRequest, model: &str) -> Result<Value, Unsupported> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n > 1"));
    }
    if req.logit_bias {
        return Err(unsupported("logit_bias"));
    }
    if matches!(req.tool_choice, Some(ToolChoice::Specific(_))) {
        return Err(unsupported("tool_choice naming a specific function"));
    }
    let Value::Object(mut body) = upstream::request_from_canonical(req, model) else {
        return Err(unsupported("this request"));
    };
    let rename = |body: &mut Map<String, Value>, from: &str, to: &str| {
        if let Some(v) = body.remove(from) {
            body.insert(to.to_owned(), v);
        }
    };
    rename(&mut body, "top_p", "p");
    rename(&mut body, "top_k", "k");
    rename(&mut body, "stop", "stop_sequences");
    body.remove("stream_options");
    body.remove("parallel_tool_calls");
    body.remove("user");
    body.remove("n");
    body.remove("reasoning_effort");
    match body.remove("tool_choice").as_ref().and_then(Value::as_str) {
        Some("required") => {
            body.insert("tool_choice".into(), json!("REQUIRED"));
        }
        Some("none") => {
            body.insert("tool_choice".into(), json!("NONE"));
        }
        _ => {}
    }
    if let Some(format) = body.remove("response_format") {
        match format["type"].as_str() {
            Some("json_object") => {
                body.insert("response_format".into(), json!({"type": "json_object"}));
            }
            Some("json_schema") => {
                let schema = format
                    .pointer("/json_schema/schema")
                    .cloned()
                    .unwrap_or(Value::Null);
                body.insert(
                    "response_format".into(),
                    json!({"type": "json_object", "json_schema": schema}),
                );
            }
            _ => {}
        }
    }
    if let Some(reasoning) = &req.reasoning {
        let budget = reasoning.budget_tokens.unwrap_or(4096);
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "token_budget": budget}),
        );
    }
    Ok(Value::Object(body))
}

pub fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "MAX_TOKENS" => StopReason::Length,
        "TOOL_CALL" => StopReason::ToolCalls,
        _ => StopReason::Stop,
    }
}

fn usage(u: &Value) -> Usage {
    let tokens = u.get("tokens").or_else(|| u.get("billed_units"));
    let n = |k: &str| {
        tokens
            .and_then(|t| t.get(k))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Usage {
        input: n("input_tokens"),
        output: n("output_tokens"),
        cached_input: u.get("cached_tokens").and_then(Value::as_u64).unwrap_or(0),
        reasoning: 0,
    }
}

/// A `/v2/chat` answer → canonical.
pub fn response_to_canonical(body: &[u8]) -> Option<ChatResponse> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let message = v.get("message")?;
    let mut content = Vec::new();
    for block in message["content"].as_array().into_iter().flatten() {
        match block["type"].as_str() {
            Some("text") => content.push(Part::Text(
                block["text"].as_str().unwrap_or_default().to_owned(),
            )),
            Some("thinking") => content.push(Part::Reasoning {
                text: block["thinking"].as_str().unwrap_or_default().to_owned(),
                signature: None,
            }),
            _ => {}
        }
    }
    content.extend(upstream::tool_calls(&message["tool_calls"]));
    Some(ChatResponse {
        id: v["id"].as_str().unwrap_or_default().to_owned(),
        model: String::new(),
        content,
        stop: stop_reason(v["finish_reason"].as_str().unwrap_or("COMPLETE")),
        usage: usage(&v["usage"]),
    })
}

/// Cohere v2 stream events → canonical.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    /// Cohere tool-call index → ours.
    tools: HashMap<u64, usize>,
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
        let Ok(v) = serde_json::from_str::<Value>(&event.data) else {
            return;
        };
        let kind = v["type"]
            .as_str()
            .or(event.event.as_deref())
            .unwrap_or_default();
        let index = v["index"].as_u64().unwrap_or(0);
        let message = v.pointer("/delta/message").cloned().unwrap_or(Value::Null);
        match kind {
            "message-start" => out.push(StreamEvent::Start {
                id: v["id"].as_str().unwrap_or_default().to_owned(),
                model: String::new(),
            }),
            "content-delta" => {
                if let Some(text) = message.pointer("/content/text").and_then(Value::as_str) {
                    out.push(StreamEvent::Text(text.to_owned()));
                }
                if let Some(text) = message.pointer("/content/thinking").and_then(Value::as_str) {
                    out.push(StreamEvent::Reasoning(text.to_owned()));
                }
            }
            "tool-call-start" => {
                let ours = self.tools.len();
                self.tools.insert(index, ours);
                upstream::tool_call_events(&message["tool_calls"], ours, true, out);
            }
            "tool-call-delta" => {
                if let (Some(&ours), Some(args)) = (
                    self.tools.get(&index),
                    message
                        .pointer("/tool_calls/function/arguments")
                        .and_then(Value::as_str),
                ) {
                    out.push(StreamEvent::ToolCallArguments {
                        index: ours,
                        delta: args.to_owned(),
                    });
                }
            }
            "message-end" => {
                self.done = true;
                let delta = &v["delta"];
                out.push(StreamEvent::Finish(stop_reason(
                    delta["finish_reason"].as_str().unwrap_or("COMPLETE"),
                )));
                out.push(StreamEvent::Usage(usage(&delta["usage"])));
                out.push(StreamEvent::Done);
            }
            _ => {}
        }
    }
}

/// OpenAI embeddings body → `/v2/embed` body. Cohere needs an `input_type`; it defaults to
/// `search_document` and can be set with an `input_type` field in the request.
pub fn embeddings_request(openai: &[u8], model: &str) -> Result<Value, Unsupported> {
    let (texts, v) = crate::openai::embedding_texts(openai)
        .ok_or_else(|| unsupported("token-id inputs (send text)"))?;
    if v.get("encoding_format").and_then(Value::as_str) == Some("base64") {
        return Err(unsupported("encoding_format base64"));
    }
    let mut body = json!({
        "model": model, "texts": texts, "embedding_types": ["float"],
        "input_type": v.get("input_type").and_then(Value::as_str).unwrap_or("search_document"),
    });
    if let Some(d) = v.get("dimensions").and_then(Value::as_u64) {
        body["output_dimension"] = json!(d);
    }
    Ok(body)
}

/// `/v2/embed` answer → OpenAI embeddings list.
pub fn embeddings_response(body: &[u8], model: &str) -> Option<Value> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let vectors = v.pointer("/embeddings/float")?.as_array()?.clone();
    let tokens = v
        .pointer("/meta/billed_units/input_tokens")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    Some(crate::openai::embeddings_list(vectors, model, tokens))
}

#[cfg(test)]
mod tests;
