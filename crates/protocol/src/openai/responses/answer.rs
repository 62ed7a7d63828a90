//! A whole answer as a `response` object, and the usage a Responses answer reports.

use serde::Serialize;
use serde_json::Value;

use super::echo::{Echo, Or};
use crate::canonical::{ChatResponse, Part, StopReason, ToolCall, Usage};
use crate::openai::convert::{CachedTokens, ReasoningTokens};

/// `resp_…` for an answer id.
pub(super) fn response_id(id: &str) -> String {
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
pub(super) struct Incomplete {
    reason: &'static str,
}

pub(super) fn status_of(stop: Option<&StopReason>) -> (&'static str, Option<Incomplete>) {
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
pub(super) struct OutputText<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
    annotations: [(); 0],
}

impl<'a> OutputText<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        OutputText {
            kind: "output_text",
            text,
            annotations: [],
        }
    }
}

#[derive(Serialize)]
pub(super) struct SummaryText<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) text: &'a str,
}

/// One output item.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum Item<'a> {
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

pub(super) fn message_item<'a>(id: &'a str, text: &'a str, status: &'static str) -> Item<'a> {
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

pub(super) fn call_item<'a>(id: &'a str, call: &'a ToolCall, status: &'static str) -> Item<'a> {
    Item::FunctionCall {
        id,
        call_id: &call.id,
        name: &call.name,
        arguments: &call.arguments,
        status,
    }
}

pub(super) fn reasoning_item<'a>(id: &'a str, text: &'a str) -> Item<'a> {
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
struct ReasoningConfig<'a> {
    effort: Option<&'a str>,
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
    instructions: Option<&'a str>,
    max_output_tokens: Option<u64>,
    model: &'a str,
    output: I,
    parallel_tool_calls: bool,
    previous_response_id: Option<()>,
    reasoning: ReasoningConfig<'a>,
    store: bool,
    temperature: Option<f64>,
    text: Or<'a, TextConfig>,
    tool_choice: Or<'a, &'static str>,
    tools: Or<'a, [(); 0]>,
    top_p: Option<f64>,
    truncation: &'static str,
    usage: Option<WireUsage>,
    user: Option<&'a str>,
    metadata: Or<'a, Empty>,
}

/// `{}`.
#[derive(Serialize)]
pub(super) struct Empty {}

pub(super) fn response_object<'a, I: Serialize>(
    id: &'a str,
    model: &'a str,
    created: u64,
    (status, incomplete): (&'static str, Option<Incomplete>),
    output: I,
    usage: Option<&Usage>,
    echo: &'a Echo,
) -> ResponseObject<'a, I> {
    ResponseObject {
        id,
        object: "response",
        created_at: created,
        status,
        error: None,
        incomplete_details: incomplete,
        instructions: echo.instructions.as_deref(),
        max_output_tokens: echo.max_output_tokens,
        model,
        output,
        parallel_tool_calls: echo.parallel_tool_calls.unwrap_or(true),
        previous_response_id: None,
        reasoning: ReasoningConfig {
            effort: echo.reasoning_effort.as_deref(),
            summary: None,
        },
        store: false,
        temperature: echo.temperature,
        text: Or::of(
            Echo::raw(&echo.text),
            TextConfig {
                format: Format { kind: "text" },
            },
        ),
        tool_choice: Or::of(Echo::raw(&echo.tool_choice), "auto"),
        tools: Or::of(Echo::raw(&echo.tools), []),
        top_p: echo.top_p,
        truncation: "disabled",
        usage: usage.map(WireUsage::from),
        user: echo.user.as_deref(),
        metadata: Or::of(Echo::raw(&echo.metadata), Empty {}),
    }
}

/// About how many bytes `part` adds to the answer (unescaped, plus its item's members).
fn written_len(part: &Part) -> usize {
    match part {
        Part::Text(t) => t.len(),
        Part::ToolCall(c) => 128 + c.id.len() * 2 + c.name.len() + c.arguments.len(),
        Part::Reasoning { text, .. } => 96 + text.len(),
        _ => 0,
    }
}

/// A complete answer as a `response` object's JSON (`created`: Unix seconds).
pub fn response_from_canonical(
    r: &ChatResponse,
    created: u64,
    echo: &Echo,
) -> serde_json::Result<Vec<u8>> {
    let id = response_id(&r.id);
    let base = id.trim_start_matches("resp_");
    // the whole object is about 700 bytes around the text: one allocation
    let size = 768 + r.content.iter().map(written_len).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    // the common answer, one text part: its text borrowed, not gathered
    if let [Part::Text(t)] = r.content.as_slice() {
        let item_id = format!("msg_{base}_0");
        let output = [message_item(&item_id, t, "completed")];
        let status = status_of(Some(&r.stop));
        let object = response_object(&id, &r.model, created, status, output, Some(&r.usage), echo);
        serde_json::to_writer(&mut out, &object)?;
        return Ok(out);
    }
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
        echo,
    );
    serde_json::to_writer(&mut out, &object)?;
    Ok(out)
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
