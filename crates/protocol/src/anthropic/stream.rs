//! Anthropic's streaming event grammar → canonical stream events.
//!
//! `message_start` → `content_block_start` / `content_block_delta`* / `content_block_stop` per block
//! → `message_delta` (stop reason, output usage) → `message_stop`; `ping` anywhere; `error` on failure.

use std::collections::HashMap;

use serde_json::Value;

use super::response::usage;
use crate::canonical::{StreamEvent, Usage};
use crate::sse;

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
        let Ok(v) = serde_json::from_str::<Value>(&event.data) else {
            return;
        };
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .or(event.event.as_deref())
            .unwrap_or_default();
        match kind {
            "message_start" => {
                let message = &v["message"];
                self.usage = usage(&message["usage"]);
                out.push(StreamEvent::Start {
                    id: message["id"].as_str().unwrap_or_default().to_owned(),
                    model: message["model"].as_str().unwrap_or_default().to_owned(),
                });
            }
            "content_block_start" => {
                let index = v["index"].as_u64().unwrap_or(0);
                let block = &v["content_block"];
                match block["type"].as_str() {
                    Some("tool_use") => {
                        let tool_index = self.tools.len();
                        self.tools.insert(index, tool_index);
                        out.push(StreamEvent::ToolCallStart {
                            index: tool_index,
                            id: block["id"].as_str().unwrap_or_default().to_owned(),
                            name: block["name"].as_str().unwrap_or_default().to_owned(),
                        });
                    }
                    Some("text") => {
                        if let Some(text) = block["text"].as_str().filter(|t| !t.is_empty()) {
                            out.push(StreamEvent::Text(text.to_owned()));
                        }
                    }
                    _ => {}
                }
            }
            "content_block_delta" => {
                let index = v["index"].as_u64().unwrap_or(0);
                let delta = &v["delta"];
                match delta["type"].as_str() {
                    Some("text_delta") => out.push(StreamEvent::Text(
                        delta["text"].as_str().unwrap_or_default().to_owned(),
                    )),
                    Some("input_json_delta") => {
                        if let Some(&tool) = self.tools.get(&index) {
                            out.push(StreamEvent::ToolCallArguments {
                                index: tool,
                                delta: delta["partial_json"]
                                    .as_str()
                                    .unwrap_or_default()
                                    .to_owned(),
                            });
                        }
                    }
                    Some("thinking_delta") => out.push(StreamEvent::Reasoning(
                        delta["thinking"].as_str().unwrap_or_default().to_owned(),
                    )),
                    _ => {}
                }
            }
            "message_delta" => {
                let u = &v["usage"];
                if let Some(output) = u.get("output_tokens").and_then(Value::as_u64) {
                    self.usage.output = output;
                }
                if u.get("input_tokens").is_some() {
                    let input = usage(u);
                    self.usage.input = input.input;
                    self.usage.cached_input = input.cached_input;
                }
                if let Some(reason) = v.pointer("/delta/stop_reason").and_then(Value::as_str) {
                    out.push(StreamEvent::Finish(super::stop_reason(reason)));
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
                    .pointer("/error/message")
                    .and_then(Value::as_str)
                    .unwrap_or("upstream stream error");
                out.push(StreamEvent::Error {
                    message: format!("anthropic: {message}"),
                });
            }
            _ => {} // ping, content_block_stop, unknown future events
        }
    }
}
