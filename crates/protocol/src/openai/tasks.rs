//! Bodies of the task APIs beyond text: images (`POST /v1/images/generations`: `model`,
//! `prompt`, `n`, `size`, `response_format`, and Workers AI's `seed`, `negative_prompt`,
//! `num_steps`, `guidance` as extensions); `POST /v1/rerank` in the shape Cohere, Jina, vLLM
//! and TEI share (`model`, `query`, `documents`, `top_n`, `return_documents`); and the
//! classification body Workers AI runs turn into (`model`, `input`: a text or texts). Only what
//! routing needs is read here (the model, and that the required members are there with the
//! right types); the model that answers checks the rest.

use serde_json::value::RawValue;

use super::fields::Expect;
use super::request::{check_types, missing, Addressed};
use super::RequestError;
use crate::json::{JsonType, ObjectView, Splicer};

const RERANK_FIELDS: &[(&str, Expect)] = &[
    ("model", Expect::String),
    ("query", Expect::String),
    ("documents", Expect::Array),
    ("top_n", Expect::Integer),
    ("return_documents", Expect::Bool),
    ("max_tokens_per_doc", Expect::Integer),
];

const IMAGES_FIELDS: &[(&str, Expect)] = &[
    ("model", Expect::String),
    ("prompt", Expect::String),
    ("n", Expect::Integer),
    ("size", Expect::String),
    ("response_format", Expect::String),
    ("quality", Expect::String),
    ("style", Expect::String),
    ("user", Expect::String),
    // extensions for local models (Workers AI's names)
    ("seed", Expect::Integer),
    ("negative_prompt", Expect::String),
    ("num_steps", Expect::Integer),
    ("guidance", Expect::Number),
    ("width", Expect::Integer),
    ("height", Expect::Integer),
];

const CLASSIFY_FIELDS: &[(&str, Expect)] =
    &[("model", Expect::String), ("input", Expect::StringOrArray)];

fn not_empty(view: &ObjectView<'_>, field: &str) -> Result<(), RequestError> {
    let value: &RawValue = view.get(field).ok_or_else(|| missing(field))?;
    let s = value.get();
    let empty = match JsonType::of(value) {
        JsonType::String => s == "\"\"",
        JsonType::Array => s[1..s.len() - 1].trim().is_empty(),
        _ => false,
    };
    if empty {
        return Err(RequestError::field(
            field,
            format!("`{field}` must not be empty"),
            "invalid_value",
        ));
    }
    Ok(())
}

/// A validated rerank body.
#[derive(Debug)]
pub struct RerankRequest<'a>(Addressed<'a>);

impl<'a> RerankRequest<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, RequestError> {
        let addressed = Addressed::parse(body, "query")?;
        check_types(&addressed.view, RERANK_FIELDS)?;
        not_empty(&addressed.view, "documents")?;
        Ok(RerankRequest(addressed))
    }

    pub fn model(&self) -> &str {
        &self.0.model
    }

    pub fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        self.0.rewrite(upstream_model)
    }
}

/// A validated `POST /v1/images/generations` body.
#[derive(Debug)]
pub struct ImagesRequest<'a>(Addressed<'a>);

impl<'a> ImagesRequest<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, RequestError> {
        let addressed = Addressed::parse(body, "prompt")?;
        check_types(&addressed.view, IMAGES_FIELDS)?;
        not_empty(&addressed.view, "prompt")?;
        Ok(ImagesRequest(addressed))
    }

    pub fn model(&self) -> &str {
        &self.0.model
    }

    pub fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        self.0.rewrite(upstream_model)
    }
}

/// A validated classification body.
#[derive(Debug)]
pub struct ClassifyRequest<'a>(Addressed<'a>);

impl<'a> ClassifyRequest<'a> {
    pub fn parse(body: &'a [u8]) -> Result<Self, RequestError> {
        let addressed = Addressed::parse(body, "input")?;
        check_types(&addressed.view, CLASSIFY_FIELDS)?;
        not_empty(&addressed.view, "input")?;
        Ok(ClassifyRequest(addressed))
    }

    pub fn model(&self) -> &str {
        &self.0.model
    }

    pub fn rewrite(&self, upstream_model: &str) -> Splicer<'a> {
        self.0.rewrite(upstream_model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rerank_needs_a_query_and_documents_of_the_right_types() {
        let ok = br#"{"model":"r","query":"q","documents":["a",{"text":"b"}],"top_n":1}"#;
        assert_eq!(RerankRequest::parse(ok).unwrap().model(), "r");
        let err = |b: &str| RerankRequest::parse(b.as_bytes()).unwrap_err();
        assert_eq!(
            err(r#"{"model":"r","documents":["a"]}"#).param.as_deref(),
            Some("query")
        );
        assert_eq!(
            err(r#"{"model":"r","query":"q"}"#).param.as_deref(),
            Some("documents")
        );
        assert_eq!(
            err(r#"{"model":"r","query":"q","documents":[]}"#)
                .param
                .as_deref(),
            Some("documents")
        );
        assert_eq!(
            err(r#"{"model":"r","query":"q","documents":"a"}"#)
                .param
                .as_deref(),
            Some("documents")
        );
        assert_eq!(
            err(r#"{"model":"r","query":"q","documents":["a"],"top_n":1.5}"#)
                .param
                .as_deref(),
            Some("top_n")
        );
        assert_eq!(
            err(r#"{"query":"q","documents":["a"]}"#).param.as_deref(),
            Some("model")
        );
    }

    #[test]
    fn a_classification_needs_input() {
        assert!(ClassifyRequest::parse(br#"{"model":"c","input":["x"]}"#).is_ok());
        let e = ClassifyRequest::parse(br#"{"model":"c","input":""}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("input"));
        let e = ClassifyRequest::parse(br#"{"model":"c","input":3}"#).unwrap_err();
        assert_eq!(e.param.as_deref(), Some("input"));
    }
}
