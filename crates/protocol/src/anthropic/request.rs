//! Canonical request → Anthropic Messages request body. Serialised from typed, borrowing structs
//! (no `serde_json::Value` tree): this runs on every translated request.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

use crate::canonical::{ChatRequest, Image, Part, ResponseFormat, Role, ToolChoice, Unsupported};

/// `max_tokens` is required by Anthropic; used when the client did not set one.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

const PROVIDER: &str = "anthropic";

fn unsupported(feature: &str) -> Unsupported {
    Unsupported {
        feature: feature.to_owned(),
        provider: PROVIDER,
    }
}

/// A Messages request body.
#[derive(Serialize)]
pub struct MessagesBody<'a> {
    model: &'a str,
    max_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<Block<'a>>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolDef<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(flatten)]
    extra: Extras<'a>,
}

#[derive(Serialize)]
struct Metadata<'a> {
    user_id: &'a str,
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Serialize)]
struct ToolDef<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: &'a Value,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    Image {
        source: Source<'a>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a RawValue,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: &'a str,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        is_error: bool,
    },
    Thinking {
        thinking: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        signature: Option<&'a str>,
    },
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Source<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

/// Fields the client sent that the canonical model does not know: carried through, except any
/// that would collide with a field set above.
struct Extras<'a>(&'a Map<String, Value>);

const OWN_FIELDS: &[&str] = &[
    "model",
    "max_tokens",
    "thinking",
    "system",
    "messages",
    "tools",
    "tool_choice",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "metadata",
    "stream",
];

impl Serialize for Extras<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (k, v) in self.0 {
            if !OWN_FIELDS.contains(&k.as_str()) {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}

fn check_supported(req: &ChatRequest) -> Result<(), Unsupported> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(unsupported("n > 1"));
    }
    if req.logprobs {
        return Err(unsupported("logprobs"));
    }
    if req.logit_bias {
        return Err(unsupported("logit_bias"));
    }
    if req.presence_penalty.is_some() {
        return Err(unsupported("presence_penalty"));
    }
    if req.frequency_penalty.is_some() {
        return Err(unsupported("frequency_penalty"));
    }
    if req.seed.is_some() {
        return Err(unsupported("seed"));
    }
    if json_mode(req).is_some() && !req.tools.is_empty() {
        return Err(unsupported("response_format together with tools"));
    }
    Ok(())
}

/// Anthropic has no JSON mode; it is emulated with one forced tool whose input *is* the answer
/// (the gateway turns that tool call back into text; see [`JSON_TOOL`]).
pub const JSON_TOOL: &str = "json_response";

static ANY_OBJECT: std::sync::LazyLock<Value> =
    std::sync::LazyLock::new(|| json!({"type": "object"}));

/// The schema JSON mode must follow, if the request asks for JSON.
pub fn json_mode(req: &ChatRequest) -> Option<&Value> {
    match &req.response_format {
        Some(ResponseFormat::JsonObject) => Some(&ANY_OBJECT),
        Some(ResponseFormat::JsonSchema { schema, .. }) if schema.is_object() => Some(schema),
        Some(ResponseFormat::JsonSchema { .. }) => Some(&ANY_OBJECT),
        None | Some(ResponseFormat::Text) => None,
    }
}

/// Builds the body for `POST /v1/messages` for `model`; serialise it with `serde_json`.
pub fn request_from_canonical<'a>(
    req: &'a ChatRequest,
    model: &'a str,
) -> Result<MessagesBody<'a>, Unsupported> {
    check_supported(req)?;
    let mut max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    let thinking = req.reasoning.as_ref().map(|reasoning| {
        let budget = reasoning
            .budget_tokens
            .unwrap_or(match reasoning.effort.as_deref() {
                Some("low" | "minimal") => 1024,
                Some("high") => 16384,
                _ => 4096,
            });
        if max_tokens <= budget {
            max_tokens += budget;
        }
        json!({"type": "enabled", "budget_tokens": budget})
    });
    let json_schema = json_mode(req);
    let mut tool_choice = req.tool_choice.as_ref().map(|choice| match choice {
        ToolChoice::Auto => json!({"type": "auto"}),
        ToolChoice::None => json!({"type": "none"}),
        ToolChoice::Required => json!({"type": "any"}),
        ToolChoice::Specific(name) => json!({"type": "tool", "name": name}),
    });
    if req.parallel_tool_calls == Some(false) && !req.tools.is_empty() {
        let c = tool_choice.get_or_insert_with(|| json!({"type": "auto"}));
        c["disable_parallel_tool_use"] = json!(true);
    }
    Ok(MessagesBody {
        model,
        max_tokens,
        thinking,
        system: req.system.iter().map(|text| Block::Text { text }).collect(),
        messages: messages(req)?,
        tools: match json_schema {
            Some(schema) => vec![ToolDef {
                name: JSON_TOOL,
                description: Some("Give the answer as a JSON object matching this schema."),
                input_schema: schema,
            }],
            None => req
                .tools
                .iter()
                .map(|t| ToolDef {
                    name: &t.name,
                    description: t.description.as_deref(),
                    input_schema: &t.parameters,
                })
                .collect(),
        },
        tool_choice: match json_schema {
            Some(_) => Some(json!({"type": "tool", "name": JSON_TOOL})),
            None => tool_choice,
        },
        stop_sequences: &req.stop,
        temperature: req.temperature,
        top_p: req.top_p,
        top_k: req.top_k,
        metadata: req.user.as_deref().map(|user_id| Metadata { user_id }),
        stream: req.stream,
        extra: Extras(&req.extra),
    })
}

/// Messages with tool results moved into user turns and consecutive same-role turns merged.
fn messages(req: &ChatRequest) -> Result<Vec<WireMessage<'_>>, Unsupported> {
    let mut out: Vec<WireMessage<'_>> = Vec::with_capacity(req.messages.len());
    for message in &req.messages {
        let role = match message.role {
            Role::User | Role::Tool => "user",
            Role::Assistant => "assistant",
        };
        let mut blocks = Vec::with_capacity(message.content.len());
        for part in &message.content {
            blocks.push(block(part)?);
        }
        if blocks.is_empty() {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.role == role => last.content.extend(blocks),
            _ => out.push(WireMessage {
                role,
                content: blocks,
            }),
        }
    }
    Ok(out)
}

fn block(part: &Part) -> Result<Block<'_>, Unsupported> {
    Ok(match part {
        Part::Text(text) => Block::Text { text },
        Part::Image(Image::Base64 { media_type, data }) => Block::Image {
            source: Source::Base64 { media_type, data },
        },
        Part::Image(Image::Url(url)) => Block::Image {
            source: Source::Url { url },
        },
        Part::ToolCall(call) => {
            let args = call.arguments.trim();
            let input: &RawValue = if args.is_empty() {
                serde_json::from_str("{}")
            } else {
                serde_json::from_str(args)
            }
            .map_err(|_| unsupported("tool call arguments that are not valid JSON"))?;
            Block::ToolUse {
                id: &call.id,
                name: &call.name,
                input,
            }
        }
        Part::ToolResult {
            call_id,
            content,
            is_error,
        } => Block::ToolResult {
            tool_use_id: call_id,
            content,
            is_error: *is_error,
        },
        Part::Reasoning { text, signature } => Block::Thinking {
            thinking: text,
            signature: signature.as_deref(),
        },
    })
}
