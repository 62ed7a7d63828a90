//! Wire formats spoken at the edges of Switchyard.
//!
//! # Layout
//! - [`json`]: a one-pass, allocation-light *view* of a top-level JSON object (every member kept as a
//!   borrowed raw slice with its byte span) and [`json::Splicer`], which rewrites a few members of the
//!   original bytes without re-serialising the rest. This is what makes the same-dialect fast path cheap.
//! - [`openai`]: the OpenAI dialect: request views that validate exactly the fields the gateway relies
//!   on (and the types of every standard field) while letting everything else pass through untouched,
//!   the error body, and the model list.
//! - [`canonical`]: the dialect-neutral chat model every converter goes through.
//! - [`dialect`]: every dialect behind one interface — [`dialect::Upstream`] (a provider's side) and
//!   [`dialect::Client`] (a client's side), one impl per dialect; translation goes through them.
//! - [`anthropic`]: the Anthropic Messages API, as an upstream and as a client dialect.
//! - [`bedrock`]: AWS Bedrock Converse as an upstream, with the event-stream codec.
//! - [`cohere`]: Cohere v2 chat as an upstream.
//! - [`gemini`]: Google Gemini `generateContent` as an upstream, embeddings included.
//! - [`workers_ai`]: Cloudflare Workers AI's `/ai/run/{model}` envelope as an upstream.
//! - [`sse`]: Server-Sent Events framing and an incremental parser.
//!
//! This crate has no I/O and depends on nothing else in the workspace: every other crate points at it.

pub mod anthropic;
pub mod bedrock;
pub mod canonical;
pub mod cohere;
pub mod dialect;
pub mod gemini;
pub mod json;
pub mod openai;
pub mod sse;
pub mod workers_ai;

/// The wire format a client speaks or a provider expects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// OpenAI Chat Completions / Embeddings.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent` (provider side only).
    Gemini,
    /// Cohere v2 chat (provider side only).
    Cohere,
    /// AWS Bedrock Converse (provider side only; streams use AWS event-stream framing).
    Bedrock,
    /// Cloudflare Workers AI's native `/ai/run/{model}` envelope (provider side only).
    WorkersAi,
    /// OpenAI's Responses API (`/v1/responses`; client side only: answered through the
    /// provider's chat dialect).
    Responses,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::OpenAi => "openai",
            Dialect::Anthropic => "anthropic",
            Dialect::Gemini => "gemini",
            Dialect::Cohere => "cohere",
            Dialect::Bedrock => "bedrock",
            Dialect::WorkersAi => "workers-ai",
            Dialect::Responses => "openai-responses",
        }
    }
}
