//! The canonical chat model that sits between client dialects and providers.
//!
//! Every dialect converts to and from these types, so N dialects and M providers need N + M
//! converters, not N × M. The model is a superset: anything one side can express and the other
//! cannot is caught at conversion time and reported (never silently dropped).

use serde_json::{Map, Value};

mod assemble;

/// A chat request in no particular dialect.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    /// System (and developer) instructions, in order.
    pub system: Vec<String>,
    pub messages: Vec<Message>,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    pub stop: Vec<String>,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<u64>,
    pub seed: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    /// Number of choices; only 1 can be translated to providers without `n`.
    pub n: Option<u64>,
    pub logprobs: bool,
    pub logit_bias: bool,
    pub reasoning: Option<Reasoning>,
    pub user: Option<String>,
    pub stream: bool,
    /// The client asked for a final usage event in the stream.
    pub include_usage: bool,
    /// Fields the source dialect did not define; carried to targets that accept extras.
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
    /// The result of a tool call (carried in a user turn by some providers).
    Tool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    Text(String),
    Image(Image),
    ToolCall(ToolCall),
    ToolResult {
        call_id: String,
        content: String,
        is_error: bool,
    },
    Reasoning {
        text: String,
        /// Provider signature that must be sent back unchanged on the next turn.
        signature: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Image {
    Url(String),
    Base64 { media_type: String, data: String },
}

impl Image {
    /// Parses an image reference, turning `data:` URLs into inline base64.
    pub fn from_url(url: &str) -> Image {
        if let Some(rest) = url.strip_prefix("data:") {
            if let Some((meta, data)) = rest.split_once(',') {
                if let Some(media_type) = meta.strip_suffix(";base64") {
                    return Image::Base64 {
                        media_type: media_type.to_owned(),
                        data: data.to_owned(),
                    };
                }
            }
        }
        Image::Url(url.to_owned())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// JSON text, as the model produced it.
    pub arguments: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    pub parameters: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ToolChoice {
    Auto,
    None,
    Required,
    Specific(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { name: String, schema: Value },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reasoning {
    /// `low` | `medium` | `high` (OpenAI's `reasoning_effort`).
    pub effort: Option<String>,
    pub budget_tokens: Option<u64>,
}

/// A complete (non-streamed) answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub id: String,
    pub model: String,
    /// Text, tool calls and reasoning, in the order produced.
    pub content: Vec<Part>,
    pub stop: StopReason,
    pub usage: Usage,
}

/// Why generation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// Natural end or a stop sequence.
    Stop,
    Length,
    ToolCalls,
    ContentFilter,
}

/// Token counts. `input` includes cached input; `output` includes reasoning.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: u64,
    pub output: u64,
    pub cached_input: u64,
    pub reasoning: u64,
}

/// One step of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Start {
        id: String,
        model: String,
    },
    Text(String),
    Reasoning(String),
    /// A new tool call; `index` counts tool calls from 0 within the answer.
    ToolCallStart {
        index: usize,
        id: String,
        name: String,
    },
    ToolCallArguments {
        index: usize,
        delta: String,
    },
    Finish(StopReason),
    Usage(Usage),
    /// The upstream reported an error mid-stream.
    Error {
        message: String,
    },
    /// The answer is complete.
    Done,
}

/// A request feature the target provider cannot honour.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub feature: String,
    pub provider: &'static str,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is not supported by {} providers; remove it or route this request to a provider that supports it",
            self.feature, self.provider
        )
    }
}
