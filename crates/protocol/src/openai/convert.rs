//! OpenAI Chat Completions ↔ canonical: requests in, responses and stream chunks out.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::RequestError;
use crate::canonical::{
    ChatRequest, ChatResponse, Image, Message, Part, Reasoning, ResponseFormat, Role, StopReason,
    StreamEvent, Tool, ToolCall, ToolChoice, Usage,
};
use crate::json::ObjectView;

fn bad(param: impl Into<String>, message: impl Into<String>) -> RequestError {
    RequestError {
        message: message.into(),
        param: Some(param.into()),
        code: "invalid_value",
    }
}

/// A message as sent, borrowed from the body; `content` is inspected lazily.
#[derive(Deserialize)]
struct WireMessage<'a> {
    #[serde(borrow)]
    role: Cow<'a, str>,
    #[serde(default, borrow)]
    content: Option<&'a RawValue>,
    #[serde(default, borrow)]
    tool_calls: Option<Vec<WireToolCallIn<'a>>>,
    #[serde(default, borrow)]
    tool_call_id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    reasoning_signature: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireToolCallIn<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    function: WireFunctionIn<'a>,
}

#[derive(Deserialize)]
struct WireFunctionIn<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    arguments: Cow<'a, str>,
}

#[derive(Deserialize)]
struct WirePart<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    image_url: Option<WireImageUrl<'a>>,
}

#[derive(Deserialize)]
struct WireImageUrl<'a> {
    #[serde(borrow)]
    url: Cow<'a, str>,
}

#[derive(Deserialize)]
struct WireTool<'a> {
    #[serde(borrow)]
    function: WireToolFunction<'a>,
}

#[derive(Deserialize)]
struct WireToolFunction<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(default, borrow)]
    description: Option<Cow<'a, str>>,
    #[serde(default)]
    parameters: Option<Value>,
}

fn parse<'a, T: Deserialize<'a>>(param: &str, raw: &'a RawValue) -> Result<T, RequestError> {
    serde_json::from_str(raw.get()).map_err(|e| bad(param, format!("invalid `{param}`: {e}")))
}

/// Converts an already validated (see [`super::ChatRequest::parse`]) OpenAI body. One pass over
/// the top level; each known field is deserialised into a typed, borrowing shape.
pub fn request_to_canonical(body: &[u8]) -> Result<ChatRequest, RequestError> {
    let view = ObjectView::parse(body)?;
    let mut req = ChatRequest::default();
    let mut max_tokens = None;
    let mut max_completion_tokens = None;
    for member in view.members() {
        let raw = member.value;
        if raw.get() == "null" {
            continue;
        }
        let key = member.key;
        match key {
            "model" => req.model = parse::<Cow<'_, str>>(key, raw)?.into_owned(),
            "messages" => {
                let messages: Vec<WireMessage<'_>> = parse(key, raw)?;
                req.messages.reserve(messages.len());
                for (i, message) in messages.into_iter().enumerate() {
                    convert_message(i, message, &mut req)?;
                }
            }
            "tools" => {
                let tools: Vec<WireTool<'_>> = parse(key, raw)?;
                req.tools = tools
                    .into_iter()
                    .map(|t| Tool {
                        name: t.function.name.into_owned(),
                        description: t.function.description.map(Cow::into_owned),
                        parameters: t
                            .function
                            .parameters
                            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                    })
                    .collect();
            }
            "tool_choice" => req.tool_choice = Some(tool_choice(&parse::<Value>(key, raw)?)?),
            "parallel_tool_calls" => req.parallel_tool_calls = Some(parse(key, raw)?),
            "response_format" => {
                req.response_format = Some(response_format(&parse::<Value>(key, raw)?)?)
            }
            "stop" => {
                req.stop = match parse::<Value>(key, raw)? {
                    Value::String(s) => vec![s],
                    Value::Array(items) => items
                        .into_iter()
                        .filter_map(|s| s.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                }
            }
            "max_tokens" => max_tokens = Some(parse(key, raw)?),
            "max_completion_tokens" => max_completion_tokens = Some(parse(key, raw)?),
            "temperature" => req.temperature = Some(parse(key, raw)?),
            "top_p" => req.top_p = Some(parse(key, raw)?),
            "top_k" => req.top_k = Some(parse(key, raw)?),
            "seed" => req.seed = Some(parse(key, raw)?),
            "presence_penalty" => req.presence_penalty = Some(parse(key, raw)?),
            "frequency_penalty" => req.frequency_penalty = Some(parse(key, raw)?),
            "n" => req.n = Some(parse(key, raw)?),
            "logprobs" => req.logprobs = parse(key, raw)?,
            "top_logprobs" => {}
            "logit_bias" => req.logit_bias = true,
            "reasoning_effort" => {
                req.reasoning = Some(Reasoning {
                    effort: Some(parse::<String>(key, raw)?),
                    budget_tokens: None,
                })
            }
            "user" => req.user = Some(parse(key, raw)?),
            "stream" => req.stream = parse(key, raw)?,
            "stream_options" => {
                req.include_usage = parse::<Value>(key, raw)?
                    .get("include_usage")
                    .and_then(Value::as_bool)
                    == Some(true)
            }
            "functions" | "function_call" => {
                return Err(bad(
                    "functions",
                    "the deprecated `functions`/`function_call` fields cannot be translated; use `tools`/`tool_choice`",
                ))
            }
            _ => {
                req.extra.insert(key.to_owned(), parse::<Value>(key, raw)?);
            }
        }
    }
    req.max_tokens = max_completion_tokens.or(max_tokens);
    Ok(req)
}

fn tool_choice(v: &Value) -> Result<ToolChoice, RequestError> {
    Ok(match v {
        Value::String(s) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            other => return Err(bad("tool_choice", format!("unknown tool_choice `{other}`"))),
        },
        v => ToolChoice::Specific(
            v.pointer("/function/name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("tool_choice", "tool_choice object needs function.name"))?
                .to_owned(),
        ),
    })
}

fn response_format(v: &Value) -> Result<ResponseFormat, RequestError> {
    Ok(match v["type"].as_str() {
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
    })
}

/// The text of a `content` value: a string, or the concatenated text parts of an array.
fn text_of(i: usize, content: Option<&RawValue>) -> Result<String, RequestError> {
    let Some(raw) = content else {
        return Ok(String::new());
    };
    match raw.get().as_bytes().first() {
        Some(b'"') => {
            parse::<Cow<'_, str>>(&format!("messages[{i}].content"), raw).map(Cow::into_owned)
        }
        Some(b'[') => {
            let parts: Vec<WirePart<'_>> = parse(&format!("messages[{i}].content"), raw)?;
            Ok(parts
                .into_iter()
                .filter_map(|p| p.text)
                .collect::<Vec<_>>()
                .concat())
        }
        _ => Ok(String::new()),
    }
}

fn convert_message(
    i: usize,
    message: WireMessage<'_>,
    req: &mut ChatRequest,
) -> Result<(), RequestError> {
    match message.role.as_ref() {
        "system" | "developer" => req.system.push(text_of(i, message.content)?),
        "user" => {
            let mut parts = Vec::new();
            match message.content.map(|c| (c, c.get().as_bytes().first())) {
                Some((c, Some(b'"'))) => parts.push(Part::Text(
                    parse::<Cow<'_, str>>("content", c)?.into_owned(),
                )),
                Some((c, Some(b'['))) => {
                    let items: Vec<WirePart<'_>> = parse(&format!("messages[{i}].content"), c)?;
                    for (j, item) in items.into_iter().enumerate() {
                        match item.kind.as_ref() {
                            "text" => parts.push(Part::Text(
                                item.text.map(Cow::into_owned).unwrap_or_default(),
                            )),
                            "image_url" => {
                                let url = item.image_url.ok_or_else(|| {
                                    bad(
                                        format!("messages[{i}].content[{j}].image_url.url"),
                                        "missing image url",
                                    )
                                })?;
                                parts.push(Part::Image(Image::from_url(&url.url)));
                            }
                            other => {
                                return Err(bad(
                                    format!("messages[{i}].content[{j}].type"),
                                    format!(
                                        "content part type `{other}` cannot be translated to this provider"
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
            if let Some(reasoning) = message.reasoning_content {
                parts.push(Part::Reasoning {
                    text: reasoning.into_owned(),
                    signature: message.reasoning_signature.map(Cow::into_owned),
                });
            }
            let text = text_of(i, message.content)?;
            if !text.is_empty() {
                parts.push(Part::Text(text));
            }
            for call in message.tool_calls.into_iter().flatten() {
                parts.push(Part::ToolCall(ToolCall {
                    id: call.id.into_owned(),
                    name: call.function.name.into_owned(),
                    arguments: call.function.arguments.into_owned(),
                }));
            }
            req.messages.push(Message {
                role: Role::Assistant,
                content: parts,
            });
        }
        "tool" => {
            let call_id = message.tool_call_id.ok_or_else(|| {
                bad(
                    format!("messages[{i}].tool_call_id"),
                    "a tool message needs `tool_call_id`",
                )
            })?;
            let content = text_of(i, message.content)?;
            req.messages.push(Message {
                role: Role::Tool,
                content: vec![Part::ToolResult {
                    call_id: call_id.into_owned(),
                    content,
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

    fn chunk(&self, delta: Delta<'_>, finish: Option<&'static str>, out: &mut Vec<u8>) {
        let chunk = Chunk {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: [ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: finish,
            }],
        };
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
                let delta = Delta {
                    role: Some("assistant"),
                    content: Some(""),
                    ..Delta::default()
                };
                self.chunk(delta, None, out);
            }
            StreamEvent::Text(text) => {
                let delta = Delta {
                    content: Some(text),
                    ..Delta::default()
                };
                self.chunk(delta, None, out)
            }
            StreamEvent::Reasoning(text) => {
                let delta = Delta {
                    reasoning_content: Some(text),
                    ..Delta::default()
                };
                self.chunk(delta, None, out)
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                let delta = Delta {
                    tool_calls: Some([ToolCallDelta {
                        index: *index,
                        id: Some(id),
                        kind: Some("function"),
                        function: FunctionDelta {
                            name: Some(name),
                            arguments: "",
                        },
                    }]),
                    ..Delta::default()
                };
                self.chunk(delta, None, out)
            }
            StreamEvent::ToolCallArguments { index, delta } => {
                let delta = Delta {
                    tool_calls: Some([ToolCallDelta {
                        index: *index,
                        id: None,
                        kind: None,
                        function: FunctionDelta {
                            name: None,
                            arguments: delta,
                        },
                    }]),
                    ..Delta::default()
                };
                self.chunk(delta, None, out)
            }
            StreamEvent::Finish(stop) => {
                self.chunk(Delta::default(), Some(finish_reason(stop)), out)
            }
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
                    let chunk = UsageChunk {
                        id: &self.id,
                        object: "chat.completion.chunk",
                        created: self.created,
                        model: &self.model,
                        choices: [],
                        usage: WireUsage::from(&self.usage),
                    };
                    push_event(&chunk, out);
                }
                out.extend_from_slice(crate::sse::DONE);
            }
        }
    }
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [ChunkChoice<'a>; 1],
}

#[derive(Serialize)]
struct UsageChunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [(); 0],
    usage: WireUsage,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'static str>,
}

#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallDelta<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

fn push_event<T: Serialize>(value: &T, out: &mut Vec<u8>) {
    out.extend_from_slice(b"data: ");
    // Serialising plain data into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
    out.extend_from_slice(b"\n\n");
}
