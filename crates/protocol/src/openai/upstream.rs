//! OpenAI as the *provider* side of a translation: canonical → Chat Completions request, and
//! answers / stream chunks → canonical.

use std::collections::HashSet;

use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::canonical::{ChatRequest, ChatResponse, Part, StopReason, StreamEvent, ToolCall, Usage};
use crate::sse;

mod body;

pub use body::{request_body, RequestBody};

/// The chat request for `model` as JSON (for callers that edit it; see [`request_body`]).
pub fn request_from_canonical(req: &ChatRequest, model: &str) -> Value {
    serde_json::to_value(request_body(req, model)).unwrap_or(Value::Null)
}

/// Tools in the OpenAI `tools` shape (also what Workers AI and Cohere take).
pub(crate) fn tools_json(req: &ChatRequest) -> Value {
    Value::Array(
        req.tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parameters": t.parameters});
                if let Some(d) = &t.description {
                    f["description"] = json!(d);
                }
                json!({"type": "function", "function": f})
            })
            .collect(),
    )
}

/// The sampling parameters every OpenAI-like body spells the same way.
pub(crate) fn put_sampling(body: &mut Map<String, Value>, req: &ChatRequest) {
    let numbers = [
        ("max_tokens", req.max_tokens.map(|v| json!(v))),
        ("temperature", req.temperature.map(|v| json!(v))),
        ("top_p", req.top_p.map(|v| json!(v))),
        ("top_k", req.top_k.map(|v| json!(v))),
        ("seed", req.seed.map(|v| json!(v))),
        ("presence_penalty", req.presence_penalty.map(|v| json!(v))),
        ("frequency_penalty", req.frequency_penalty.map(|v| json!(v))),
    ];
    for (key, value) in numbers {
        if let Some(v) = value {
            body.insert(key.into(), v);
        }
    }
}

/// OpenAI-shaped `tool_calls` (`[{id, function: {name, arguments}}]`) → canonical parts; Cohere's
/// answers use the same shape.
pub(crate) fn tool_calls(calls: &Value) -> impl Iterator<Item = Part> + '_ {
    calls.as_array().into_iter().flatten().map(|call| {
        let text = |p: &str| call.pointer(p).and_then(Value::as_str);
        Part::ToolCall(ToolCall {
            id: text("/id").unwrap_or_default().to_owned(),
            name: text("/function/name").unwrap_or_default().to_owned(),
            arguments: text("/function/arguments").unwrap_or("{}").to_owned(),
        })
    })
}

pub fn stop_reason(finish: &str) -> StopReason {
    match finish {
        "length" => StopReason::Length,
        "tool_calls" | "function_call" => StopReason::ToolCalls,
        "content_filter" => StopReason::ContentFilter,
        _ => StopReason::Stop,
    }
}

/// The members of a `chat.completion` (or a `chat.completion.chunk`) the decoders read, each
/// kept raw (a member of another type than expected is ignored, as it would be by a `Value`
/// walk, instead of failing the body).
#[derive(serde::Deserialize)]
struct WireCompletion<'a> {
    /// Chunks only: an error reported mid-stream.
    #[serde(borrow)]
    error: Option<&'a RawValue>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    model: Option<&'a RawValue>,
    #[serde(borrow)]
    choices: Option<&'a RawValue>,
    #[serde(borrow)]
    usage: Option<&'a RawValue>,
}

/// A choice: its `message` (a chunk's `delta`) and why it stopped.
#[derive(serde::Deserialize)]
struct WireChoice<'a> {
    #[serde(borrow, alias = "delta")]
    message: Option<WireMessage<'a>>,
    #[serde(borrow)]
    finish_reason: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct WireMessage<'a> {
    #[serde(borrow)]
    content: Option<&'a RawValue>,
    #[serde(borrow)]
    reasoning_content: Option<&'a RawValue>,
    #[serde(borrow)]
    tool_calls: Option<&'a RawValue>,
}

/// A raw JSON string's text; `None` for anything else.
fn raw_str(raw: Option<&RawValue>) -> Option<std::borrow::Cow<'_, str>> {
    let raw = raw?.get();
    if !raw.starts_with('"') {
        return None;
    }
    serde_json::from_str(raw).ok()
}

/// A `chat.completion` body → canonical (first choice).
pub fn response_to_canonical(body: &[u8]) -> Option<ChatResponse> {
    let v: WireCompletion<'_> = serde_json::from_slice(body).ok()?;
    let choices = v.choices?.get();
    if !choices.starts_with('[') {
        return None;
    }
    if choices[1..].trim_start().starts_with(']') {
        return None; // no choice at all
    }
    // a first choice that is not an object has no message
    let choice: Option<WireChoice<'_>> = first_choice(choices);
    let (message, finish) = match choice {
        Some(c) => (c.message, c.finish_reason),
        None => (None, None),
    };
    let mut content = Vec::new();
    if let Some(m) = &message {
        if let Some(r) = raw_str(m.reasoning_content).filter(|r| !r.is_empty()) {
            content.push(Part::Reasoning {
                text: r.into_owned(),
                signature: None,
            });
        }
        if let Some(t) = raw_str(m.content).filter(|t| !t.is_empty()) {
            content.push(Part::Text(t.into_owned()));
        }
        if let Some(calls) = m.tool_calls.filter(|c| c.get().starts_with('[')) {
            if let Ok(calls) = serde_json::from_str::<Value>(calls.get()) {
                content.extend(tool_calls(&calls));
            }
        }
    }
    let usage = match v.usage.map(RawValue::get) {
        Some(u) if u.starts_with('{') => serde_json::from_str::<WireUsageIn>(u)
            .map(Usage::from)
            .unwrap_or_default(),
        _ => Usage::default(),
    };
    Some(ChatResponse {
        id: raw_str(v.id).map(|s| s.into_owned()).unwrap_or_default(),
        model: raw_str(v.model).map(|s| s.into_owned()).unwrap_or_default(),
        content,
        stop: stop_reason(raw_str(finish).as_deref().unwrap_or("stop")),
        usage,
    })
}

/// The first element of a `choices` array: in one pass when every choice is an object (always,
/// in practice), else the first one alone (`None` when it is not an object).
fn first_choice<'a, T: serde::Deserialize<'a>>(choices: &'a str) -> Option<T> {
    match serde_json::from_str::<Vec<T>>(choices) {
        Ok(mut all) if !all.is_empty() => Some(all.swap_remove(0)),
        Ok(_) => None,
        Err(_) => {
            let all: Vec<&RawValue> = serde_json::from_str(choices).ok()?;
            serde_json::from_str(all.first()?.get()).ok()
        }
    }
}

#[derive(serde::Deserialize)]
struct ErrorIn<'a> {
    #[serde(borrow)]
    message: Option<&'a RawValue>,
}

/// The `usage` a whole OpenAI answer reports, reading nothing else of it (`None` without
/// `prompt_tokens`).
pub fn usage_in(body: &[u8]) -> Option<Usage> {
    #[derive(serde::Deserialize)]
    struct WithUsage {
        usage: Option<WireUsageIn>,
    }
    let u = serde_json::from_slice::<WithUsage>(body).ok()?.usage?;
    u.prompt_tokens?;
    Some(Usage::from(u))
}

/// `usage`, each count optional.
#[derive(serde::Deserialize)]
struct WireUsageIn {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<CachedIn>,
    completion_tokens_details: Option<ReasoningIn>,
}

#[derive(serde::Deserialize)]
struct CachedIn {
    cached_tokens: Option<u64>,
}

#[derive(serde::Deserialize)]
struct ReasoningIn {
    reasoning_tokens: Option<u64>,
}

impl From<WireUsageIn> for Usage {
    fn from(u: WireUsageIn) -> Self {
        Usage {
            input: u.prompt_tokens.unwrap_or(0),
            output: u.completion_tokens.unwrap_or(0),
            cached_input: u
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0),
            reasoning: u
                .completion_tokens_details
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}
/// `chat.completion.chunk` events → canonical stream events.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    done: bool,
    /// OpenAI tool call indexes whose start was announced.
    tools: HashSet<u64>,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn decode(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) {
        if event.data.trim() == "[DONE]" {
            self.done = true;
            out.push(StreamEvent::Done);
            return;
        }
        let Ok(v) = serde_json::from_str::<WireCompletion<'_>>(&event.data) else {
            return;
        };
        if let Some(error) = v.error {
            self.done = true;
            let message = serde_json::from_str::<ErrorIn<'_>>(error.get())
                .ok()
                .and_then(|e| raw_str(e.message).map(|m| m.into_owned()))
                .unwrap_or_else(|| "upstream stream error".to_owned());
            out.push(StreamEvent::Error { message });
            return;
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: raw_str(v.id).map(|s| s.into_owned()).unwrap_or_default(),
                model: raw_str(v.model).map(|s| s.into_owned()).unwrap_or_default(),
            });
        }
        let choice = v
            .choices
            .filter(|c| c.get().starts_with('['))
            .and_then(|c| first_choice::<WireChoice<'_>>(c.get()));
        if let Some(choice) = choice {
            if let Some(delta) = &choice.message {
                if let Some(r) = raw_str(delta.reasoning_content).filter(|r| !r.is_empty()) {
                    out.push(StreamEvent::Reasoning(r.into_owned()));
                }
                if let Some(t) = raw_str(delta.content).filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::Text(t.into_owned()));
                }
                if let Some(calls) = delta.tool_calls.filter(|c| c.get().starts_with('[')) {
                    if let Ok(calls) = serde_json::from_str::<Value>(calls.get()) {
                        self.tool_call_deltas(&calls, out);
                    }
                }
            }
            if let Some(finish) = raw_str(choice.finish_reason) {
                out.push(StreamEvent::Finish(stop_reason(&finish)));
            }
        }
        if let Some(u) = v.usage.filter(|u| u.get().starts_with('{')) {
            let u = serde_json::from_str::<WireUsageIn>(u.get())
                .map(Usage::from)
                .unwrap_or_default();
            out.push(StreamEvent::Usage(u));
        }
    }

    fn tool_call_deltas(&mut self, calls: &Value, out: &mut Vec<StreamEvent>) {
        for call in calls.as_array().into_iter().flatten() {
            let index = call["index"].as_u64().unwrap_or(0);
            let start = self.tools.insert(index);
            tool_call_events(call, usize::try_from(index).unwrap_or(0), start, out);
        }
    }
}

/// The events of one OpenAI-shaped streamed tool call (`{id, function: {name, arguments}}`) at
/// `index`: its start when `start`, then its arguments so far (Cohere's chunks share the shape).
pub(crate) fn tool_call_events(
    call: &Value,
    index: usize,
    start: bool,
    out: &mut Vec<StreamEvent>,
) {
    if start {
        out.push(StreamEvent::ToolCallStart {
            index,
            id: call["id"].as_str().unwrap_or_default().to_owned(),
            name: call
                .pointer("/function/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        });
    }
    if let Some(args) = call
        .pointer("/function/arguments")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    {
        out.push(StreamEvent::ToolCallArguments {
            index,
            delta: args.to_owned(),
        });
    }
}
