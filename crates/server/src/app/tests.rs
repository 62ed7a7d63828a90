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
        .oneshot(
            Request::get(path)
                .extension(switchyard_gateway::RequestContext::new())
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("{path}: {status} {}", String::from_utf8_lossy(&body))),
    )
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

#[tokio::test]
async fn workers_ai_paths_answer_errors_in_cloudflares_envelope_and_its_openai_paths_in_openais() {
    let app = app(state());
    // an unknown path under Cloudflare's REST API, and one of Workers AI's
    for path in [
        "/client/v4/accounts/acct/ai/nothing",
        "/client/v4/accounts/acct/workers/scripts",
        "/ai/nothing",
    ] {
        let (status, body) = get(app.clone(), path).await;
        assert_eq!(status, 404, "{path}");
        assert_eq!(body["success"], false, "{path}: {body}");
        assert_eq!(body["errors"][0]["code"], 404, "{path}: {body}");
        assert!(body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains(path));
    }
    // the schema of a model that is not there
    let (status, body) = get(
        app.clone(),
        "/client/v4/accounts/acct/ai/models/schema?model=nobody",
    )
    .await;
    assert_eq!((status, body["success"].clone()), (404, false.into()));
    // bad paging
    let (status, body) = get(
        app.clone(),
        "/client/v4/accounts/acct/ai/models/search?page=0",
    )
    .await;
    assert_eq!(status, 400);
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("page"));
    // pages: the default models one at a time, then an empty page
    let mut names = Vec::new();
    for page in 1.. {
        let (status, body) = get(
            app.clone(),
            &format!("/client/v4/accounts/acct/ai/models/search?per_page=1&page={page}"),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(body["result_info"]["page"], page);
        let result = body["result"].as_array().unwrap();
        if result.is_empty() {
            break;
        }
        assert_eq!(result.len(), 1);
        names.push(result[0]["name"].as_str().unwrap().to_owned());
    }
    assert!(
        names.contains(&"smollm2-135m-instruct".to_owned()),
        "{names:?}"
    );
    // Workers AI's OpenAI-compatible endpoints answer like OpenAI
    let (status, body) = get(app, "/client/v4/accounts/acct/ai/v1/nothing").await;
    assert_eq!(status, 404);
    assert!(body["error"]["message"].is_string(), "{body}");
}

#[tokio::test]
async fn a_missing_gateway_key_on_a_workers_ai_path_is_refused_in_the_envelope() {
    let state = state_from("[auth]\nrequired = true\n");
    let (status, body) = get(app(state), "/client/v4/accounts/acct/ai/models/search").await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["success"], false, "{body}");
}
