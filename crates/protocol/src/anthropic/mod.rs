//! The Anthropic Messages API, both as an upstream (canonical requests out, answers and SSE streams
//! in) and, in [`client`], as a client dialect.

pub mod client;
mod request;
mod response;
mod stream;

pub use request::{request_from_canonical, DEFAULT_MAX_TOKENS};
pub use response::response_to_canonical;
pub use stream::StreamDecoder;

use crate::canonical::StopReason;

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
