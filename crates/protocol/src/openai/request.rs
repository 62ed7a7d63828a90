//! Validated views of OpenAI requests. Parsing checks the body once and keeps only what the gateway
//! needs (model, stream flags, spans to rewrite); the body itself is forwarded as is.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::fields::{Expect, CHAT_FIELDS, EMBEDDINGS_FIELDS, ROLES};
use crate::json::{as_str, JsonError, JsonType, ObjectView, Splicer};

/// A client error in a request body: what is wrong and which field (`param`) it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub message: String,
    pub param: Option<String>,
    /// OpenAI-style machine-readable code.
    pub code: &'static str,
}

impl RequestError {
    pub(super) fn field(param: impl Into<String>, message: String, code: &'static str) -> Self {
        RequestError {
            message,
            param: Some(param.into()),
            code,
        }
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RequestError {}

impl From<JsonError> for RequestError {
    fn from(e: JsonError) -> Self {
        let code = match e {
            JsonError::Syntax { .. } => "invalid_json",
            JsonError::NotAnObject => "invalid_json",
            JsonError::DuplicateKey(_) => "duplicate_field",
            JsonError::TooManyKeys(_) => "too_many_fields",
        };
        RequestError {
            message: e.to_string(),
            param: None,
            code,
        }
    }
}

/// The `stream` field as sent by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFlag {
    Absent,
    False,
    True,
}

impl StreamFlag {
    pub fn is_on(self) -> bool {
        self == StreamFlag::True
    }
}

/// A validated `POST /v1/chat/completions` body.
#[derive(Debug)]
pub struct ChatRequest<'a> {
    view: ObjectView<'a>,
    model: Cow<'a, str>,
    model_span: Range<usize>,
    stream: StreamFlag,
}

impl<'a> ChatRequest<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, RequestError> {
        let view = ObjectView::parse(body)?;
        check_types(&view, CHAT_FIELDS)?;
        let (model, model_span) = required_model(&view)?;
        let messages = view
            .get("messages")
            .filter(|m| JsonType::of(m) != JsonType::Null)
            .ok_or_else(|| missing("messages"))?;
        check_messages(messages)?;
        let stream = match view.get("stream").map(|v| v.get()) {
            Some("true") => StreamFlag::True,
            Some("false") => StreamFlag::False,
            _ => StreamFlag::Absent,
        };
        Ok(ChatRequest {
            view,
            model,
            model_span,
            stream,
        })
    }

    /// The model exactly as the client addressed it (`provider/model` or an alias).
    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn stream(&self) -> StreamFlag {
        self.stream
    }

    /// Any top-level field, raw.
    pub fn field(&self, key: &str) -> Option<&'a RawValue> {
        self.view.get(key)
    }

    /// Starts a rewrite of the original body with `model` replaced by `upstream_model`.
    pub fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        rewrite_model(
            &self.view,
            &self.model,
            self.model_span.clone(),
            upstream_model,
        )
    }

    pub fn view(&self) -> &ObjectView<'a> {
        &self.view
    }
}

/// A validated `POST /v1/embeddings` body.
#[derive(Debug)]
pub struct EmbeddingsRequest<'a> {
    view: ObjectView<'a>,
    model: Cow<'a, str>,
    model_span: Range<usize>,
}

impl<'a> EmbeddingsRequest<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, RequestError> {
        let view = ObjectView::parse(body)?;
        check_types(&view, EMBEDDINGS_FIELDS)?;
        let (model, model_span) = required_model(&view)?;
        let input = view
            .get("input")
            .filter(|m| JsonType::of(m) != JsonType::Null)
            .ok_or_else(|| missing("input"))?;
        if input.get() == "\"\"" || is_empty_array(input) {
            return Err(RequestError::field(
                "input",
                "`input` must not be empty".to_owned(),
                "invalid_value",
            ));
        }
        Ok(EmbeddingsRequest {
            view,
            model,
            model_span,
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        rewrite_model(
            &self.view,
            &self.model,
            self.model_span.clone(),
            upstream_model,
        )
    }

    pub fn view(&self) -> &ObjectView<'a> {
        &self.view
    }
}

/// A body addressed by `model` whose one other required member is `required`: what the gateway
/// reads of a legacy completion or a Responses request (model, stream flag, the model's span).
#[derive(Debug)]
pub(super) struct Addressed<'a> {
    pub(super) view: ObjectView<'a>,
    pub(super) model: Cow<'a, str>,
    model_span: Range<usize>,
    stream: bool,
}

impl<'a> Addressed<'a> {
    pub(super) fn parse(body: &'a [u8], required: &str) -> Result<Self, RequestError> {
        let view = ObjectView::parse(body)?;
        let (model, model_span) = required_model(&view)?;
        view.get(required)
            .filter(|m| JsonType::of(m) != JsonType::Null)
            .ok_or_else(|| missing(required))?;
        let stream = view.get("stream").map(|v| v.get()) == Some("true");
        Ok(Addressed {
            view,
            model,
            model_span,
            stream,
        })
    }

    pub(super) fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        rewrite_model(
            &self.view,
            &self.model,
            self.model_span.clone(),
            upstream_model,
        )
    }
}

/// A validated `POST /v1/completions` body (legacy text completions: served by local models and
/// OpenAI-dialect providers). Only `model`, `prompt` and `stream` are read here; the server that
/// answers checks the rest.
#[derive(Debug)]
pub struct CompletionRequest<'a>(Addressed<'a>);

impl<'a> CompletionRequest<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, RequestError> {
        Addressed::parse(body, "prompt").map(CompletionRequest)
    }

    pub fn model(&self) -> &str {
        &self.0.model
    }

    pub fn stream(&self) -> bool {
        self.0.stream
    }

    pub fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        self.0.rewrite(upstream_model)
    }

    pub fn view(&self) -> &ObjectView<'a> {
        &self.0.view
    }
}

/// A validated `POST /v1/responses` body (the Responses API): its model and stream flag; passed
/// as it is to providers that have the API, else translated (see [`super::responses`]).
#[derive(Debug)]
pub struct ResponsesRequest<'a>(Addressed<'a>);

impl<'a> ResponsesRequest<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, RequestError> {
        Addressed::parse(body, "input").map(ResponsesRequest)
    }

    pub fn model(&self) -> &str {
        &self.0.model
    }

    pub fn stream(&self) -> bool {
        self.0.stream
    }

    pub fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        self.0.rewrite(upstream_model)
    }
}

fn rewrite_model<'a>(
    view: &ObjectView<'a>,
    model: &str,
    span: Range<usize>,
    upstream_model: &str,
) -> Splicer<'a> {
    let mut splicer = Splicer::new(view.body());
    if upstream_model != model {
        let mut json = Vec::with_capacity(upstream_model.len() + 2);
        crate::json::push_json_string(&mut json, upstream_model);
        splicer.replace(span, json);
    }
    splicer
}

pub(super) fn missing(field: &str) -> RequestError {
    RequestError::field(
        field,
        format!("missing required field `{field}`"),
        "missing_required_parameter",
    )
}

pub(super) fn check_types(
    view: &ObjectView<'_>,
    fields: &[(&str, Expect)],
) -> Result<(), RequestError> {
    for member in view.members() {
        let Some((_, expect)) = fields.iter().find(|(name, _)| *name == member.key) else {
            continue; // unknown fields pass through untouched
        };
        let actual = JsonType::of(member.value);
        if actual != JsonType::Null && !expect.accepts(member.value) {
            return Err(RequestError::field(
                member.key,
                format!(
                    "invalid type for `{}`: expected {}, got {}",
                    member.key,
                    expect.describe(),
                    if actual == JsonType::Number {
                        "a non-integer number"
                    } else {
                        actual.name()
                    }
                ),
                "invalid_type",
            ));
        }
    }
    Ok(())
}

fn required_model<'a>(view: &ObjectView<'a>) -> Result<(Cow<'a, str>, Range<usize>), RequestError> {
    let raw = view
        .get("model")
        .filter(|m| JsonType::of(m) != JsonType::Null)
        .ok_or_else(|| missing("model"))?;
    let model = as_str(raw).ok_or_else(|| missing("model"))?;
    if model.trim().is_empty() {
        return Err(RequestError::field(
            "model",
            "`model` must not be empty".to_owned(),
            "invalid_value",
        ));
    }
    Ok((model, view.span_of(raw)))
}

fn is_empty_array(value: &RawValue) -> bool {
    let s = value.get();
    s.starts_with('[') && s[1..s.len() - 1].trim().is_empty()
}

/// Just enough of a message to check its shape; other fields are ignored (and forwarded).
#[derive(Deserialize)]
struct MessageShape<'a> {
    #[serde(borrow)]
    role: Option<&'a RawValue>,
    #[serde(borrow)]
    content: Option<&'a RawValue>,
}

fn check_messages(messages: &RawValue) -> Result<(), RequestError> {
    // Fast path: one pass over the array. Only if it fails (or finds something to report) do we go
    // item by item to say precisely which message is wrong.
    if let Ok(shapes) = serde_json::from_str::<Vec<MessageShape<'_>>>(messages.get()) {
        let all_fine = !shapes.is_empty()
            && shapes.iter().all(|m| {
                m.role
                    .and_then(as_str)
                    .is_some_and(|r| ROLES.contains(&r.as_ref()))
                    && m.content.is_none_or(|c| {
                        matches!(
                            JsonType::of(c),
                            JsonType::String | JsonType::Array | JsonType::Null
                        )
                    })
            });
        if all_fine {
            return Ok(());
        }
    }
    let items: Vec<&RawValue> = serde_json::from_str(messages.get()).map_err(|_| {
        RequestError::field(
            "messages",
            "invalid type for `messages`: expected an array".to_owned(),
            "invalid_type",
        )
    })?;
    if items.is_empty() {
        return Err(RequestError::field(
            "messages",
            "`messages` must contain at least one message".to_owned(),
            "invalid_value",
        ));
    }
    for (i, item) in items.iter().enumerate() {
        let param = || format!("messages[{i}]");
        if JsonType::of(item) != JsonType::Object {
            return Err(RequestError::field(
                param(),
                format!(
                    "invalid type for `messages[{i}]`: expected an object, got {}",
                    JsonType::of(item).name()
                ),
                "invalid_type",
            ));
        }
        let shape: MessageShape<'_> = serde_json::from_str(item.get()).map_err(|e| {
            RequestError::field(
                param(),
                format!("invalid `messages[{i}]`: {e}"),
                "invalid_type",
            )
        })?;
        let role = shape.role.and_then(as_str).ok_or_else(|| {
            RequestError::field(
                format!("messages[{i}].role"),
                format!("missing or non-string `messages[{i}].role`"),
                "missing_required_parameter",
            )
        })?;
        if !ROLES.contains(&role.as_ref()) {
            return Err(RequestError::field(
                format!("messages[{i}].role"),
                format!(
                    "invalid value for `messages[{i}].role`: `{role}` (expected one of {})",
                    ROLES.join(", ")
                ),
                "invalid_value",
            ));
        }
        if let Some(content) = shape.content {
            let t = JsonType::of(content);
            if !matches!(t, JsonType::String | JsonType::Array | JsonType::Null) {
                return Err(RequestError::field(
                    format!("messages[{i}].content"),
                    format!(
                        "invalid type for `messages[{i}].content`: expected a string or an array of content parts, got {}",
                        t.name()
                    ),
                    "invalid_type",
                ));
            }
        }
    }
    Ok(())
}
