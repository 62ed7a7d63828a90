//! Anthropic Messages response → canonical. Typed, borrowing deserialisation: this runs once per
//! translated answer, and a `serde_json::Value` tree cost several times more.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::canonical::{ChatResponse, Part, ToolCall, Usage};

#[derive(Deserialize, Default)]
pub(crate) struct WireUsage {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

impl WireUsage {
    /// Input counts every input token, cached or not.
    pub(crate) fn canonical(&self) -> Usage {
        let read = self.cache_read_input_tokens.unwrap_or(0);
        Usage {
            input: self.input_tokens + read + self.cache_creation_input_tokens.unwrap_or(0),
            output: self.output_tokens,
            cached_input: read,
            reasoning: 0,
        }
    }
}

#[derive(Deserialize)]
struct WireMessage<'a> {
    #[serde(rename = "type")]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default, borrow)]
    content: Vec<WireBlock<'a>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
struct WireBlock<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    input: Option<&'a RawValue>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    signature: Option<Cow<'a, str>>,
}

fn owned(s: Option<Cow<'_, str>>) -> String {
    s.map(Cow::into_owned).unwrap_or_default()
}

/// Parses a `message` body. `None` if it is not one.
pub fn response_to_canonical(body: &[u8]) -> Option<ChatResponse> {
    let m: WireMessage<'_> = serde_json::from_slice(body).ok()?;
    if m.kind != "message" {
        return None;
    }
    let mut content = Vec::with_capacity(m.content.len());
    for block in m.content {
        match block.kind.as_ref() {
            "text" => content.push(Part::Text(owned(block.text))),
            "tool_use" => content.push(Part::ToolCall(ToolCall {
                id: owned(block.id),
                name: owned(block.name),
                arguments: block
                    .input
                    .map_or_else(|| "{}".to_owned(), |raw| raw.get().to_owned()),
            })),
            "thinking" => content.push(Part::Reasoning {
                text: owned(block.thinking),
                signature: block.signature.map(Cow::into_owned),
            }),
            _ => {}
        }
    }
    Some(ChatResponse {
        id: m.id.into_owned(),
        model: m.model.into_owned(),
        content,
        stop: super::stop_reason(m.stop_reason.as_deref().unwrap_or("end_turn")),
        usage: m.usage.canonical(),
    })
}
