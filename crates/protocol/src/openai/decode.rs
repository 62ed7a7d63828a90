//! OpenAI Chat Completions requests → canonical. One pass over the top level (the validated
//! [`ObjectView`]); each known field is deserialised into a typed, borrowing shape.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

use super::RequestError;
use crate::canonical::{
    ChatRequest, Image, Message, Part, Reasoning, ResponseFormat, Role, Tool, ToolCall, ToolChoice,
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
