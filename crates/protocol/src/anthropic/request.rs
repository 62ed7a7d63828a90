//! Canonical request → Anthropic Messages request body.

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

/// Builds the JSON body for `POST /v1/messages` for `model`.
pub fn request_from_canonical(req: &ChatRequest, model: &str) -> Result<Value, Unsupported> {
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
    match &req.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => return Err(unsupported("response_format json_object")),
        Some(ResponseFormat::JsonSchema { .. }) => {
            return Err(unsupported("response_format json_schema"))
        }
    }

    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    let mut max_tokens = req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if let Some(reasoning) = &req.reasoning {
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
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    body.insert("max_tokens".into(), json!(max_tokens));
    if !req.system.is_empty() {
        let blocks: Vec<Value> = req
            .system
            .iter()
            .map(|text| json!({"type": "text", "text": text}))
            .collect();
        body.insert("system".into(), Value::Array(blocks));
    }
    body.insert("messages".into(), Value::Array(messages(req)?));
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut tool = json!({"name": t.name, "input_schema": t.parameters});
                if let Some(d) = &t.description {
                    tool["description"] = json!(d);
                }
                tool
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    let mut choice = match &req.tool_choice {
        None => None,
        Some(ToolChoice::Auto) => Some(json!({"type": "auto"})),
        Some(ToolChoice::None) => Some(json!({"type": "none"})),
        Some(ToolChoice::Required) => Some(json!({"type": "any"})),
        Some(ToolChoice::Specific(name)) => Some(json!({"type": "tool", "name": name})),
    };
    if req.parallel_tool_calls == Some(false) && !req.tools.is_empty() {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        c["disable_parallel_tool_use"] = json!(true);
    }
    if let Some(choice) = choice {
        body.insert("tool_choice".into(), choice);
    }
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if let Some(k) = req.top_k {
        body.insert("top_k".into(), json!(k));
    }
    if let Some(user) = &req.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
    }
    for (k, v) in &req.extra {
        body.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Ok(Value::Object(body))
}

/// Messages with tool results moved into user turns and consecutive same-role turns merged.
fn messages(req: &ChatRequest) -> Result<Vec<Value>, Unsupported> {
    let mut out: Vec<(String, Vec<Value>)> = Vec::new();
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
            Some((last, existing)) if last == role => existing.extend(blocks),
            _ => out.push((role.to_owned(), blocks)),
        }
    }
    Ok(out
        .into_iter()
        .map(|(role, content)| json!({"role": role, "content": content}))
        .collect())
}

fn block(part: &Part) -> Result<Value, Unsupported> {
    Ok(match part {
        Part::Text(text) => json!({"type": "text", "text": text}),
        Part::Image(Image::Base64 { media_type, data }) => json!({
            "type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}
        }),
        Part::Image(Image::Url(url)) => {
            json!({"type": "image", "source": {"type": "url", "url": url}})
        }
        Part::ToolCall(call) => {
            let input: Value = if call.arguments.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(&call.arguments)
                    .map_err(|_| unsupported("tool call arguments that are not valid JSON"))?
            };
            json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input})
        }
        Part::ToolResult {
            call_id,
            content,
            is_error,
        } => {
            let mut b = json!({"type": "tool_result", "tool_use_id": call_id, "content": content});
            if *is_error {
                b["is_error"] = json!(true);
            }
            b
        }
        Part::Reasoning { text, signature } => {
            let mut b = json!({"type": "thinking", "thinking": text});
            if let Some(sig) = signature {
                b["signature"] = json!(sig);
            }
            b
        }
    })
}
