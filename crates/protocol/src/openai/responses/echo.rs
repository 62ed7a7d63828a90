//! What a `response` object repeats of its request, as OpenAI's does: `instructions`, `tools`,
//! `tool_choice`, `text`, `temperature`, `top_p`, `max_output_tokens`, `parallel_tool_calls`,
//! `reasoning`, `metadata`, `user`. Read with the request (the JSON members kept as the client
//! wrote them), written into every `response` object of the answer, streamed or not.

use serde::Serialize;
use serde_json::value::RawValue;

/// The members a request's `response` objects echo.
#[derive(Debug, Clone, Default)]
pub struct Echo {
    pub(super) instructions: Option<String>,
    pub(super) max_output_tokens: Option<u64>,
    pub(super) temperature: Option<f64>,
    pub(super) top_p: Option<f64>,
    pub(super) parallel_tool_calls: Option<bool>,
    pub(super) user: Option<String>,
    pub(super) reasoning_effort: Option<String>,
    pub(super) tools: Option<Box<RawValue>>,
    pub(super) tool_choice: Option<Box<RawValue>>,
    pub(super) text: Option<Box<RawValue>>,
    pub(super) metadata: Option<Box<RawValue>>,
}

/// A member as the request gave it, else the API's default.
#[derive(Serialize)]
#[serde(untagged)]
pub(super) enum Or<'a, T: Serialize> {
    Given(&'a RawValue),
    Default(T),
}

impl<'a, T: Serialize> Or<'a, T> {
    pub(super) fn of(given: Option<&'a RawValue>, default: T) -> Self {
        match given {
            Some(raw) => Or::Given(raw),
            None => Or::Default(default),
        }
    }
}

impl Echo {
    pub(super) fn raw(v: &Option<Box<RawValue>>) -> Option<&RawValue> {
        v.as_deref()
    }
}
