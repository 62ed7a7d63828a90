//! Anthropic Messages response → canonical.

use serde_json::Value;

use crate::canonical::{ChatResponse, Part, ToolCall, Usage};

/// Usage from a Messages `usage` object: input counts every input token, cached or not.
pub(crate) fn usage(u: &Value) -> Usage {
    let n = |k: &str| u.get(k).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input: n("input_tokens") + n("cache_read_input_tokens") + n("cache_creation_input_tokens"),
        output: n("output_tokens"),
        cached_input: n("cache_read_input_tokens"),
        reasoning: 0,
    }
}

/// Parses a `message` body. `None` if it is not one.
pub fn response_to_canonical(body: &[u8]) -> Option<ChatResponse> {
    let v: Value = serde_json::from_slice(body).ok()?;
    if v.get("type").and_then(Value::as_str) != Some("message") {
        return None;
    }
    let mut content = Vec::new();
    for block in v
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => content.push(Part::Text(
                block["text"].as_str().unwrap_or_default().to_owned(),
            )),
            Some("tool_use") => content.push(Part::ToolCall(ToolCall {
                id: block["id"].as_str().unwrap_or_default().to_owned(),
                name: block["name"].as_str().unwrap_or_default().to_owned(),
                arguments: block
                    .get("input")
                    .map_or_else(|| "{}".to_owned(), Value::to_string),
            })),
            Some("thinking") => content.push(Part::Reasoning {
                text: block["thinking"].as_str().unwrap_or_default().to_owned(),
                signature: block["signature"].as_str().map(str::to_owned),
            }),
            _ => {}
        }
    }
    Some(ChatResponse {
        id: v["id"].as_str().unwrap_or_default().to_owned(),
        model: v["model"].as_str().unwrap_or_default().to_owned(),
        content,
        stop: super::stop_reason(v["stop_reason"].as_str().unwrap_or("end_turn")),
        usage: usage(&v["usage"]),
    })
}
