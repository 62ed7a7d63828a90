//! OpenAI Chat Completions ↔ canonical: requests in, responses and stream chunks out.

use serde::Serialize;
use serde_json::{json, Map, Value};

use super::RequestError;
use crate::canonical::{
    ChatRequest, ChatResponse, Image, Message, Part, Reasoning, ResponseFormat, Role, StopReason,
    StreamEvent, Tool, ToolCall, ToolChoice, Usage,
};

/// Fields this converter understands; anything else is carried in `extra`.
const KNOWN: &[&str] = &[
    "model",
    "messages",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "response_format",
    "stop",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "n",
    "logprobs",
    "top_logprobs",
    "logit_bias",
    "reasoning_effort",
    "user",
    "stream",
    "stream_options",
    "functions",
    "function_call",
];

fn bad(param: impl Into<String>, message: impl Into<String>) -> RequestError {
    RequestError {
        message: message.into(),
        param: Some(param.into()),
        code: "invalid_value",
    }
}

/// Converts an already validated (see [`super::ChatRequest::parse`]) OpenAI body.
pub fn request_to_canonical(body: &[u8]) -> Result<ChatRequest, RequestError> {
    let value: Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| bad("", format!("invalid request: {e}")))?;
    let mut req = ChatRequest {
        model: value["model"].as_str().unwrap_or_default().to_owned(),
        ..ChatRequest::default()
    };
    if value.contains_key("functions") || value.contains_key("function_call") {
        return Err(bad(
            "functions",
            "the deprecated `functions`/`function_call` fields cannot be translated; use `tools`/`tool_choice`",
        ));
    }
    for (i, message) in value
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        convert_message(i, message, &mut req)?;
    }
    if let Some(tools) = value.get("tools").and_then(Value::as_array) {
        for (i, tool) in tools.iter().enumerate() {
            let function = &tool["function"];
            let name = function["name"]
                .as_str()
                .ok_or_else(|| bad(format!("tools[{i}].function.name"), "missing tool name"))?;
            req.tools.push(Tool {
                name: name.to_owned(),
                description: function["description"].as_str().map(str::to_owned),
                parameters: function
                    .get("parameters")
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
            });
        }
    }
    req.tool_choice = match value.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => return Err(bad("tool_choice", format!("unknown tool_choice `{other}`"))),
        }),
        Some(v) => Some(ToolChoice::Specific(
            v.pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("tool_choice", "tool_choice object needs function.name"))?
                .to_owned(),
        )),
    };
    req.parallel_tool_calls = value.get("parallel_tool_calls").and_then(Value::as_bool);
    req.response_format = match value.get("response_format") {
        None | Some(Value::Null) => None,
        Some(v) => Some(match v["type"].as_str() {
            Some("text") => ResponseFormat::Text,
            Some("json_object") => ResponseFormat::JsonObject,
            Some("json_schema") => ResponseFormat::JsonSchema {
                name: v
                    .pointer("/json_schema/name")
                    .and_then(Value::as_str)
                    .unwrap_or("response")
                    .to_owned(),
                schema: v
                    .pointer("/json_schema/schema")
                    .cloned()
                    .unwrap_or(Value::Null),
            },
            _ => {
                return Err(bad(
                    "response_format.type",
                    "response_format.type must be text, json_object or json_schema",
                ))
            }
        }),
    };
    req.stop = match value.get("stop") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    let uint = |k: &str| value.get(k).and_then(Value::as_u64);
    let float = |k: &str| value.get(k).and_then(Value::as_f64);
    req.max_tokens = uint("max_completion_tokens").or_else(|| uint("max_tokens"));
    req.temperature = float("temperature");
    req.top_p = float("top_p");
    req.top_k = uint("top_k");
    req.seed = value.get("seed").and_then(Value::as_i64);
    req.presence_penalty = float("presence_penalty");
    req.frequency_penalty = float("frequency_penalty");
    req.n = uint("n");
    req.logprobs = value.get("logprobs").and_then(Value::as_bool) == Some(true);
    req.logit_bias = value.get("logit_bias").is_some_and(|v| !v.is_null());
    req.reasoning = value
        .get("reasoning_effort")
        .and_then(Value::as_str)
        .map(|effort| Reasoning {
            effort: Some(effort.to_owned()),
            budget_tokens: None,
        });
    req.user = value.get("user").and_then(Value::as_str).map(str::to_owned);
    req.stream = value.get("stream").and_then(Value::as_bool) == Some(true);
    req.include_usage = value
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        == Some(true);
    req.extra = value
        .into_iter()
        .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
        .collect();
    Ok(req)
}

fn text_of(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| p["text"].as_str())
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn convert_message(i: usize, message: &Value, req: &mut ChatRequest) -> Result<(), RequestError> {
    let role = message["role"].as_str().unwrap_or_default();
    let content = &message["content"];
    match role {
        "system" | "developer" => req.system.push(text_of(content)),
        "user" => {
            let mut parts = Vec::new();
            match content {
                Value::String(s) => parts.push(Part::Text(s.clone())),
                Value::Array(items) => {
                    for (j, item) in items.iter().enumerate() {
                        match item["type"].as_str() {
                            Some("text") => parts.push(Part::Text(
                                item["text"].as_str().unwrap_or_default().to_owned(),
                            )),
                            Some("image_url") => {
                                let url = item
                                    .pointer("/image_url/url")
                                    .and_then(Value::as_str)
                                    .ok_or_else(|| {
                                        bad(
                                            format!("messages[{i}].content[{j}].image_url.url"),
                                            "missing image url",
                                        )
                                    })?;
                                parts.push(Part::Image(Image::from_url(url)));
                            }
                            other => {
                                return Err(bad(
                                    format!("messages[{i}].content[{j}].type"),
                                    format!(
                                    "content part type `{}` cannot be translated to this provider",
                                    other.unwrap_or("(missing)")
                                ),
                                ))
                            }
                        }
                    }
                }
                _ => {}
            }
            req.messages.push(Message {
                role: Role::User,
                content: parts,
            });
        }
        "assistant" => {
            let mut parts = Vec::new();
            if let Some(reasoning) = message.get("reasoning_content").and_then(Value::as_str) {
                parts.push(Part::Reasoning {
                    text: reasoning.to_owned(),
                    signature: message
                        .get("reasoning_signature")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                });
            }
            let text = text_of(content);
            if !text.is_empty() {
                parts.push(Part::Text(text));
            }
            for (j, call) in message
                .get("tool_calls")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let field = |name: &str| {
                    call.pointer(name).and_then(Value::as_str).ok_or_else(|| {
                        bad(
                            format!("messages[{i}].tool_calls[{j}]"),
                            format!("tool call is missing `{}`", name.trim_start_matches('/')),
                        )
                    })
                };
                parts.push(Part::ToolCall(ToolCall {
                    id: field("/id")?.to_owned(),
                    name: field("/function/name")?.to_owned(),
                    arguments: field("/function/arguments")?.to_owned(),
                }));
            }
            req.messages.push(Message {
                role: Role::Assistant,
                content: parts,
            });
        }
        "tool" => {
            let call_id = message["tool_call_id"].as_str().ok_or_else(|| {
                bad(
                    format!("messages[{i}].tool_call_id"),
                    "a tool message needs `tool_call_id`",
                )
            })?;
            req.messages.push(Message {
                role: Role::Tool,
                content: vec![Part::ToolResult {
                    call_id: call_id.to_owned(),
                    content: text_of(content),
                    is_error: false,
                }],
            });
        }
        other => {
            return Err(bad(
                format!("messages[{i}].role"),
                format!("role `{other}` cannot be translated to this provider"),
            ))
        }
    }
    Ok(())
}

pub fn finish_reason(stop: &StopReason) -> &'static str {
    match stop {
        StopReason::Stop => "stop",
        StopReason::Length => "length",
        StopReason::ToolCalls => "tool_calls",
        StopReason::ContentFilter => "content_filter",
    }
}

pub fn usage_json(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.input,
        "completion_tokens": usage.output,
        "total_tokens": usage.input + usage.output,
        "prompt_tokens_details": {"cached_tokens": usage.cached_input},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning}
    })
}

#[derive(Serialize)]
struct WireUsage {
    prompt_tokens: u64,
    completion_tokens: u64,
    total_tokens: u64,
    prompt_tokens_details: CachedTokens,
    completion_tokens_details: ReasoningTokens,
}

#[derive(Serialize)]
struct CachedTokens {
    cached_tokens: u64,
}

#[derive(Serialize)]
struct ReasoningTokens {
    reasoning_tokens: u64,
}

impl From<&Usage> for WireUsage {
    fn from(u: &Usage) -> Self {
        WireUsage {
            prompt_tokens: u.input,
            completion_tokens: u.output,
            total_tokens: u.input + u.output,
            prompt_tokens_details: CachedTokens {
                cached_tokens: u.cached_input,
            },
            completion_tokens_details: ReasoningTokens {
                reasoning_tokens: u.reasoning,
            },
        }
    }
}

/// An OpenAI `chat.completion`, serialisable without building a `serde_json::Value` tree.
#[derive(Serialize)]
pub struct ChatCompletion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: WireUsage,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: Option<String>,
    refusal: Option<()>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tool_calls: Vec<WireToolCall<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<String>,
}

#[derive(Serialize)]
struct WireToolCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireFunction<'a>,
}

#[derive(Serialize)]
struct WireFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

/// A canonical answer as an OpenAI `chat.completion`.
pub fn response_from_canonical(response: &ChatResponse, created: u64) -> ChatCompletion<'_> {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut tool_calls = Vec::new();
    for part in &response.content {
        match part {
            Part::Text(t) => text.push_str(t),
            Part::Reasoning { text: r, .. } => reasoning.push_str(r),
            Part::ToolCall(call) => tool_calls.push(WireToolCall {
                id: &call.id,
                kind: "function",
                function: WireFunction {
                    name: &call.name,
                    arguments: &call.arguments,
                },
            }),
            _ => {}
        }
    }
    let content = if text.is_empty() && !tool_calls.is_empty() {
        None
    } else {
        Some(text)
    };
    ChatCompletion {
        id: &response.id,
        object: "chat.completion",
        created,
        model: &response.model,
        choices: [Choice {
            index: 0,
            message: AssistantMessage {
                role: "assistant",
                content,
                refusal: None,
                tool_calls,
                reasoning_content: (!reasoning.is_empty()).then_some(reasoning),
            },
            logprobs: None,
            finish_reason: finish_reason(&response.stop),
        }],
        usage: WireUsage::from(&response.usage),
    }
}

/// Turns canonical stream events into OpenAI `chat.completion.chunk` SSE events.
#[derive(Debug)]
pub struct StreamEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    usage: Usage,
    finished: bool,
}

impl StreamEncoder {
    pub fn new(model: &str, created: u64, include_usage: bool) -> Self {
        StreamEncoder {
            id: String::new(),
            model: model.to_owned(),
            created,
            include_usage,
            usage: Usage::default(),
            finished: false,
        }
    }

    fn chunk(&self, delta: Value, finish: Option<&str>, out: &mut Vec<u8>) {
        let chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
        });
        push_event(&chunk, out);
    }

    /// Appends the SSE bytes for `event` to `out`.
    pub fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        match event {
            StreamEvent::Start { id, model } => {
                self.id = id.clone();
                if !model.is_empty() {
                    self.model = model.clone();
                }
                self.chunk(json!({"role": "assistant", "content": ""}), None, out);
            }
            StreamEvent::Text(text) => self.chunk(json!({"content": text}), None, out),
            StreamEvent::Reasoning(text) => {
                self.chunk(json!({"reasoning_content": text}), None, out)
            }
            StreamEvent::ToolCallStart { index, id, name } => self.chunk(
                json!({"tool_calls": [{"index": index, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}),
                None,
                out,
            ),
            StreamEvent::ToolCallArguments { index, delta } => self.chunk(
                json!({"tool_calls": [{"index": index, "function": {"arguments": delta}}]}),
                None,
                out,
            ),
            StreamEvent::Finish(stop) => self.chunk(json!({}), Some(finish_reason(stop)), out),
            StreamEvent::Usage(usage) => self.usage = *usage,
            StreamEvent::Error { message } => {
                self.finished = true;
                let body = json!({"error": {"message": message, "type": "upstream_error", "param": null, "code": "upstream_stream_error"}});
                push_event(&body, out);
            }
            StreamEvent::Done => {
                if self.finished {
                    return;
                }
                self.finished = true;
                if self.include_usage {
                    let chunk = json!({
                        "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                        "model": self.model, "choices": [], "usage": usage_json(&self.usage)
                    });
                    push_event(&chunk, out);
                }
                out.extend_from_slice(crate::sse::DONE);
            }
        }
    }
}

fn push_event(value: &Value, out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: ");
    // Serialising a Value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
    out.extend_from_slice(b"\n\n");
}
