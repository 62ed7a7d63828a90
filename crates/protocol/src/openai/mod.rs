//! The OpenAI dialect (Chat Completions, Embeddings, Models), as the front door and as an upstream.

pub mod convert;
mod decode;
mod error;
mod fields;
mod models;
mod request;
pub mod upstream;

pub use error::ErrorBody;
pub use fields::Expect;
pub use models::{ModelEntry, ModelList};
pub use request::{ChatRequest, EmbeddingsRequest, RequestError, StreamFlag};

#[cfg(test)]
mod tests;
