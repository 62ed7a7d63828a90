//! Canonical stream events → the Messages event grammar: `message_start`, `ping`, then per content block
//! `content_block_start` / `content_block_delta`* / `content_block_stop`, then `message_delta` (stop
//! reason, usage) and `message_stop`.

use serde_json::{json, Value};

use super::{stop_reason_name, usage_json};
use crate::canonical::{StopReason, StreamEvent, Usage};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    Thinking,
    Tool(usize),
}

/// Canonical stream events → the Messages event grammar.
#[derive(Debug)]
pub struct StreamEncoder {
    model: String,
    /// The open content block and its index.
    open: Option<(Block, usize)>,
    next_index: usize,
    stop: StopReason,
    usage: Usage,
    finished: bool,
}

fn push(out: &mut Vec<u8>, name: &str, data: &Value) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    let _ = serde_json::to_writer(&mut *out, data);
    out.extend_from_slice(b"\n\n");
}

impl StreamEncoder {
    pub fn new(model: &str) -> Self {
        StreamEncoder {
            model: model.to_owned(),
            open: None,
            next_index: 0,
            stop: StopReason::Stop,
            usage: Usage::default(),
            finished: false,
        }
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if let Some((_, index)) = self.open.take() {
            push(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    /// Makes `block` the open block (closing another), returning its index.
    fn ensure(&mut self, block: Block, start: Value, out: &mut Vec<u8>) -> usize {
        if let Some((open, index)) = self.open {
            if open == block {
                return index;
            }
        }
        self.close(out);
        let index = self.next_index;
        self.next_index += 1;
        push(
            out,
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": start}),
        );
        self.open = Some((block, index));
        index
    }

    pub fn encode(&mut self, event: &StreamEvent, out: &mut Vec<u8>) {
        match event {
            StreamEvent::Start { id, model } => {
                let model = if model.is_empty() {
                    self.model.clone()
                } else {
                    model.clone()
                };
                push(
                    out,
                    "message_start",
                    &json!({"type": "message_start", "message": {
                    "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
                    "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": 0, "output_tokens": 0}}}),
                );
                // Anthropic sends a ping right after message_start; clients expect the grammar.
                push(out, "ping", &json!({"type": "ping"}));
            }
            StreamEvent::Text(text) => {
                let index = self.ensure(Block::Text, json!({"type": "text", "text": ""}), out);
                push(
                    out,
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": text}}),
                );
            }
            StreamEvent::Reasoning(text) => {
                let index = self.ensure(
                    Block::Thinking,
                    json!({"type": "thinking", "thinking": ""}),
                    out,
                );
                push(
                    out,
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": index, "delta": {"type": "thinking_delta", "thinking": text}}),
                );
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.close(out);
                self.ensure(
                    Block::Tool(*index),
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    out,
                );
            }
            StreamEvent::ToolCallArguments { index, delta } => {
                let block = match self.open {
                    Some((Block::Tool(t), block)) if t == *index => block,
                    // Arguments for a call whose block is closed: open a continuation block.
                    _ => self.ensure(
                        Block::Tool(*index),
                        json!({"type": "tool_use", "id": "", "name": "", "input": {}}),
                        out,
                    ),
                };
                push(
                    out,
                    "content_block_delta",
                    &json!({"type": "content_block_delta", "index": block, "delta": {"type": "input_json_delta", "partial_json": delta}}),
                );
            }
            StreamEvent::Finish(stop) => self.stop = stop.clone(),
            StreamEvent::Usage(usage) => self.usage = *usage,
            StreamEvent::Error { message } => {
                self.finished = true;
                push(
                    out,
                    "error",
                    &json!({"type": "error", "error": {"type": "api_error", "message": message}}),
                );
            }
            StreamEvent::Done => {
                if self.finished {
                    return;
                }
                self.finished = true;
                self.close(out);
                push(
                    out,
                    "message_delta",
                    &json!({"type": "message_delta",
                    "delta": {"stop_reason": stop_reason_name(&self.stop), "stop_sequence": null},
                    "usage": usage_json(&self.usage)}),
                );
                push(out, "message_stop", &json!({"type": "message_stop"}));
            }
        }
    }
}
