//! OpenAI Chat Completions ↔ canonical: requests in (see `decode`), responses and stream chunks out.

use serde::Serialize;
use serde_json::{json, Value};

pub use super::decode::request_to_canonical;
use crate::canonical::{ChatResponse, Part, StopReason, StreamEvent, Usage};

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

/// `{"cached_tokens": n}` (chat's `prompt_tokens_details`, Responses' `input_tokens_details`).
#[derive(Serialize)]
pub(crate) struct CachedTokens {
    pub(crate) cached_tokens: u64,
}

/// `{"reasoning_tokens": n}` (chat's `completion_tokens_details`, Responses'
/// `output_tokens_details`).
#[derive(Serialize)]
pub(crate) struct ReasoningTokens {
    pub(crate) reasoning_tokens: u64,
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
