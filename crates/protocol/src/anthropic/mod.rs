//! The Anthropic Messages API, both as an upstream (canonical requests out, answers and SSE streams
//! in) and, in [`client`], as a client dialect.

pub mod client;
mod request;
mod response;
mod stream;

pub use request::{json_mode, request_from_canonical, DEFAULT_MAX_TOKENS, JSON_TOOL};
pub use response::response_to_canonical;
pub use stream::StreamDecoder;

use crate::canonical::StopReason;

/// Undoes the JSON-mode emulation on an answer: the forced tool's input becomes the text.
pub fn json_tool_to_text(response: &mut crate::canonical::ChatResponse) {
    use crate::canonical::Part;
    for part in &mut response.content {
        if let Part::ToolCall(call) = part {
            if call.name == JSON_TOOL {
                *part = Part::Text(std::mem::take(&mut call.arguments));
            }
        }
    }
    if response.stop == StopReason::ToolCalls {
        response.stop = StopReason::Stop;
    }
}

/// The same for a stream: the forced tool's argument deltas become text deltas.
#[derive(Debug, Default)]
pub struct JsonToolFilter {
    index: Option<usize>,
}

impl JsonToolFilter {
    pub fn apply(
        &mut self,
        event: crate::canonical::StreamEvent,
    ) -> Option<crate::canonical::StreamEvent> {
        use crate::canonical::StreamEvent;
        match event {
            StreamEvent::ToolCallStart { index, name, .. } if name == JSON_TOOL => {
                self.index = Some(index);
                None
            }
            StreamEvent::ToolCallArguments { index, delta } if Some(index) == self.index => {
                Some(StreamEvent::Text(delta))
            }
            StreamEvent::Finish(StopReason::ToolCalls) if self.index.is_some() => {
                Some(StreamEvent::Finish(StopReason::Stop))
            }
            other => Some(other),
        }
    }
}

/// `stop_reason` → canonical.
pub fn stop_reason(reason: &str) -> StopReason {
    match reason {
        "max_tokens" | "model_context_window_exceeded" => StopReason::Length,
        "tool_use" => StopReason::ToolCalls,
        "refusal" => StopReason::ContentFilter,
        // end_turn, stop_sequence, pause_turn
        _ => StopReason::Stop,
    }
}

#[cfg(test)]
mod tests;
