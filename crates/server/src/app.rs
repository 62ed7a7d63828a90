//! The route table.

use axum::routing::{get, post};
use axum::Router;

use crate::routes::{anthropic, health, openai};
use crate::AppState;

/// Every route Switchyard serves.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/models", get(openai::models))
        .route("/v1/messages", post(anthropic::messages))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .fallback(health::not_found)
        .method_not_allowed_fallback(health::method_not_allowed)
        .with_state(state)
}

#[cfg(test)]
mod tests;
