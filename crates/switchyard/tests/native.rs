//! Provider-native passthrough and Cloudflare AI Gateway's URL shapes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Harness as H;
use serde_json::{json, Value};

async fn start() -> H {
    common::start_with(|mock| format!(
        "[server]\nenv_providers = false\n[providers.mock-openai]\nkind = \"openai\"\nbase_url = \"{0}\"\napi_key = \"sk-test\"\n[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{0}\"\napi_key = \"sk-ant-test\"\n",
        mock.base_url()
    )).await
}

#[tokio::test]
async fn native_requests_are_forwarded_untouched_with_the_providers_key() {
    let h = start().await;
    let body = r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}],"x":1}"#;
    let response = h
        .http
        .post(h.gateway.url("/mock-openai/chat/completions?trace=1"))
        .header("authorization", "Bearer client-secret")
        .header("content-type", "application/json")
        .header("openai-organization", "org-123")
        .header("cf-aig-metadata", "{}")
        .header("accept-encoding", "gzip, br")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("cf-aig-request-id"));
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["object"], "chat.completion");
    let seen = h.mock.last_request().unwrap();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.query.as_deref(), Some("trace=1"));
    assert_eq!(
        std::str::from_utf8(&seen.body).unwrap(),
        body,
        "the body is not rewritten"
    );
    assert_eq!(seen.header("authorization"), Some("Bearer sk-test"));
    assert_eq!(seen.header("openai-organization"), Some("org-123"));
    // the answer is read (usage, the request log): it comes uncompressed
    assert_eq!(seen.header("accept-encoding"), None);
    assert_eq!(
        seen.header("cf-aig-metadata"),
        None,
        "gateway control headers stay here"
    );

    let models = h
        .http
        .get(h.gateway.url("/mock-openai/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(models.status(), 200);
    assert_eq!(h.mock.last_request().unwrap().method, "GET");
}

#[tokio::test]
async fn anthropic_native_path_gets_x_api_key_and_keeps_client_beta_headers() {
    let h = start().await;
    let response = h
        .http
        .post(h.gateway.url("/claude/v1/messages"))
        .header("x-api-key", "client-key")
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "prompt-caching-2024-07-31")
        .json(&json!({"model": "claude-sonnet-4-5", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let text = response.text().await.unwrap();
    assert!(
        text.starts_with("event: message_start") && text.contains("event: message_stop"),
        "{text}"
    );
    let seen = h.mock.last_request().unwrap();
    assert_eq!(seen.path, "/v1/messages", "a leading v1/ is not doubled");
    assert_eq!(seen.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(
        seen.header("anthropic-beta"),
        Some("prompt-caching-2024-07-31")
    );
}

#[tokio::test]
async fn upstream_errors_are_relayed_as_the_provider_sent_them() {
    let h = start().await;
    let response = h
        .http
        .post(h.gateway.url("/mock-openai/chat/completions"))
        .json(&json!({"model": "status-429", "messages": [{"role": "user", "content": "hi"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "7");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
}

#[tokio::test]
async fn cloudflare_url_shapes_work() {
    let h = start().await;
    let response = h
        .http
        .post(
            h.gateway
                .url("/v1/my-account/my-gateway/mock-openai/chat/completions"),
        )
        .json(&common::chat("gpt-4o-mini"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(h.mock.last_request().unwrap().path, "/v1/chat/completions");

    let response = h
        .http
        .post(
            h.gateway
                .url("/v1/my-account/my-gateway/compat/chat/completions"),
        )
        .json(&common::chat("claude/claude-sonnet-4-5"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["object"], "chat.completion",
        "compat translates to Anthropic and back"
    );
    assert_eq!(h.mock.last_request().unwrap().path, "/v1/messages");
}

#[tokio::test]
async fn an_unknown_provider_is_a_json_404() {
    let h = start().await;
    let response = h
        .http
        .get(h.gateway.url("/nobody/chat/completions"))
        .send()
        .await
        .unwrap();
    let error = common::expect_error(response, 404).await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("claude, mock-openai"),
        "{error}"
    );
    assert!(h.mock.requests().is_empty());
}

/// Sends `GET {path}` as written (HTTP clients would normalise dot segments away).
async fn raw_get(h: &H, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = h
        .gateway
        .base_url()
        .trim_start_matches("http://")
        .to_owned();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer[9..12].parse().unwrap();
    (status, answer)
}

#[tokio::test]
async fn passthrough_paths_cannot_climb_out_of_the_base_url() {
    let h = start().await;
    for path in [
        "/mock-openai/../../admin",
        "/mock-openai/v1/%2e%2e/%2E%2E/admin",
        "/mock-openai/./models",
        "/mock-openai/models%2F..%2F..%2Fadmin",
        "/mock-openai/a%2Fb",
        "/mock-openai/models%5C..%5Cadmin",
        "/mock-openai/models%3Fapi-version=evil",
        "/mock-openai/models%23fragment",
        "/mock-openai/%252e%252e/admin",
        "/v1/acct/gw/mock-openai/%2e%2e/admin",
    ] {
        let (status, answer) = raw_get(&h, path).await;
        assert_eq!(status, 400, "{path}: {answer}");
        assert!(answer.contains("invalid_path"), "{path}: {answer}");
    }
    assert!(h.mock.requests().is_empty(), "{:?}", h.mock.requests());
    // the universal endpoint's `endpoint` is held to the same rule
    let steps =
        json!([{"provider": "mock-openai", "endpoint": "../../admin", "headers": {}, "query": {}}]);
    let response = h.post("/universal", &steps).await;
    assert_eq!(response.status(), 400, "{}", response.text().await.unwrap());
    assert!(h.mock.requests().is_empty());
    // a plain path still works
    let (status, _) = raw_get(&h, "/mock-openai/models").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn passthrough_keeps_configured_headers_and_drops_upstream_cookies() {
    let h = common::start_with(|mock| format!(
        "[server]\nenv_providers = false\n[providers.mock-openai]\nkind = \"openai\"\nbase_url = \"{0}\"\napi_key = \"sk-test\"\nheaders = {{ \"OpenAI-Organization\" = \"org-configured\" }}\n",
        mock.base_url()
    )).await;
    let response = h
        .http
        .post(h.gateway.url("/mock-openai/chat/completions"))
        .header("content-type", "application/json")
        .header("openai-organization", "org-from-the-client")
        .header("x-mock-set-cookie", "1")
        .body(r#"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("set-cookie").is_none(),
        "an upstream's cookie is not the client's: {:?}",
        response.headers()
    );
    let seen = h.mock.last_request().unwrap();
    assert_eq!(seen.header("openai-organization"), Some("org-configured"));
    // headers the operator did not configure still pass
    assert_eq!(seen.header("x-mock-set-cookie"), Some("1"));
}

#[tokio::test]
async fn universal_step_credentials_never_reach_the_request_log() {
    let h = start().await;
    let steps = json!([{
        "provider": "mock-openai", "endpoint": "chat/completions",
        "headers": {"Authorization": "Bearer sk-upstream-secret", "X-Api-Key": "also-secret",
                    "content-type": "application/json"},
        "query": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    }]);
    let response = h.post("/universal", &steps).await;
    assert_eq!(response.status(), 200);
    let id = response.headers()["cf-aig-log-id"]
        .to_str()
        .unwrap()
        .to_owned();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let row = loop {
        let row: Value = reqwest::get(h.gateway.url(&format!("/api/logs/{id}")))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if row["request_body"].is_string() {
            break row;
        }
        assert!(std::time::Instant::now() < deadline, "{row}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let logged = row["request_body"].as_str().unwrap();
    assert!(
        !logged.contains("sk-upstream-secret") && !logged.contains("also-secret"),
        "{logged}"
    );
    assert!(
        logged.contains("[redacted]") && logged.contains("application/json"),
        "{logged}"
    );
}

#[tokio::test]
async fn providers_named_by_clients_do_not_become_metric_series() {
    let h = start().await;
    for i in 0..20 {
        let steps = json!([{"provider": format!("made-up-{i}"), "endpoint": "chat/completions",
            "headers": {}, "query": {}}]);
        let response = h.post("/universal", &steps).await;
        assert_eq!(response.status(), 404);
        let response = h
            .post(&format!("/made-up-path-{i}/chat/completions"), &json!({}))
            .await;
        assert_eq!(response.status(), 404);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let text = loop {
        let text = reqwest::get(h.gateway.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("provider=\"unknown\"") {
            break text;
        }
        assert!(std::time::Instant::now() < deadline, "{text}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(!text.contains("made-up"), "{text}");
}
