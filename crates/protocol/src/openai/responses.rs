//! OpenAI's Responses API (`POST /v1/responses`) as a client dialect: the request read into the
//! canonical model, the answer written back as a `response` object, and a stream written with the
//! API's event grammar (`response.created` … `response.completed`, with `sequence_number`s).
//!
//! Input items: messages (`user`, `assistant`, `system`, `developer`; text and image parts),
//! `function_call` and `function_call_output`; reasoning items are dropped (providers re-derive
//! them). Tools: function tools. Anything else is refused by name, never dropped silently.

use serde_json::{json, Map, Value};

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

/// A Responses request → canonical.
pub fn request_to_canonical(body: &[u8]) -> Result<ChatRequest, RequestError> {
    let v: Map<String, Value> = serde_json::from_slice(body)
        .map_err(|e| field_error("", format!("invalid request: {e}"), "invalid_json"))?;
    if v.get("previous_response_id").is_some_and(|p| !p.is_null()) {
        return Err(unsupported(
            "previous_response_id",
            "`previous_response_id` (stored responses)".into(),
        ));
    }
    if v.get("background").and_then(Value::as_bool) == Some(true) {
        return Err(unsupported("background", "`background: true`".into()));
    }
    if v.get("conversation").is_some_and(|c| !c.is_null()) {
        return Err(unsupported("conversation", "`conversation`".into()));
    }
    let mut req = ChatRequest {
        model: v
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        max_tokens: v.get("max_output_tokens").and_then(Value::as_u64),
        temperature: v.get("temperature").and_then(Value::as_f64),
        top_p: v.get("top_p").and_then(Value::as_f64),
        parallel_tool_calls: v.get("parallel_tool_calls").and_then(Value::as_bool),
        user: v.get("user").and_then(Value::as_str).map(str::to_owned),
        stream: v.get("stream").and_then(Value::as_bool).unwrap_or(false),
        // a Responses stream always ends with the usage
        include_usage: true,
        ..ChatRequest::default()
    };
    if let Some(instructions) = v.get("instructions").and_then(Value::as_str) {
        if !instructions.is_empty() {
            req.system.push(instructions.to_owned());
        }
    }
    match v.get("input") {
        Some(Value::String(text)) => req.messages.push(Message {
            role: Role::User,
            content: vec![Part::Text(text.clone())],
        }),
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                input_item(&mut req, i, item)?;
            }
        }
        _ => {
            return Err(field_error(
                "input",
                "`input` must be a string or an array of input items".into(),
                "invalid_type",
            ))
        }
    }
    for (i, t) in v
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        match t["type"].as_str() {
            Some("function") => req.tools.push(Tool {
                name: t["name"].as_str().unwrap_or_default().to_owned(),
                description: t["description"].as_str().map(str::to_owned),
                parameters: match &t["parameters"] {
                    Value::Null => json!({"type": "object", "properties": {}}),
                    p => p.clone(),
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
    req.tool_choice = match v.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "none" => ToolChoice::None,
            "required" => ToolChoice::Required,
            _ => ToolChoice::Auto,
        }),
        Some(Value::Object(o)) if o.get("type").and_then(Value::as_str) == Some("function") => {
            Some(ToolChoice::Specific(
                o.get("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
            ))
        }
        Some(other) => {
            return Err(unsupported("tool_choice", format!("`tool_choice` {other}")));
        }
    };
    if let Some(format) = v.get("text").and_then(|t| t.get("format")) {
        req.response_format = match format["type"].as_str() {
            Some("json_object") => Some(ResponseFormat::JsonObject),
            Some("json_schema") => Some(ResponseFormat::JsonSchema {
                name: format["name"].as_str().unwrap_or("response").to_owned(),
                schema: format["schema"].clone(),
            }),
            _ => None,
        };
    }
    if let Some(r) = v.get("reasoning").filter(|r| r.is_object()) {
        if let Some(effort) = r["effort"].as_str() {
            req.reasoning = Some(Reasoning {
                effort: Some(effort.to_owned()),
                budget_tokens: None,
            });
        }
    }
    Ok(req)
}

/// One input item into the request.
fn input_item(req: &mut ChatRequest, i: usize, item: &Value) -> Result<(), RequestError> {
    let kind = item["type"]
        .as_str()
        .unwrap_or(if item.get("role").is_some() {
            "message"
        } else {
            ""
        });
    match kind {
        "message" => {
            let role = item["role"].as_str().unwrap_or_default();
            let parts = content_parts(&item["content"], &format!("input.{i}.content"))?;
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
                id: item["call_id"].as_str().unwrap_or_default().to_owned(),
                name: item["name"].as_str().unwrap_or_default().to_owned(),
                arguments: item["arguments"].as_str().unwrap_or("{}").to_owned(),
            })],
        ),
        "function_call_output" => {
            let content = match &item["output"] {
                Value::String(s) => s.clone(),
                Value::Array(parts) => parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join(""),
                other => other.to_string(),
            };
            push(
                req,
                Role::Tool,
                vec![Part::ToolResult {
                    call_id: item["call_id"].as_str().unwrap_or_default().to_owned(),
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

fn content_parts(content: &Value, param: &str) -> Result<Vec<Part>, RequestError> {
    let parts = match content {
        Value::String(s) => return Ok(vec![Part::Text(s.clone())]),
        Value::Array(parts) => parts,
        _ => {
            return Err(field_error(
                param,
                format!("{param}: expected a string or an array of content parts"),
                "invalid_type",
            ))
        }
    };
    let mut out = Vec::with_capacity(parts.len());
    for (j, p) in parts.iter().enumerate() {
        match p["type"].as_str() {
            Some("input_text" | "output_text" | "text") => out.push(Part::Text(
                p["text"].as_str().unwrap_or_default().to_owned(),
            )),
            Some("input_image") => match p["image_url"].as_str() {
                Some(url) => out.push(Part::Image(Image::from_url(url))),
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

fn usage_json(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input,
        "input_tokens_details": {"cached_tokens": u.cached_input},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": u.input + u.output,
    })
}

fn status_of(stop: Option<&StopReason>) -> (&'static str, Value) {
    match stop {
        Some(StopReason::Length) => ("incomplete", json!({"reason": "max_output_tokens"})),
        Some(StopReason::ContentFilter) => ("incomplete", json!({"reason": "content_filter"})),
        _ => ("completed", Value::Null),
    }
}

/// The `response` object around `output`.
fn response_object(
    id: &str,
    model: &str,
    created: u64,
    status: &str,
    incomplete: Value,
    output: Vec<Value>,
    usage: Option<&Usage>,
) -> Value {
    json!({
        "id": id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": null,
        "incomplete_details": incomplete,
        "instructions": null,
        "max_output_tokens": null,
        "model": model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "store": false,
        "temperature": null,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": null,
        "truncation": "disabled",
        "usage": usage.map(usage_json),
        "user": null,
        "metadata": {},
    })
}

fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
           "content": if status == "in_progress" { json!([]) } else {
               json!([{"type": "output_text", "text": text, "annotations": []}]) }})
}

fn call_item(id: &str, call: &ToolCall, status: &str) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call.id, "name": call.name,
           "arguments": call.arguments, "status": status})
}

fn reasoning_item(id: &str, text: &str) -> Value {
    let summary = if text.is_empty() {
        json!([])
    } else {
        json!([{"type": "summary_text", "text": text}])
    };
    json!({"type": "reasoning", "id": id, "summary": summary})
}

/// A complete answer as a `response` object (`created`: Unix seconds).
pub fn response_from_canonical(r: &ChatResponse, created: u64) -> Value {
    let id = response_id(&r.id);
    let base = id.trim_start_matches("resp_");
    let mut output = Vec::new();
    let mut text = String::new();
    let flush = |text: &mut String, output: &mut Vec<Value>| {
        if !text.is_empty() {
            let n = output.len();
            output.push(message_item(&format!("msg_{base}_{n}"), text, "completed"));
            text.clear();
        }
    };
    for part in &r.content {
        match part {
            Part::Text(t) => text.push_str(t),
            Part::ToolCall(call) => {
                flush(&mut text, &mut output);
                output.push(call_item(&format!("fc_{}", call.id), call, "completed"));
            }
            Part::Reasoning { text: r, .. } => {
                flush(&mut text, &mut output);
                let n = output.len();
                output.push(reasoning_item(&format!("rs_{base}_{n}"), r));
            }
            _ => {}
        }
    }
    flush(&mut text, &mut output);
    let (status, incomplete) = status_of(Some(&r.stop));
    response_object(
        &id,
        &r.model,
        created,
        status,
        incomplete,
        output,
        Some(&r.usage),
    )
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

/// What is open in the stream.
#[derive(Debug)]
enum Open {
    None,
    Message {
        index: usize,
        id: String,
    },
    Reasoning {
        index: usize,
        id: String,
    },
    Call {
        index: usize,
        id: String,
        call: usize,
    },
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
    open: Open,
    /// Output items finished so far, in order.
    output: Vec<Value>,
    text: String,
    reasoning: String,
    /// Tool calls by their canonical index: (output index, item id, the call so far).
    calls: Vec<(usize, String, ToolCall)>,
    stop: Option<StopReason>,
    usage: Option<Usage>,
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
            open: Open::None,
            output: Vec::new(),
            text: String::new(),
            reasoning: String::new(),
            calls: Vec::new(),
            stop: None,
            usage: None,
        }
    }

    fn emit(&mut self, kind: &str, mut data: Value, out: &mut Vec<u8>) {
        if let Value::Object(m) = &mut data {
            m.insert("type".into(), Value::String(kind.to_owned()));
            m.insert("sequence_number".into(), Value::from(self.sequence));
        }
        self.sequence += 1;
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        out.extend_from_slice(data.to_string().as_bytes());
        out.extend_from_slice(b"\n\n");
    }

    fn start(&mut self, id: Option<&str>, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        self.id = response_id(id.filter(|i| !i.is_empty()).unwrap_or("stream"));
        let snapshot = response_object(
            &self.id,
            &self.model,
            self.created,
            "in_progress",
            Value::Null,
            Vec::new(),
            None,
        );
        self.emit(
            "response.created",
            json!({"response": snapshot.clone()}),
            out,
        );
        self.emit("response.in_progress", json!({"response": snapshot}), out);
    }

    fn item_id(&self, prefix: &str) -> String {
        format!(
            "{prefix}_{}_{}",
            self.id.trim_start_matches("resp_"),
            self.output.len()
        )
    }

    /// Finishes the open item (its `…done` events).
    fn close(&mut self, out: &mut Vec<u8>) {
        match std::mem::replace(&mut self.open, Open::None) {
            Open::None => {}
            Open::Message { index, id } => {
                let text = std::mem::take(&mut self.text);
                self.emit(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text}),
                    out,
                );
                self.emit(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0,
                           "part": {"type": "output_text", "text": text, "annotations": []}}),
                    out,
                );
                let item = message_item(&id, &text, "completed");
                self.emit(
                    "response.output_item.done",
                    json!({"output_index": index, "item": item.clone()}),
                    out,
                );
                self.output.push(item);
            }
            Open::Reasoning { index, id } => {
                let text = std::mem::take(&mut self.reasoning);
                self.emit(
                    "response.reasoning_summary_text.done",
                    json!({"item_id": id, "output_index": index, "summary_index": 0, "text": text}),
                    out,
                );
                let item = reasoning_item(&id, &text);
                self.emit(
                    "response.output_item.done",
                    json!({"output_index": index, "item": item.clone()}),
                    out,
                );
                self.output.push(item);
            }
            Open::Call { index, id, call } => {
                let done = self.calls[call].2.clone();
                self.emit(
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "arguments": done.arguments}),
                    out,
                );
                let item = call_item(&id, &done, "completed");
                self.emit(
                    "response.output_item.done",
                    json!({"output_index": index, "item": item.clone()}),
                    out,
                );
                self.output.push(item);
            }
        }
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
                if !matches!(self.open, Open::Message { .. }) {
                    self.close(out);
                    let (index, id) = (self.output.len(), self.item_id("msg"));
                    self.emit(
                        "response.output_item.added",
                        json!({"output_index": index, "item": message_item(&id, "", "in_progress")}),
                        out,
                    );
                    self.emit(
                        "response.content_part.added",
                        json!({"item_id": id, "output_index": index, "content_index": 0,
                               "part": {"type": "output_text", "text": "", "annotations": []}}),
                        out,
                    );
                    self.open = Open::Message { index, id };
                }
                if let Open::Message { index, id } = &self.open {
                    let data = json!({"item_id": id, "output_index": index, "content_index": 0,
                                      "delta": delta, "logprobs": []});
                    self.text.push_str(delta);
                    self.emit("response.output_text.delta", data, out);
                }
            }
            StreamEvent::Reasoning(delta) => {
                self.start(None, out);
                if !matches!(self.open, Open::Reasoning { .. }) {
                    self.close(out);
                    let (index, id) = (self.output.len(), self.item_id("rs"));
                    self.emit(
                        "response.output_item.added",
                        json!({"output_index": index, "item": reasoning_item(&id, "")}),
                        out,
                    );
                    self.emit(
                        "response.reasoning_summary_part.added",
                        json!({"item_id": id, "output_index": index, "summary_index": 0,
                               "part": {"type": "summary_text", "text": ""}}),
                        out,
                    );
                    self.open = Open::Reasoning { index, id };
                }
                if let Open::Reasoning { index, id } = &self.open {
                    let data = json!({"item_id": id, "output_index": index, "summary_index": 0,
                                      "delta": delta});
                    self.reasoning.push_str(delta);
                    self.emit("response.reasoning_summary_text.delta", data, out);
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
                let (index, item_id) = (self.output.len(), format!("fc_{id}"));
                self.emit(
                    "response.output_item.added",
                    json!({"output_index": index, "item": call_item(&item_id, &call, "in_progress")}),
                    out,
                );
                self.calls.push((index, item_id.clone(), call));
                self.open = Open::Call {
                    index,
                    id: item_id,
                    call: self.calls.len() - 1,
                };
            }
            StreamEvent::ToolCallArguments { index, delta } => {
                if let Some((output_index, item_id, call)) = self.calls.get_mut(*index) {
                    call.arguments.push_str(delta);
                    let data = json!({"item_id": item_id, "output_index": output_index,
                                      "delta": delta});
                    self.emit("response.function_call_arguments.delta", data, out);
                }
            }
            StreamEvent::Finish(stop) => self.stop = Some(stop.clone()),
            StreamEvent::Usage(u) => self.usage = Some(*u),
            StreamEvent::Error { message } => {
                self.start(None, out);
                self.done = true;
                self.emit(
                    "error",
                    json!({"code": "upstream_error", "message": message, "param": null}),
                    out,
                );
            }
            StreamEvent::Done => {
                self.start(None, out);
                self.close(out);
                self.done = true;
                let (status, incomplete) = status_of(self.stop.as_ref());
                let response = response_object(
                    &self.id,
                    &self.model,
                    self.created,
                    status,
                    incomplete,
                    std::mem::take(&mut self.output),
                    Some(&self.usage.unwrap_or_default()),
                );
                let kind = if status == "completed" {
                    "response.completed"
                } else {
                    "response.incomplete"
                };
                self.emit(kind, json!({"response": response}), out);
            }
        }
    }
}

#[cfg(test)]
mod tests;
