//! The type every standard request field must have. Checking types at the edge gives callers a
//! precise 400 naming the field instead of an opaque upstream error, while the values themselves
//! still pass through untouched.

use serde_json::value::RawValue;

use crate::json::{is_integer, JsonType};

/// What a field may hold (`null` is accepted for every optional field, as OpenAI does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    String,
    Bool,
    Number,
    Integer,
    Array,
    Object,
    StringOrArray,
    StringOrObject,
}

impl Expect {
    pub fn accepts(self, value: &RawValue) -> bool {
        let t = JsonType::of(value);
        match self {
            Expect::String => t == JsonType::String,
            Expect::Bool => t == JsonType::Bool,
            Expect::Number => t == JsonType::Number,
            Expect::Integer => is_integer(value),
            Expect::Array => t == JsonType::Array,
            Expect::Object => t == JsonType::Object,
            Expect::StringOrArray => matches!(t, JsonType::String | JsonType::Array),
            Expect::StringOrObject => matches!(t, JsonType::String | JsonType::Object),
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Expect::String => "a string",
            Expect::Bool => "a boolean",
            Expect::Number => "a number",
            Expect::Integer => "an integer",
            Expect::Array => "an array",
            Expect::Object => "an object",
            Expect::StringOrArray => "a string or an array",
            Expect::StringOrObject => "a string or an object",
        }
    }
}

/// Standard Chat Completions fields and their types.
pub(crate) const CHAT_FIELDS: &[(&str, Expect)] = &[
    ("model", Expect::String),
    ("messages", Expect::Array),
    ("stream", Expect::Bool),
    ("stream_options", Expect::Object),
    ("temperature", Expect::Number),
    ("top_p", Expect::Number),
    ("presence_penalty", Expect::Number),
    ("frequency_penalty", Expect::Number),
    ("n", Expect::Integer),
    ("max_tokens", Expect::Integer),
    ("max_completion_tokens", Expect::Integer),
    ("seed", Expect::Integer),
    ("logprobs", Expect::Bool),
    ("top_logprobs", Expect::Integer),
    ("logit_bias", Expect::Object),
    ("tools", Expect::Array),
    ("tool_choice", Expect::StringOrObject),
    ("parallel_tool_calls", Expect::Bool),
    ("functions", Expect::Array),
    ("function_call", Expect::StringOrObject),
    ("response_format", Expect::Object),
    ("stop", Expect::StringOrArray),
    ("user", Expect::String),
    ("metadata", Expect::Object),
    ("store", Expect::Bool),
    ("reasoning_effort", Expect::String),
    ("modalities", Expect::Array),
    ("audio", Expect::Object),
    ("prediction", Expect::Object),
    ("service_tier", Expect::String),
    ("web_search_options", Expect::Object),
];

/// Standard Embeddings fields and their types.
pub(crate) const EMBEDDINGS_FIELDS: &[(&str, Expect)] = &[
    ("model", Expect::String),
    ("input", Expect::StringOrArray),
    ("encoding_format", Expect::String),
    ("dimensions", Expect::Integer),
    ("user", Expect::String),
];

/// Message roles the Chat Completions API defines.
pub(crate) const ROLES: &[&str] = &[
    "system",
    "developer",
    "user",
    "assistant",
    "tool",
    "function",
];
