//! The OpenAI chat request body, serialised straight from a canonical request (no `Value` tree).

use serde_json::{json, Value};

use crate::canonical::{ChatRequest, Image, Part, ResponseFormat, Role, ToolChoice};

/// The chat request for `model`, serialised straight from the canonical request.
pub fn request_body<'a>(req: &'a ChatRequest, model: &'a str) -> RequestBody<'a> {
    RequestBody { req, model }
}

/// An OpenAI `chat/completions` body built from a canonical request (implements `Serialize`).
pub struct RequestBody<'a> {
    req: &'a ChatRequest,
    model: &'a str,
}

#[derive(serde::Serialize)]
#[serde(untagged)]
enum WireMsg<'a> {
    Text {
        role: &'static str,
        content: &'a str,
    },
    User {
        role: &'static str,
        content: Vec<UserPart<'a>>,
    },
    Assistant {
        role: &'static str,
        content: Option<String>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<WireCall<'a>>,
    },
    Tool {
        role: &'static str,
        tool_call_id: &'a str,
        content: &'a str,
    },
}

#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum UserPart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: WireUrl<'a> },
}

#[derive(serde::Serialize)]
struct WireUrl<'a> {
    url: std::borrow::Cow<'a, str>,
}

#[derive(serde::Serialize)]
struct WireCall<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireCallFunction<'a>,
}

#[derive(serde::Serialize)]
struct WireCallFunction<'a> {
    name: &'a str,
    arguments: &'a str,
}

#[derive(serde::Serialize)]
struct WireTool<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: WireToolFunction<'a>,
}

#[derive(serde::Serialize)]
struct WireToolFunction<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a Value,
}

fn wire_messages(req: &ChatRequest) -> Vec<WireMsg<'_>> {
    let mut messages: Vec<WireMsg<'_>> = req
        .system
        .iter()
        .map(|s| WireMsg::Text {
            role: "system",
            content: s,
        })
        .collect();
    for m in &req.messages {
        match m.role {
            Role::User => match m.content.as_slice() {
                [Part::Text(t)] => messages.push(WireMsg::Text {
                    role: "user",
                    content: t,
                }),
                parts => messages.push(WireMsg::User {
                    role: "user",
                    content: parts
                        .iter()
                        .filter_map(|p| match p {
                            Part::Text(t) => Some(UserPart::Text { text: t }),
                            Part::Image(Image::Url(u)) => Some(UserPart::ImageUrl {
                                image_url: WireUrl { url: u.into() },
                            }),
                            Part::Image(Image::Base64 { media_type, data }) => {
                                Some(UserPart::ImageUrl {
                                    image_url: WireUrl {
                                        url: format!("data:{media_type};base64,{data}").into(),
                                    },
                                })
                            }
                            _ => None,
                        })
                        .collect(),
                }),
            },
            Role::Assistant => {
                let text: String = m
                    .content
                    .iter()
                    .filter_map(|p| match p {
                        Part::Text(t) => Some(t.as_str()),
                        _ => None,
                    })
                    .collect();
                let tool_calls = m
                    .content
                    .iter()
                    .filter_map(|p| match p {
                        Part::ToolCall(c) => Some(WireCall {
                            id: &c.id,
                            kind: "function",
                            function: WireCallFunction {
                                name: &c.name,
                                arguments: &c.arguments,
                            },
                        }),
                        _ => None,
                    })
                    .collect();
                messages.push(WireMsg::Assistant {
                    role: "assistant",
                    content: (!text.is_empty()).then_some(text),
                    tool_calls,
                });
            }
            Role::Tool => {
                for p in &m.content {
                    if let Part::ToolResult {
                        call_id, content, ..
                    } = p
                    {
                        messages.push(WireMsg::Tool {
                            role: "tool",
                            tool_call_id: call_id,
                            content,
                        });
                    }
                }
            }
        }
    }
    messages
}

impl serde::Serialize for RequestBody<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let req = self.req;
        let mut map = serializer.serialize_map(None)?;
        // the keys written, so an extra field never repeats one
        let mut written: Vec<&'static str> = Vec::with_capacity(16);
        macro_rules! put {
            ($key:literal, $value:expr) => {{
                map.serialize_entry($key, $value)?;
                written.push($key);
            }};
        }
        put!("model", self.model);
        put!("messages", &wire_messages(req));
        if !req.tools.is_empty() {
            let tools: Vec<WireTool<'_>> = req
                .tools
                .iter()
                .map(|t| WireTool {
                    kind: "function",
                    function: WireToolFunction {
                        name: &t.name,
                        description: t.description.as_deref(),
                        parameters: &t.parameters,
                    },
                })
                .collect();
            put!("tools", &tools);
        }
        if let Some(choice) = &req.tool_choice {
            match choice {
                ToolChoice::Auto => put!("tool_choice", "auto"),
                ToolChoice::None => put!("tool_choice", "none"),
                ToolChoice::Required => put!("tool_choice", "required"),
                ToolChoice::Specific(name) => put!(
                    "tool_choice",
                    &json!({"type": "function", "function": {"name": name}})
                ),
            }
        }
        if let Some(p) = req.parallel_tool_calls {
            put!("parallel_tool_calls", &p);
        }
        match &req.response_format {
            None => {}
            Some(ResponseFormat::Text) => put!("response_format", &json!({"type": "text"})),
            Some(ResponseFormat::JsonObject) => {
                put!("response_format", &json!({"type": "json_object"}))
            }
            Some(ResponseFormat::JsonSchema { name, schema }) => put!(
                "response_format",
                &json!({"type": "json_schema", "json_schema": {"name": name, "schema": schema}})
            ),
        }
        if !req.stop.is_empty() {
            put!("stop", &req.stop);
        }
        if let Some(v) = req.max_tokens {
            put!("max_tokens", &v);
        }
        if let Some(v) = req.temperature {
            put!("temperature", &v);
        }
        if let Some(v) = req.top_p {
            put!("top_p", &v);
        }
        if let Some(v) = req.top_k {
            put!("top_k", &v);
        }
        if let Some(v) = req.seed {
            put!("seed", &v);
        }
        if let Some(v) = req.presence_penalty {
            put!("presence_penalty", &v);
        }
        if let Some(v) = req.frequency_penalty {
            put!("frequency_penalty", &v);
        }
        if let Some(v) = req.n {
            put!("n", &v);
        }
        if let Some(v) = &req.user {
            put!("user", v);
        }
        if let Some(r) = &req.reasoning {
            let effort = r.effort.clone().unwrap_or_else(|| match r.budget_tokens {
                Some(b) if b <= 1024 => "low".to_owned(),
                Some(b) if b <= 8192 => "medium".to_owned(),
                _ => "high".to_owned(),
            });
            put!("reasoning_effort", &effort);
        }
        if req.stream {
            put!("stream", &true);
            // Usage is always requested so the client's dialect can report it.
            put!("stream_options", &json!({"include_usage": true}));
        }
        for (k, v) in &req.extra {
            if !written.contains(&k.as_str()) {
                map.serialize_entry(k, v)?;
            }
        }
        map.end()
    }
}
