//! Anthropic's streaming event grammar → canonical stream events.
//!
//! `message_start` → `content_block_start` / `content_block_delta`* / `content_block_stop` per block
//! → `message_delta` (stop reason, output usage) → `message_stop`; `ping` anywhere; `error` on failure.
//! Events are decoded into typed, borrowing shapes (this runs for every streamed event).

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;

use super::response::WireUsage;
use crate::canonical::{StreamEvent, Usage};
use crate::sse;

#[derive(Deserialize)]
struct WireEvent<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default)]
    index: u64,
    #[serde(default, borrow)]
    delta: Option<WireDelta<'a>>,
    #[serde(default, borrow)]
    content_block: Option<WireBlockStart<'a>>,
    #[serde(default, borrow)]
    message: Option<WireMessageStart<'a>>,
    #[serde(default)]
    usage: Option<WireUsageDelta>,
    #[serde(default, borrow)]
    error: Option<WireError<'a>>,
}

#[derive(Deserialize)]
struct WireDelta<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    partial_json: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    stop_reason: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireBlockStart<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    text: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct WireMessageStart<'a> {
    #[serde(default, borrow)]
    id: Cow<'a, str>,
    #[serde(default, borrow)]
    model: Cow<'a, str>,
    #[serde(default)]
    usage: WireUsage,
}

#[derive(Deserialize)]
struct WireUsageDelta {
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct WireError<'a> {
    #[serde(default, borrow)]
    message: Option<Cow<'a, str>>,
}

fn owned(s: Option<Cow<'_, str>>) -> String {
    s.map(Cow::into_owned).unwrap_or_default()
}

/// Decodes one stream; keeps the block-index → tool-call-index map and running usage.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    /// Anthropic content block index → tool call index (counted from 0 over tool_use blocks).
    tools: HashMap<u64, usize>,
    usage: Usage,
    done: bool,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// True once `message_stop` or an error has been seen.
    pub fn is_done(&self) -> bool {
        self.done
    }

    pub fn decode(&mut self, event: &sse::Event, out: &mut Vec<StreamEvent>) {
        let Ok(v) = serde_json::from_str::<WireEvent<'_>>(&event.data) else {
            return;
        };
        match v.kind.as_ref() {
            "message_start" => {
                if let Some(message) = v.message {
                    self.usage = message.usage.canonical();
                    out.push(StreamEvent::Start {
                        id: message.id.into_owned(),
                        model: message.model.into_owned(),
                    });
                }
            }
            "content_block_start" => match v.content_block {
                Some(block) if block.kind == "tool_use" => {
                    let tool_index = self.tools.len();
                    self.tools.insert(v.index, tool_index);
                    out.push(StreamEvent::ToolCallStart {
                        index: tool_index,
                        id: owned(block.id),
                        name: owned(block.name),
                    });
                }
                Some(block) if block.kind == "text" => {
                    if let Some(text) = block.text.filter(|t| !t.is_empty()) {
                        out.push(StreamEvent::Text(text.into_owned()));
                    }
                }
                _ => {}
            },
            "content_block_delta" => {
                let Some(delta) = v.delta else { return };
                match delta.kind.as_deref() {
                    Some("text_delta") => out.push(StreamEvent::Text(owned(delta.text))),
                    Some("input_json_delta") => {
                        if let Some(&tool) = self.tools.get(&v.index) {
                            out.push(StreamEvent::ToolCallArguments {
                                index: tool,
                                delta: owned(delta.partial_json),
                            });
                        }
                    }
                    Some("thinking_delta") => {
                        out.push(StreamEvent::Reasoning(owned(delta.thinking)))
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(u) = v.usage {
                    if let Some(output) = u.output_tokens {
                        self.usage.output = output;
                    }
                    if let Some(input) = u.input_tokens {
                        let read = u.cache_read_input_tokens.unwrap_or(0);
                        self.usage.input =
                            input + read + u.cache_creation_input_tokens.unwrap_or(0);
                        self.usage.cached_input = read;
                    }
                }
                if let Some(reason) = v.delta.and_then(|d| d.stop_reason) {
                    out.push(StreamEvent::Finish(super::stop_reason(&reason)));
                }
            }
            "message_stop" => {
                self.done = true;
                out.push(StreamEvent::Usage(self.usage));
                out.push(StreamEvent::Done);
            }
            "error" => {
                self.done = true;
                let message = v
                    .error
                    .and_then(|e| e.message)
                    .unwrap_or(Cow::Borrowed("upstream stream error"));
                out.push(StreamEvent::Error {
                    message: format!("anthropic: {message}"),
                });
            }
            _ => {} // ping, content_block_stop, unknown future events
        }
    }
}
