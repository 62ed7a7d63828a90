//! The Anthropic Messages API as a *client* dialect: requests in (validated, then to canonical),
//! answers and streams out (canonical → Messages JSON and the exact event grammar).

use std::borrow::Cow;
use std::ops::Range;

use serde_json::{json, Map, Value};

use crate::canonical::{
    ChatRequest, ChatResponse, Image, Message, Part, Reasoning, Role, StopReason, Tool, ToolCall,
    ToolChoice, Usage,
};
use crate::json::{as_str, JsonType, ObjectView, Splicer};
use crate::openai::{Expect, RequestError};

const FIELDS: &[(&str, Expect)] = &[
    ("model", Expect::String),
    ("messages", Expect::Array),
    ("max_tokens", Expect::Integer),
    ("system", Expect::StringOrArray),
    ("stream", Expect::Bool),
    ("temperature", Expect::Number),
    ("top_p", Expect::Number),
    ("top_k", Expect::Integer),
    ("stop_sequences", Expect::Array),
    ("tools", Expect::Array),
    ("tool_choice", Expect::Object),
    ("metadata", Expect::Object),
    ("thinking", Expect::Object),
];

fn field_error(param: &str, message: String, code: &'static str) -> RequestError {
    RequestError {
        message,
        param: Some(param.to_owned()),
        code,
    }
}

/// A validated `POST /v1/messages` body.
#[derive(Debug)]
pub struct MessagesRequest<'a> {
    view: ObjectView<'a>,
    model: Cow<'a, str>,
    model_span: Range<usize>,
    stream: bool,
}

impl<'a> MessagesRequest<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, RequestError> {
        Self::parse_with(body, &["model", "messages", "max_tokens"])
    }

    /// A `POST /v1/messages/count_tokens` body (no `max_tokens`).
    pub fn parse_count(body: &'a [u8]) -> Result<Self, RequestError> {
        Self::parse_with(body, &["model", "messages"])
    }

    fn parse_with(body: &'a [u8], required: &[&str]) -> Result<Self, RequestError> {
        let view = ObjectView::parse(body)?;
        for member in view.members() {
            let Some((_, expect)) = FIELDS.iter().find(|(n, _)| *n == member.key) else {
                continue;
            };
            if !expect.accepts(member.value) {
                return Err(field_error(
                    member.key,
                    format!(
                        "{}: expected {}, got {}",
                        member.key,
                        expect.describe(),
                        JsonType::of(member.value).name()
                    ),
                    "invalid_type",
                ));
            }
        }
        for &required in required {
            if view.get(required).is_none() {
                return Err(field_error(
                    required,
                    format!("{required}: Field required"),
                    "missing_required_parameter",
                ));
            }
        }
        let raw = view.get("model").ok_or_else(|| {
            field_error(
                "model",
                "model: Field required".into(),
                "missing_required_parameter",
            )
        })?;
        let model = as_str(raw).unwrap_or_default();
        let stream = view.get("stream").map(|v| v.get()) == Some("true");
        Ok(MessagesRequest {
            model_span: view.span_of(raw),
            view,
            model,
            stream,
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn stream(&self) -> bool {
        self.stream
    }

    /// Same-dialect fast path: the body with only `model` replaced.
    pub fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        let mut splicer = Splicer::new(self.view.body());
        if upstream_model != self.model {
            let mut json = Vec::new();
            crate::json::push_json_string(&mut json, upstream_model);
            splicer.replace(self.model_span.clone(), json);
        }
        splicer
    }
}

const KNOWN: &[&str] = &[
    "model",
    "messages",
    "max_tokens",
    "system",
    "stream",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "tools",
    "tool_choice",
    "metadata",
    "thinking",
];

fn text_blocks(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(blocks) => blocks
            .iter()
            .filter_map(|b| b["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// A validated Messages body → canonical.
pub fn request_to_canonical(body: &[u8]) -> Result<ChatRequest, RequestError> {
    let v: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| field_error("", format!("invalid request: {e}"), "invalid_json"))?;
    let mut req = ChatRequest {
        model: v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        max_tokens: v.get("max_tokens").and_then(Value::as_u64),
        ..ChatRequest::default()
    };
    if let Some(system) = v.get("system") {
        let text = text_blocks(system);
        if !text.is_empty() {
            req.system.push(text);
        }
    }
    for (i, m) in v
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let role = match m["role"].as_str() {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            other => {
                return Err(field_error(
                    &format!("messages.{i}.role"),
                    format!(
                        "messages.{i}.role: Input should be 'user' or 'assistant' (got {})",
                        other.unwrap_or("nothing")
                    ),
                    "invalid_value",
                ))
            }
        };
        let blocks: Vec<Value> = match &m["content"] {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(b) => b.clone(),
            _ => Vec::new(),
        };
        let mut parts = Vec::new();
        for (j, b) in blocks.iter().enumerate() {
            let part = match b["type"].as_str() {
                Some("text") => Part::Text(b["text"].as_str().unwrap_or_default().to_owned()),
                Some("image") => {
                    let src = &b["source"];
                    match src["type"].as_str() {
                        Some("base64") => Part::Image(Image::Base64 {
                            media_type: src["media_type"].as_str().unwrap_or_default().to_owned(),
                            data: src["data"].as_str().unwrap_or_default().to_owned(),
                        }),
                        _ => Part::Image(Image::Url(
                            src["url"].as_str().unwrap_or_default().to_owned(),
                        )),
                    }
                }
                Some("tool_use") => Part::ToolCall(ToolCall {
                    id: b["id"].as_str().unwrap_or_default().to_owned(),
                    name: b["name"].as_str().unwrap_or_default().to_owned(),
                    arguments: b.get("input").map_or_else(|| "{}".into(), Value::to_string),
                }),
                Some("tool_result") => {
                    // A tool result becomes its own tool turn, before the rest of this message.
                    req.messages.push(Message {
                        role: Role::Tool,
                        content: vec![Part::ToolResult {
                            call_id: b["tool_use_id"].as_str().unwrap_or_default().to_owned(),
                            content: text_blocks(&b["content"]),
                            is_error: b["is_error"].as_bool() == Some(true),
                        }],
                    });
                    continue;
                }
                Some("thinking") => Part::Reasoning {
                    text: b["thinking"].as_str().unwrap_or_default().to_owned(),
                    signature: b["signature"].as_str().map(str::to_owned),
                },
                Some("redacted_thinking") => continue,
                other => {
                    return Err(field_error(
                        &format!("messages.{i}.content.{j}.type"),
                        format!(
                            "content block type `{}` cannot be translated to this provider",
                            other.unwrap_or("(missing)")
                        ),
                        "invalid_value",
                    ))
                }
            };
            parts.push(part);
        }
        if !parts.is_empty() {
            req.messages.push(Message {
                role,
                content: parts,
            });
        }
    }
    for (i, t) in v
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if t.get("type").is_some_and(|ty| ty != "custom") {
            return Err(field_error(
                &format!("tools.{i}.type"),
                format!(
                    "server tool `{}` runs only on Anthropic; it cannot be translated to this provider",
                    t["type"].as_str().unwrap_or_default()
                ),
                "invalid_value",
            ));
        }
        req.tools.push(Tool {
            name: t["name"].as_str().unwrap_or_default().to_owned(),
            description: t["description"].as_str().map(str::to_owned),
            parameters: t
                .get("input_schema")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"})),
        });
    }
    if let Some(choice) = v.get("tool_choice") {
        req.tool_choice = match choice["type"].as_str() {
            Some("any") => Some(ToolChoice::Required),
            Some("none") => Some(ToolChoice::None),
            Some("tool") => Some(ToolChoice::Specific(
                choice["name"].as_str().unwrap_or_default().to_owned(),
            )),
            _ => Some(ToolChoice::Auto),
        };
        if choice["disable_parallel_tool_use"].as_bool() == Some(true) {
            req.parallel_tool_calls = Some(false);
        }
    }
    req.stop = v
        .get("stop_sequences")
        .and_then(Value::as_array)
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    req.temperature = v.get("temperature").and_then(Value::as_f64);
    req.top_p = v.get("top_p").and_then(Value::as_f64);
    req.top_k = v.get("top_k").and_then(Value::as_u64);
    req.user = v
        .get("metadata")
        .and_then(|m| m.get("user_id"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(thinking) = v.get("thinking").filter(|t| t["type"] == "enabled") {
        req.reasoning = Some(Reasoning {
            effort: None,
            budget_tokens: thinking["budget_tokens"].as_u64(),
        });
    }
    req.stream = v.get("stream").and_then(Value::as_bool) == Some(true);
    // Anthropic streams always end with usage; ask the provider for it.
    req.include_usage = req.stream;
    req.extra = v
        .into_iter()
        .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
        .collect();
    Ok(req)
}

mod stream;

pub use stream::StreamEncoder;

pub fn stop_reason_name(stop: &StopReason) -> &'static str {
    match stop {
        StopReason::Stop => "end_turn",
        StopReason::Length => "max_tokens",
        StopReason::ToolCalls => "tool_use",
        StopReason::ContentFilter => "refusal",
    }
}

pub(crate) fn usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input - u.cached_input.min(u.input),
        "cache_read_input_tokens": u.cached_input,
        "cache_creation_input_tokens": 0,
        "output_tokens": u.output
    })
}

/// Canonical answer → Messages `message` JSON.
pub fn response_from_canonical(r: &ChatResponse) -> Value {
    let content: Vec<Value> = r
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Text(t) => Some(json!({"type": "text", "text": t})),
            Part::ToolCall(c) => Some(json!({
                "type": "tool_use", "id": c.id, "name": c.name,
                "input": serde_json::from_str::<Value>(&c.arguments).unwrap_or_else(|_| json!({}))
            })),
            Part::Reasoning { text, signature } => {
                Some(json!({"type": "thinking", "thinking": text, "signature": signature.clone().unwrap_or_default()}))
            }
            _ => None,
        })
        .collect();
    json!({
        "id": r.id, "type": "message", "role": "assistant", "model": r.model,
        "content": content, "stop_reason": stop_reason_name(&r.stop), "stop_sequence": null,
        "usage": usage_json(&r.usage)
    })
}

/// The error body Anthropic clients parse.
pub fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        504 => "timeout_error",
        529 => "overloaded_error",
        _ => "api_error",
    };
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the fuzzer (`crates/gateway/tests/fuzz.rs`): a body without `model` panicked.
    #[test]
    fn a_body_missing_fields_converts_without_panicking() {
        let req = request_to_canonical(b"{}").unwrap();
        assert_eq!(req.model, "");
        assert!(req.messages.is_empty());
    }
}
