//! A Responses request read into the canonical model (borrowing, typed: only the members the
//! gateway reads are parsed).

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::echo::Echo;
use crate::canonical::{
    ChatRequest, Image, Message, Part, Reasoning, ResponseFormat, Role, Tool, ToolCall, ToolChoice,
};
use crate::openai::RequestError;

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
    tools: Option<&'a RawValue>,
    #[serde(borrow)]
    tool_choice: Option<&'a RawValue>,
    parallel_tool_calls: Option<bool>,
    #[serde(borrow)]
    text: Option<&'a RawValue>,
    #[serde(borrow)]
    metadata: Option<&'a RawValue>,
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
    request_with_echo(body).map(|(req, _)| req)
}

/// A member kept as the client wrote it (`null` counts as absent).
fn kept(raw: Option<&RawValue>) -> Option<Box<RawValue>> {
    raw.filter(|r| r.get() != "null").map(RawValue::to_owned)
}

/// A Responses request → canonical, and what its `response` objects echo of it.
pub fn request_with_echo(body: &[u8]) -> Result<(ChatRequest, Echo), RequestError> {
    let v: Body<'_> = serde_json::from_slice(body)
        .map_err(|e| field_error("", format!("invalid request: {e}"), "invalid_json"))?;
    let echo = Echo {
        instructions: v.instructions.as_deref().map(str::to_owned),
        max_output_tokens: v.max_output_tokens,
        temperature: v.temperature,
        top_p: v.top_p,
        parallel_tool_calls: v.parallel_tool_calls,
        user: v.user.as_deref().map(str::to_owned),
        reasoning_effort: v
            .reasoning
            .as_ref()
            .and_then(|r| r.effort.as_deref())
            .map(str::to_owned),
        tools: kept(v.tools),
        tool_choice: kept(v.tool_choice),
        text: kept(v.text),
        metadata: kept(v.metadata),
    };
    let tools: Vec<ToolDef<'_>> = match v.tools.filter(|t| t.get() != "null") {
        Some(raw) => serde_json::from_str(raw.get()).map_err(|e| invalid("tools", e))?,
        None => Vec::new(),
    };
    let text: Option<TextConfigIn<'_>> = match v.text.filter(|t| t.get() != "null") {
        Some(raw) => Some(serde_json::from_str(raw.get()).map_err(|e| invalid("text", e))?),
        None => None,
    };
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
    for (i, t) in tools.into_iter().enumerate() {
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
    if let Some(format) = text.and_then(|t| t.format) {
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
    Ok((req, echo))
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
