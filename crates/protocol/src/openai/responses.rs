//! OpenAI's Responses API (`POST /v1/responses`) as a client dialect: the request read into the
//! canonical model, the answer written back as a `response` object, and a stream written with the
//! API's event grammar (`response.created` … `response.completed`, with `sequence_number`s).
//!
//! Input items: messages (`user`, `assistant`, `system`, `developer`; text and image parts),
//! `function_call` and `function_call_output`; reasoning items are dropped (providers re-derive
//! them). Tools: function tools. Anything else is refused by name, never dropped silently.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::RequestError;
use crate::canonical::{
    ChatRequest, ChatResponse, Image, Message, Part, Reasoning, ResponseFormat, Role, StopReason,
    StreamEvent, Tool, ToolCall, ToolChoice, Usage,
};

fn field_error(param: &str, message: String, code: &'static str) -> RequestError {
    RequestError {
        message,
        param: (!param.is_empty()).then(|| param.to_owned()),
        code,
    }
}

fn unsupported(param: &str, what: String) -> RequestError {
    field_error(
        param,
        format!("{what} is not supported by this gateway's Responses API"),
        "unsupported_value",
    )
}

#[derive(Deserialize)]
struct Body<'a> {
    #[serde(borrow)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow)]
    instructions: Option<Cow<'a, str>>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
    #[serde(borrow)]
    tools: Option<Vec<ToolDef<'a>>>,
    #[serde(borrow)]
    tool_choice: Option<&'a RawValue>,
    parallel_tool_calls: Option<bool>,
    #[serde(borrow)]
    text: Option<TextConfigIn<'a>>,
    max_output_tokens: Option<u64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    #[serde(borrow)]
    user: Option<Cow<'a, str>>,
    stream: Option<bool>,
    #[serde(borrow)]
    reasoning: Option<ReasoningIn<'a>>,
    #[serde(borrow)]
    previous_response_id: Option<&'a RawValue>,
    background: Option<bool>,
    #[serde(borrow)]
    conversation: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ToolDef<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    description: Option<Cow<'a, str>>,
    parameters: Option<Value>,
}

#[derive(Deserialize)]
struct TextConfigIn<'a> {
    #[serde(borrow)]
    format: Option<FormatIn<'a>>,
}

#[derive(Deserialize)]
struct FormatIn<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    schema: Option<Value>,
}

#[derive(Deserialize)]
struct ReasoningIn<'a> {
    #[serde(borrow)]
    effort: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct InputItem<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    role: Option<Cow<'a, str>>,
    #[serde(borrow)]
    content: Option<&'a RawValue>,
    #[serde(borrow)]
    call_id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arguments: Option<Cow<'a, str>>,
    #[serde(borrow)]
    output: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ContentPart<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    image_url: Option<Cow<'a, str>>,
}

fn invalid(param: &str, e: serde_json::Error) -> RequestError {
    field_error(param, format!("{param}: {e}"), "invalid_type")
}

fn is_null(raw: Option<&RawValue>) -> bool {
    raw.is_none_or(|r| r.get() == "null")
}

/// A Responses request → canonical.
pub fn request_to_canonical(body: &[u8]) -> Result<ChatRequest, RequestError> {
    let v: Body<'_> = serde_json::from_slice(body)
        .map_err(|e| field_error("", format!("invalid request: {e}"), "invalid_json"))?;
    if !is_null(v.previous_response_id) {
        return Err(unsupported(
            "previous_response_id",
            "`previous_response_id` (stored responses)".into(),
        ));
    }
    if v.background == Some(true) {
        return Err(unsupported("background", "`background: true`".into()));
    }
    if !is_null(v.conversation) {
        return Err(unsupported("conversation", "`conversation`".into()));
    }
    let mut req = ChatRequest {
        model: v.model.map(Cow::into_owned).unwrap_or_default(),
        max_tokens: v.max_output_tokens,
        temperature: v.temperature,
        top_p: v.top_p,
        parallel_tool_calls: v.parallel_tool_calls,
        user: v.user.map(Cow::into_owned),
        stream: v.stream.unwrap_or(false),
        // a Responses stream always ends with the usage
        include_usage: true,
        ..ChatRequest::default()
    };
    if let Some(instructions) = v.instructions.filter(|i| !i.is_empty()) {
        req.system.push(instructions.into_owned());
    }
    let input = v.input.map(RawValue::get).unwrap_or("null");
    if input.starts_with('"') {
        let text: String = serde_json::from_str(input).map_err(|e| invalid("input", e))?;
        req.messages.push(Message {
            role: Role::User,
            content: vec![Part::Text(text)],
        });
    } else if input.starts_with('[') {
        let items: Vec<InputItem<'_>> =
            serde_json::from_str(input).map_err(|e| invalid("input", e))?;
        for (i, item) in items.into_iter().enumerate() {
            input_item(&mut req, i, item)?;
        }
    } else {
        return Err(field_error(
            "input",
            "`input` must be a string or an array of input items".into(),
            "invalid_type",
        ));
    }
    for (i, t) in v.tools.into_iter().flatten().enumerate() {
        match t.kind.as_deref() {
            Some("function") => req.tools.push(Tool {
                name: t.name.map(Cow::into_owned).unwrap_or_default(),
                description: t.description.map(Cow::into_owned),
                parameters: match t.parameters {
                    None | Some(Value::Null) => json!({"type": "object", "properties": {}}),
                    Some(p) => p,
                },
            }),
            other => {
                return Err(unsupported(
                    &format!("tools.{i}.type"),
                    format!("`{}` tools", other.unwrap_or("untyped")),
                ))
            }
        }
    }
    if let Some(choice) = v.tool_choice.filter(|c| c.get() != "null") {
        req.tool_choice = Some(tool_choice(choice.get())?);
    }
    if let Some(format) = v.text.and_then(|t| t.format) {
        req.response_format = match format.kind.as_deref() {
            Some("json_object") => Some(ResponseFormat::JsonObject),
            Some("json_schema") => Some(ResponseFormat::JsonSchema {
                name: format
                    .name
                    .map_or_else(|| "response".to_owned(), Cow::into_owned),
                schema: format.schema.unwrap_or(Value::Null),
            }),
            _ => None,
        };
    }
    if let Some(effort) = v.reasoning.and_then(|r| r.effort) {
        req.reasoning = Some(Reasoning {
            effort: Some(effort.into_owned()),
            budget_tokens: None,
        });
    }
    Ok(req)
}

/// `"auto"`, `"none"`, `"required"` or `{"type": "function", "name": …}`.
fn tool_choice(raw: &str) -> Result<ToolChoice, RequestError> {
    if raw.starts_with('"') {
        let s: Cow<'_, str> = serde_json::from_str(raw).map_err(|e| invalid("tool_choice", e))?;
        return Ok(match s.as_ref() {
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            _ => ToolChoice::Auto,
        });
    }
    let v: Value = serde_json::from_str(raw).map_err(|e| invalid("tool_choice", e))?;
    match (v["type"].as_str(), v["name"].as_str()) {
        (Some("function"), Some(name)) => Ok(ToolChoice::Specific(name.to_owned())),
        _ => Err(unsupported("tool_choice", format!("`tool_choice` {v}"))),
    }
}

/// One input item into the request.
fn input_item(req: &mut ChatRequest, i: usize, item: InputItem<'_>) -> Result<(), RequestError> {
    let kind = match item.kind.as_deref() {
        Some(k) => k,
        None if item.role.is_some() => "message",
        None => "",
    };
    match kind {
        "message" => {
            let role = item.role.as_deref().unwrap_or_default();
            let parts = content_parts(item.content, &format!("input.{i}.content"))?;
            match role {
                "system" | "developer" => {
                    let text: Vec<String> = parts
                        .into_iter()
                        .filter_map(|p| match p {
                            Part::Text(t) => Some(t),
                            _ => None,
                        })
                        .collect();
                    req.system.push(text.join("\n"));
                }
                "user" => push(req, Role::User, parts),
                "assistant" => push(req, Role::Assistant, parts),
                other => {
                    return Err(field_error(
                        &format!("input.{i}.role"),
                        format!("input.{i}.role: expected user, assistant, system or developer (got `{other}`)"),
                        "invalid_value",
                    ))
                }
            }
        }
        "function_call" => push(
            req,
            Role::Assistant,
            vec![Part::ToolCall(ToolCall {
                id: item.call_id.map(Cow::into_owned).unwrap_or_default(),
                name: item.name.map(Cow::into_owned).unwrap_or_default(),
                arguments: item
                    .arguments
                    .map_or_else(|| "{}".to_owned(), Cow::into_owned),
            })],
        ),
        "function_call_output" => {
            let raw = item.output.map(RawValue::get).unwrap_or("\"\"");
            let content = if raw.starts_with('"') {
                serde_json::from_str(raw).map_err(|e| invalid(&format!("input.{i}.output"), e))?
            } else if raw.starts_with('[') {
                let parts: Vec<ContentPart<'_>> = serde_json::from_str(raw)
                    .map_err(|e| invalid(&format!("input.{i}.output"), e))?;
                parts.iter().filter_map(|p| p.text.as_deref()).collect()
            } else {
                raw.to_owned()
            };
            push(
                req,
                Role::Tool,
                vec![Part::ToolResult {
                    call_id: item.call_id.map(Cow::into_owned).unwrap_or_default(),
                    content,
                    is_error: false,
                }],
            );
        }
        // the provider's own reasoning from an earlier turn: not carried across providers
        "reasoning" => {}
        other => {
            return Err(unsupported(
                &format!("input.{i}.type"),
                format!("input items of type `{other}`"),
            ))
        }
    }
    Ok(())
}

/// Appends parts to the last message when it has the same role (a turn's tool calls come as
/// separate items), else as a new message.
fn push(req: &mut ChatRequest, role: Role, parts: Vec<Part>) {
    match req.messages.last_mut() {
        Some(last) if last.role == role && role != Role::User => last.content.extend(parts),
        _ => req.messages.push(Message {
            role,
            content: parts,
        }),
    }
}

fn content_parts(content: Option<&RawValue>, param: &str) -> Result<Vec<Part>, RequestError> {
    let raw = content.map(RawValue::get).unwrap_or("null");
    if raw.starts_with('"') {
        let text: String = serde_json::from_str(raw).map_err(|e| invalid(param, e))?;
        return Ok(vec![Part::Text(text)]);
    }
    if !raw.starts_with('[') {
        return Err(field_error(
            param,
            format!("{param}: expected a string or an array of content parts"),
            "invalid_type",
        ));
    }
    let parts: Vec<ContentPart<'_>> = serde_json::from_str(raw).map_err(|e| invalid(param, e))?;
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.into_iter().enumerate() {
        match p.kind.as_deref() {
            Some("input_text" | "output_text" | "text") => {
                out.push(Part::Text(p.text.map(Cow::into_owned).unwrap_or_default()))
            }
            Some("input_image") => match p.image_url {
                Some(url) => out.push(Part::Image(Image::from_url(&url))),
                None => {
                    return Err(unsupported(
                        &format!("{param}.{j}"),
                        "images by `file_id`".into(),
                    ))
                }
            },
            Some("refusal") => {}
            other => {
                return Err(unsupported(
                    &format!("{param}.{j}.type"),
                    format!("content parts of type `{}`", other.unwrap_or("untyped")),
                ))
            }
        }
    }
    Ok(out)
}

/// `resp_…` for an answer id.
fn response_id(id: &str) -> String {
    if id.starts_with("resp_") {
        id.to_owned()
    } else {
        format!(
            "resp_{}",
            id.trim_start_matches("chatcmpl-")
                .trim_start_matches("msg_")
        )
    }
}

#[derive(Serialize)]
struct WireUsage {
    input_tokens: u64,
    input_tokens_details: CachedTokens,
    output_tokens: u64,
    output_tokens_details: ReasoningTokens,
    total_tokens: u64,
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
            input_tokens: u.input,
            input_tokens_details: CachedTokens {
                cached_tokens: u.cached_input,
            },
            output_tokens: u.output,
            output_tokens_details: ReasoningTokens {
                reasoning_tokens: u.reasoning,
            },
            total_tokens: u.input + u.output,
        }
    }
}

#[derive(Serialize)]
struct Incomplete {
    reason: &'static str,
}

fn status_of(stop: Option<&StopReason>) -> (&'static str, Option<Incomplete>) {
    match stop {
        Some(StopReason::Length) => (
            "incomplete",
            Some(Incomplete {
                reason: "max_output_tokens",
            }),
        ),
        Some(StopReason::ContentFilter) => (
            "incomplete",
            Some(Incomplete {
                reason: "content_filter",
            }),
        ),
        _ => ("completed", None),
    }
}

/// An output text part.
#[derive(Serialize, Clone)]
struct OutputText<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
    annotations: [(); 0],
}

impl<'a> OutputText<'a> {
    fn new(text: &'a str) -> Self {
        OutputText {
            kind: "output_text",
            text,
            annotations: [],
        }
    }
}

#[derive(Serialize)]
struct SummaryText<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

/// One output item.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Item<'a> {
    Message {
        id: &'a str,
        status: &'static str,
        role: &'static str,
        content: Vec<OutputText<'a>>,
    },
    FunctionCall {
        id: &'a str,
        call_id: &'a str,
        name: &'a str,
        arguments: &'a str,
        status: &'static str,
    },
    Reasoning {
        id: &'a str,
        summary: Vec<SummaryText<'a>>,
    },
}

fn message_item<'a>(id: &'a str, text: &'a str, status: &'static str) -> Item<'a> {
    Item::Message {
        id,
        status,
        role: "assistant",
        content: match status {
            "in_progress" => Vec::new(),
            _ => vec![OutputText::new(text)],
        },
    }
}

fn call_item<'a>(id: &'a str, call: &'a ToolCall, status: &'static str) -> Item<'a> {
    Item::FunctionCall {
        id,
        call_id: &call.id,
        name: &call.name,
        arguments: &call.arguments,
        status,
    }
}

fn reasoning_item<'a>(id: &'a str, text: &'a str) -> Item<'a> {
    Item::Reasoning {
        id,
        summary: match text {
            "" => Vec::new(),
            t => vec![SummaryText {
                kind: "summary_text",
                text: t,
            }],
        },
    }
}

#[derive(Serialize)]
struct Format {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct TextConfig {
    format: Format,
}

#[derive(Serialize)]
struct ReasoningConfig {
    effort: Option<()>,
    summary: Option<()>,
}

/// The `response` object.
#[derive(Serialize)]
pub struct ResponseObject<'a, I: Serialize> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    status: &'static str,
    error: Option<()>,
    incomplete_details: Option<Incomplete>,
    instructions: Option<()>,
    max_output_tokens: Option<()>,
    model: &'a str,
    output: I,
    parallel_tool_calls: bool,
    previous_response_id: Option<()>,
    reasoning: ReasoningConfig,
    store: bool,
    temperature: Option<()>,
    text: TextConfig,
    tool_choice: &'static str,
    tools: [(); 0],
    top_p: Option<()>,
    truncation: &'static str,
    usage: Option<WireUsage>,
    user: Option<()>,
    metadata: Empty,
}

/// `{}`.
#[derive(Serialize)]
struct Empty {}

fn response_object<'a, I: Serialize>(
    id: &'a str,
    model: &'a str,
    created: u64,
    (status, incomplete): (&'static str, Option<Incomplete>),
    output: I,
    usage: Option<&Usage>,
) -> ResponseObject<'a, I> {
    ResponseObject {
        id,
        object: "response",
        created_at: created,
        status,
        error: None,
        incomplete_details: incomplete,
        instructions: None,
        max_output_tokens: None,
        model,
        output,
        parallel_tool_calls: true,
        previous_response_id: None,
        reasoning: ReasoningConfig {
            effort: None,
            summary: None,
        },
        store: false,
        temperature: None,
        text: TextConfig {
            format: Format { kind: "text" },
        },
        tool_choice: "auto",
        tools: [],
        top_p: None,
        truncation: "disabled",
        usage: usage.map(WireUsage::from),
        user: None,
        metadata: Empty {},
    }
}

/// A complete answer as a `response` object's JSON (`created`: Unix seconds).
pub fn response_from_canonical(r: &ChatResponse, created: u64) -> serde_json::Result<Vec<u8>> {
    let id = response_id(&r.id);
    let base = id.trim_start_matches("resp_");
    // item ids first (the items borrow them), then the items
    let mut text = String::new();
    let mut spans: Vec<(usize, usize, String)> = Vec::new(); // message text ranges and ids
    let mut order: Vec<(u8, usize)> = Vec::new(); // 0 = message span, 1 = call, 2 = reasoning
    let mut ids: Vec<String> = Vec::new();
    let mut open = None;
    for (i, part) in r.content.iter().enumerate() {
        match part {
            Part::Text(t) => {
                if open.is_none() {
                    open = Some(text.len());
                }
                text.push_str(t);
            }
            Part::ToolCall(_) | Part::Reasoning { .. } => {
                if let Some(from) = open.take() {
                    spans.push((from, text.len(), format!("msg_{base}_{}", order.len())));
                    order.push((0, spans.len() - 1));
                }
                match part {
                    Part::ToolCall(call) => ids.push(format!("fc_{}", call.id)),
                    _ => ids.push(format!("rs_{base}_{}", order.len())),
                }
                order.push((
                    if matches!(part, Part::ToolCall(_)) {
                        1
                    } else {
                        2
                    },
                    i,
                ));
            }
            _ => {}
        }
    }
    if let Some(from) = open.take() {
        spans.push((from, text.len(), format!("msg_{base}_{}", order.len())));
        order.push((0, spans.len() - 1));
    }
    let mut next_id = ids.iter();
    let mut output = Vec::with_capacity(order.len());
    for (kind, i) in order {
        match (kind, &r.content.get(i)) {
            (0, _) => {
                let (from, to, id) = &spans[i];
                output.push(message_item(id, &text[*from..*to], "completed"));
            }
            (1, Some(Part::ToolCall(call))) => {
                if let Some(id) = next_id.next() {
                    output.push(call_item(id, call, "completed"));
                }
            }
            (2, Some(Part::Reasoning { text: t, .. })) => {
                if let Some(id) = next_id.next() {
                    output.push(reasoning_item(id, t));
                }
            }
            _ => {}
        }
    }
    let object = response_object(
        &id,
        &r.model,
        created,
        status_of(Some(&r.stop)),
        output,
        Some(&r.usage),
    );
    serde_json::to_vec(&object)
}

/// The token usage a Responses answer reports: a `response` object, or a stream's
/// `response.completed` event.
pub fn usage_of(body: &[u8], stream: bool) -> Option<Usage> {
    let read = |u: &Value| -> Option<Usage> {
        Some(Usage {
            input: u["input_tokens"].as_u64()?,
            output: u["output_tokens"].as_u64()?,
            cached_input: u["input_tokens_details"]["cached_tokens"]
                .as_u64()
                .unwrap_or(0),
            reasoning: u["output_tokens_details"]["reasoning_tokens"]
                .as_u64()
                .unwrap_or(0),
        })
    };
    if !stream {
        let v: Value = serde_json::from_slice(body).ok()?;
        return read(&v["usage"]);
    }
    let mut events = Vec::new();
    crate::sse::Parser::new().feed(body, &mut events);
    events.iter().rev().find_map(|e| {
        if !e.data.contains("\"response.completed\"") && !e.data.contains("\"response.incomplete\"")
        {
            return None;
        }
        let v: Value = serde_json::from_str(&e.data).ok()?;
        read(&v["response"]["usage"])
    })
}

/// An output item of a stream, finished or open.
#[derive(Debug)]
enum Owned {
    Message { id: String, text: String },
    Reasoning { id: String, text: String },
    Call { id: String, call: ToolCall },
}

impl Owned {
    fn item(&self, status: &'static str) -> Item<'_> {
        match self {
            Owned::Message { id, text } => message_item(id, text, status),
            Owned::Reasoning { id, text } => reasoning_item(id, text),
            Owned::Call { id, call } => call_item(id, call, status),
        }
    }
}

#[derive(Serialize)]
struct ItemEvent<'a> {
    output_index: usize,
    item: Item<'a>,
}

#[derive(Serialize)]
struct PartEvent<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: u32,
    part: OutputText<'a>,
}

#[derive(Serialize)]
struct TextDelta<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: u32,
    delta: &'a str,
    logprobs: [(); 0],
}

#[derive(Serialize)]
struct TextDone<'a> {
    item_id: &'a str,
    output_index: usize,
    content_index: u32,
    text: &'a str,
}

#[derive(Serialize)]
struct SummaryPart<'a> {
    item_id: &'a str,
    output_index: usize,
    summary_index: u32,
    part: SummaryText<'a>,
}

#[derive(Serialize)]
struct SummaryDelta<'a> {
    item_id: &'a str,
    output_index: usize,
    summary_index: u32,
    delta: &'a str,
}

#[derive(Serialize)]
struct SummaryDone<'a> {
    item_id: &'a str,
    output_index: usize,
    summary_index: u32,
    text: &'a str,
}

#[derive(Serialize)]
struct ArgsDelta<'a> {
    item_id: &'a str,
    output_index: usize,
    delta: &'a str,
}

#[derive(Serialize)]
struct ArgsDone<'a> {
    item_id: &'a str,
    output_index: usize,
    arguments: &'a str,
}

#[derive(Serialize)]
struct ResponseEvent<'a, I: Serialize> {
    response: ResponseObject<'a, I>,
}

#[derive(Serialize)]
struct ErrorEvent<'a> {
    code: &'static str,
    message: &'a str,
    param: Option<()>,
}

/// Canonical stream events → the Responses API's stream events.
#[derive(Debug)]
pub struct StreamEncoder {
    id: String,
    model: String,
    created: u64,
    sequence: u64,
    started: bool,
    done: bool,
    /// Output items in order; the last one is open while `open` says so.
    items: Vec<Owned>,
    open: bool,
    /// Tool calls by their canonical index: their position in `items`.
    calls: Vec<usize>,
    stop: Option<StopReason>,
    usage: Option<Usage>,
}

/// Writes one event: `event: KIND`, then `data:` with `type` and `sequence_number` first and the
/// body's own members after.
fn write_event<T: Serialize>(sequence: &mut u64, kind: &str, body: &T, out: &mut Vec<u8>) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: {\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"sequence_number\":");
    out.extend_from_slice(sequence.to_string().as_bytes());
    *sequence += 1;
    let start = out.len();
    if serde_json::to_writer(&mut *out, body).is_err() || out.len() - start < 2 {
        out.truncate(start);
        out.push(b'}');
    } else if out.len() - start == 2 {
        // `{}`: nothing to add
        out.truncate(start);
        out.push(b'}');
    } else {
        out[start] = b',';
    }
    out.extend_from_slice(b"\n\n");
}

impl StreamEncoder {
    pub fn new(model: &str, created: u64) -> Self {
        StreamEncoder {
            id: String::new(),
            model: model.to_owned(),
            created,
            sequence: 0,
            started: false,
            done: false,
            items: Vec::new(),
            open: false,
            calls: Vec::new(),
            stop: None,
            usage: None,
        }
    }

    fn start(&mut self, id: Option<&str>, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = response_id(id.filter(|i| !i.is_empty()).unwrap_or("stream"));
        for kind in ["response.created", "response.in_progress"] {
            let response = response_object(
                &self.id,
                &self.model,
                self.created,
                ("in_progress", None),
                [(); 0],
                None,
            );
            write_event(&mut self.sequence, kind, &ResponseEvent { response }, out);
        }
    }

    fn item_id(&self, prefix: &str) -> String {
        format!(
            "{prefix}_{}_{}",
            self.id.trim_start_matches("resp_"),
            self.items.len()
        )
    }

    /// Opens `item` (its `output_item.added`).
    fn open_item(&mut self, item: Owned, out: &mut Vec<u8>) {
        let index = self.items.len();
        self.items.push(item);
        self.open = true;
        let event = ItemEvent {
            output_index: index,
            item: self.items[index].item("in_progress"),
        };
        write_event(
            &mut self.sequence,
            "response.output_item.added",
            &event,
            out,
        );
    }

    /// Finishes the open item (its `…done` events).
    fn close(&mut self, out: &mut Vec<u8>) {
        if !std::mem::replace(&mut self.open, false) {
            return;
        }
        let index = self.items.len() - 1;
        let seq = &mut self.sequence;
        match &self.items[index] {
            Owned::Message { id, text } => {
                let (item_id, output_index, content_index) = (id.as_str(), index, 0);
                let done = TextDone {
                    item_id,
                    output_index,
                    content_index,
                    text,
                };
                write_event(seq, "response.output_text.done", &done, out);
                let part = OutputText::new(text);
                let done = PartEvent {
                    item_id,
                    output_index,
                    content_index,
                    part,
                };
                write_event(seq, "response.content_part.done", &done, out);
            }
            Owned::Reasoning { id, text } => {
                let (item_id, output_index, summary_index) = (id.as_str(), index, 0);
                let done = SummaryDone {
                    item_id,
                    output_index,
                    summary_index,
                    text,
                };
                write_event(seq, "response.reasoning_summary_text.done", &done, out);
            }
            Owned::Call { id, call } => {
                let done = ArgsDone {
                    item_id: id,
                    output_index: index,
                    arguments: &call.arguments,
                };
                write_event(seq, "response.function_call_arguments.done", &done, out);
            }
        }
        let event = ItemEvent {
            output_index: index,
            item: self.items[index].item("completed"),
        };
        write_event(seq, "response.output_item.done", &event, out);
    }

    pub fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::Start { id, model } => {
                if !model.is_empty() && self.model.is_empty() {
                    self.model = model.clone();
                }
                self.start(Some(id), out);
            }
            StreamEvent::Text(delta) => {
                self.start(None, out);
                let open_message =
                    self.open && matches!(self.items.last(), Some(Owned::Message { .. }));
                if !open_message {
                    self.close(out);
                    let id = self.item_id("msg");
                    self.open_item(
                        Owned::Message {
                            id,
                            text: String::new(),
                        },
                        out,
                    );
                    let index = self.items.len() - 1;
                    if let Some(Owned::Message { id, .. }) = self.items.last() {
                        let event = PartEvent {
                            item_id: id,
                            output_index: index,
                            content_index: 0,
                            part: OutputText::new(""),
                        };
                        write_event(
                            &mut self.sequence,
                            "response.content_part.added",
                            &event,
                            out,
                        );
                    }
                }
                let index = self.items.len() - 1;
                if let Some(Owned::Message { id, text }) = self.items.last_mut() {
                    text.push_str(delta);
                    let event = TextDelta {
                        item_id: id,
                        output_index: index,
                        content_index: 0,
                        delta,
                        logprobs: [],
                    };
                    write_event(
                        &mut self.sequence,
                        "response.output_text.delta",
                        &event,
                        out,
                    );
                }
            }
            StreamEvent::Reasoning(delta) => {
                self.start(None, out);
                let open_reasoning =
                    self.open && matches!(self.items.last(), Some(Owned::Reasoning { .. }));
                if !open_reasoning {
                    self.close(out);
                    let id = self.item_id("rs");
                    self.open_item(
                        Owned::Reasoning {
                            id,
                            text: String::new(),
                        },
                        out,
                    );
                    let index = self.items.len() - 1;
                    if let Some(Owned::Reasoning { id, .. }) = self.items.last() {
                        let event = SummaryPart {
                            item_id: id,
                            output_index: index,
                            summary_index: 0,
                            part: SummaryText {
                                kind: "summary_text",
                                text: "",
                            },
                        };
                        write_event(
                            &mut self.sequence,
                            "response.reasoning_summary_part.added",
                            &event,
                            out,
                        );
                    }
                }
                let index = self.items.len() - 1;
                if let Some(Owned::Reasoning { id, text }) = self.items.last_mut() {
                    text.push_str(delta);
                    let event = SummaryDelta {
                        item_id: id,
                        output_index: index,
                        summary_index: 0,
                        delta,
                    };
                    write_event(
                        &mut self.sequence,
                        "response.reasoning_summary_text.delta",
                        &event,
                        out,
                    );
                }
            }
            StreamEvent::ToolCallStart { id, name, .. } => {
                self.start(None, out);
                self.close(out);
                let call = ToolCall {
                    id: id.clone(),
                    name: name.clone(),
                    arguments: String::new(),
                };
                self.calls.push(self.items.len());
                self.open_item(
                    Owned::Call {
                        id: format!("fc_{id}"),
                        call,
                    },
                    out,
                );
            }
            StreamEvent::ToolCallArguments { index, delta } => {
                let Some(&at) = self.calls.get(*index) else {
                    return;
                };
                if let Some(Owned::Call { id, call }) = self.items.get_mut(at) {
                    call.arguments.push_str(delta);
                    let event = ArgsDelta {
                        item_id: id,
                        output_index: at,
                        delta,
                    };
                    write_event(
                        &mut self.sequence,
                        "response.function_call_arguments.delta",
                        &event,
                        out,
                    );
                }
            }
            StreamEvent::Finish(stop) => self.stop = Some(stop.clone()),
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::Error { message } => {
                self.start(None, out);
                self.done = true;
                let event = ErrorEvent {
                    code: "upstream_error",
                    message,
                    param: None,
                };
                write_event(&mut self.sequence, "error", &event, out);
            }
            StreamEvent::Done => {
                self.start(None, out);
                self.close(out);
                self.done = true;
                let status = status_of(self.stop.as_ref());
                let kind = match status.0 {
                    "completed" => "response.completed",
                    _ => "response.incomplete",
                };
                let output: Vec<Item<'_>> =
                    self.items.iter().map(|i| i.item("completed")).collect();
                let usage = self.usage.unwrap_or_default();
                let response = response_object(
                    &self.id,
                    &self.model,
                    self.created,
                    status,
                    output,
                    Some(&usage),
                );
                write_event(&mut self.sequence, kind, &ResponseEvent { response }, out);
            }
        }
    }
}

#[cfg(test)]
mod tests;
