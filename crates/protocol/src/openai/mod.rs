//! The OpenAI dialect (Chat Completions, Embeddings, Models), as the front door and as an upstream.

pub mod convert;
mod decode;
mod error;
mod fields;
mod models;
mod request;
pub mod responses;
mod tasks;
mod transcription;
pub mod upstream;
mod usage;

pub use tasks::{ClassifyRequest, ImagesRequest, RerankRequest};
pub use transcription::{FormPart, TranscriptionRequest};
pub use usage::{scan_usage, UsageCounts};

/// The text inputs of an OpenAI embeddings body (a string or an array of strings). `None` for
/// token-id inputs, which other providers cannot take.
pub fn embedding_texts(body: &[u8]) -> Option<(Vec<String>, serde_json::Value)> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let texts = match &v["input"] {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(items) if items.iter().all(serde_json::Value::is_string) => items
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect(),
        _ => return None,
    };
    Some((texts, v))
}

/// An OpenAI embeddings list from vectors.
pub fn embeddings_list(
    vectors: Vec<serde_json::Value>,
    model: &str,
    tokens: u64,
) -> serde_json::Value {
    let data: Vec<serde_json::Value> = vectors
        .into_iter()
        .enumerate()
        .map(|(i, e)| serde_json::json!({"object": "embedding", "index": i, "embedding": e}))
        .collect();
    serde_json::json!({"object": "list", "data": data, "model": model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})
}

pub use error::ErrorBody;
pub use fields::Expect;
pub use models::{ModelEntry, ModelList};
pub use request::{
    ChatRequest, CompletionRequest, EmbeddingsRequest, RequestError, ResponsesRequest, StreamFlag,
};

#[cfg(test)]
mod tests;
