use std::collections::HashMap;

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;

fn state() -> AppState {
    state_from("")
}

fn state_from(text: &str) -> AppState {
    let config = switchyard_config::load_str_with_env("t", text, &HashMap::new()).unwrap();
    let cache = futures_util::FutureExt::now_or_never(switchyard_gateway::ResponseCache::open(
        &config.cache,
    ))
    .unwrap()
    .unwrap();
    AppState::new(&config, cache).unwrap()
}

async fn get(app: Router, path: &str) -> (u16, serde_json::Value) {
    let response = app
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test]
async fn readiness_turns_503_once_shutdown_begins() {
    let state = state();
    let app = app(state.clone());
    assert_eq!(
        get(app.clone(), "/readyz").await,
        (200, serde_json::json!({"status": "ready"}))
    );
    state.set_not_ready();
    assert_eq!(
        get(app.clone(), "/readyz").await,
        (503, serde_json::json!({"status": "shutting_down"}))
    );
    // Liveness is unaffected.
    assert_eq!(get(app, "/healthz").await.0, 200);
}

#[tokio::test]
async fn models_with_nothing_configured_lists_the_default_models() {
    let (status, body) = get(app(state()), "/v1/models").await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "smollm2-135m-instruct",
            "default",
            "all-minilm-l6-v2",
            "default-embeddings",
            "local/smollm2-135m-instruct",
            "local/all-minilm-l6-v2"
        ]
    );
}

#[tokio::test]
async fn models_with_no_providers_is_an_empty_list() {
    let state = state_from("[runtime]\ndefault_models = false\n");
    let (status, body) = get(app(state), "/v1/models").await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({"object": "list", "data": []}));
}
