//! Canonical stream events written as the Responses API's stream events.

use serde::Serialize;

use super::answer::{
    call_item, message_item, reasoning_item, response_id, response_object, status_of, Item,
    OutputText, ResponseObject, SummaryText,
};
use super::echo::Echo;
use crate::canonical::{StopReason, StreamEvent, ToolCall, Usage};

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
    /// What the `response` objects repeat of the request.
    echo: Echo,
}

/// Writes `n` in decimal (no allocation: this runs for every event).
fn push_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Writes one event: `event: KIND`, then `data:` with `type` and `sequence_number` first and the
/// body's own members after.
fn write_event<T: Serialize>(sequence: &mut u64, kind: &str, body: &T, out: &mut Vec<u8>) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\ndata: {\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"sequence_number\":");
    push_u64(out, *sequence);
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
            echo: Echo::default(),
        }
    }

    /// The `response` objects repeat `echo` (what the request set).
    pub fn with_echo(mut self, echo: Echo) -> Self {
        self.echo = echo;
        self
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
                &self.echo,
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
                let part = SummaryPart {
                    item_id,
                    output_index,
                    summary_index,
                    part: SummaryText {
                        kind: "summary_text",
                        text,
                    },
                };
                write_event(seq, "response.reasoning_summary_part.done", &part, out);
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
                    &self.echo,
                );
                write_event(&mut self.sequence, kind, &ResponseEvent { response }, out);
            }
        }
    }
}
