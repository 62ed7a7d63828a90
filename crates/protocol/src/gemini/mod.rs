//! Google Gemini (AI Studio `generateContent` / `streamGenerateContent?alt=sse`) as an upstream:
//! canonical requests out, answers and SSE streams in, plus embeddings (`batchEmbedContents`).
//!
//! Gemini has no tool-call ids and attaches a `thoughtSignature` to function calls that must be sent
//! back on the next turn. Both survive a round trip through OpenAI- or Anthropic-style clients by
//! living in the tool-call id we hand out: `call_<n>` or `call_<n>~ts~<signature>`.

mod request;
mod response;
mod stream;

pub use request::{count_tokens_request, embeddings_request, request_from_canonical};
pub use response::{count_tokens_response, embeddings_response, response_to_canonical};
pub use stream::StreamDecoder;

use crate::canonical::StopReason;

const SIGNATURE_MARK: &str = "~ts~";

/// The tool-call id handed to clients for the `n`-th call of an answer.
pub(crate) fn call_id(n: usize, signature: Option<&str>) -> String {
    match signature {
        Some(sig) => format!("call_{n}{SIGNATURE_MARK}{sig}"),
        None => format!("call_{n}"),
    }
}

/// The thought signature carried in a tool-call id, if any.
pub(crate) fn signature_of(id: &str) -> Option<&str> {
    id.split_once(SIGNATURE_MARK).map(|(_, sig)| sig)
}

/// `finishReason` → canonical. Safety-style stops are content filtering.
pub fn stop_reason(reason: &str, has_tool_calls: bool) -> StopReason {
    match reason {
        "MAX_TOKENS" => StopReason::Length,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            StopReason::ContentFilter
        }
        _ if has_tool_calls => StopReason::ToolCalls,
        _ => StopReason::Stop,
    }
}

#[cfg(test)]
mod tests;
