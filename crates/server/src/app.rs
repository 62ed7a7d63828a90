//! The route table.

use axum::routing::{any, delete, get, patch, post, put};
use axum::Router;

use crate::routes::{
    admin, anthropic, health, keys, logs, native, openai, responses, secrets, workers_ai,
};
use crate::AppState;

/// Every route Switchyard serves.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/completions", post(openai::completions))
        .route("/v1/embeddings", post(openai::embeddings))
        .route("/v1/responses", post(openai::responses))
        .route(
            "/v1/responses/{id}",
            get(responses::retrieve).merge(delete(responses::delete)),
        )
        .route(
            "/v1/responses/{id}/input_items",
            get(responses::input_items),
        )
        .route("/v1/audio/transcriptions", post(openai::transcriptions))
        .route("/v1/audio/translations", post(openai::translations))
        // Cohere's (v2, v1) and Jina's rerank paths
        .route("/v1/rerank", post(openai::rerank))
        .route("/v2/rerank", post(openai::rerank))
        .route("/v1/images/generations", post(openai::images))
        .route("/ai/run/{*model}", post(workers_ai::run))
        .route("/ai/models/search", get(workers_ai::search))
        .route("/ai/models/schema", get(workers_ai::schema))
        // Cloudflare's REST API shapes (the `cloudflare` SDKs' `base_url = …/client/v4`)
        .route(
            "/client/v4/accounts/{account}/ai/run/{*model}",
            post(workers_ai::run_in_account),
        )
        .route(
            "/client/v4/accounts/{account}/ai/models/search",
            get(workers_ai::search),
        )
        .route(
            "/client/v4/accounts/{account}/ai/models/schema",
            get(workers_ai::schema),
        )
        // anything else under Cloudflare's REST API or Workers AI's paths is not a provider's
        .route("/client/v4/{*rest}", any(health::not_found))
        .route("/ai/{*rest}", any(health::not_found))
        // Workers AI's OpenAI-compatible endpoints
        .route(
            "/client/v4/accounts/{account}/ai/v1/chat/completions",
            post(openai::chat_completions),
        )
        .route(
            "/client/v4/accounts/{account}/ai/v1/embeddings",
            post(openai::embeddings),
        )
        .route(
            "/client/v4/accounts/{account}/ai/v1/responses",
            post(openai::responses),
        )
        .route(
            "/client/v4/accounts/{account}/ai/v1/responses/{id}",
            get(responses::retrieve).merge(delete(responses::delete)),
        )
        .route(
            "/client/v4/accounts/{account}/ai/v1/responses/{id}/input_items",
            get(responses::input_items),
        )
        .route(
            "/client/v4/accounts/{account}/ai/v1/audio/transcriptions",
            post(openai::transcriptions),
        )
        .route(
            "/client/v4/accounts/{account}/ai/v1/audio/translations",
            post(openai::translations),
        )
        .route(
            "/client/v4/accounts/{account}/ai/v1/images/generations",
            post(openai::images),
        )
        .route(
            "/client/v4/accounts/{account}/ai/v1/models",
            get(openai::models),
        )
        .route("/v1/models", get(openai::models))
        .route("/v1/models/{*id}", get(openai::model))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route(
            "/v1/{account}/{gateway}/compat/chat/completions",
            post(native::compat_chat),
        )
        .route(
            "/v1/{account}/{gateway}/compat/embeddings",
            post(native::compat_embeddings),
        )
        .route(
            "/v1/{account}/{gateway}/{provider}/{*rest}",
            any(native::cloudflare),
        )
        .route("/{provider}/{*rest}", any(native::provider))
        .route("/universal", post(native::universal))
        .route("/v1/{account}/{gateway}", post(native::universal))
        .route(
            "/api/cache",
            get(admin::cache_stats).merge(delete(admin::cache_purge)),
        )
        .route("/api/logs", get(logs::list).merge(delete(logs::delete)))
        .route("/api/logs/{id}", get(logs::get).merge(patch(logs::patch)))
        .route("/api/analytics", get(logs::analytics))
        .route("/metrics", get(admin::metrics))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/api/keys", get(keys::list).merge(post(keys::create)))
        .route(
            "/api/keys/{id}",
            get(keys::get)
                .merge(patch(keys::update))
                .merge(delete(keys::delete)),
        )
        .route("/api/secrets", get(secrets::list))
        .route(
            "/api/secrets/{provider}/{alias}",
            put(secrets::put).merge(delete(secrets::delete)),
        )
        .fallback(health::not_found)
        .method_not_allowed_fallback(health::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::guard::check,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::origin::check,
        ))
        .with_state(state)
}

#[cfg(test)]
mod tests;
