//! The OpenAI front door forwarding to OpenAI-family providers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{chat, start};
use futures_util::StreamExt;
use serde_json::json;

#[tokio::test]
async fn chat_completion_is_forwarded_with_provider_key_and_model_rewritten() {
    let h = start("").await;
    let response = h
        .post("/v1/chat/completions", &chat("mock-openai/gpt-4o-mini"))
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().contains_key("cf-aig-request-id"));
    let timing = response.headers()["server-timing"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        timing.starts_with("gateway;dur=") && timing.contains("upstream;dur="),
        "{timing}"
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello from mock");

    let seen = h.mock.last_request().unwrap();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.json()["model"], "gpt-4o-mini");
    assert_eq!(
        seen.header("authorization"),
        Some("Bearer sk-test"),
        "client credentials must not be forwarded"
    );
}

#[tokio::test]
async fn every_standard_and_unknown_field_passes_through_untouched() {
    let h = start("").await;
    let request = json!({
        "model": "mock-openai/gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief"}, {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
        "stream_options": null,
        "n": 2, "logprobs": true, "top_logprobs": 3, "seed": 42, "logit_bias": {"50256": -100},
        "temperature": 0.2, "max_completion_tokens": 64, "stop": ["\n\n"], "user": "u-1",
        "x_vendor_extension": {"nested": [1, 2, {"deep": true}]}
    });
    let response = h.post("/v1/chat/completions", &request).await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        body["choices"].as_array().unwrap().len(),
        2,
        "n reached the upstream"
    );
    let mut expected = request.clone();
    expected["model"] = json!("gpt-4o-mini");
    assert_eq!(h.mock.last_request().unwrap().json(), expected);
}

#[tokio::test]
async fn the_body_is_forwarded_byte_for_byte_apart_from_the_model() {
    let h = start("").await;
    let raw = "{ \"messages\" : [ {\"role\":\"user\",\"content\":\"caf\\u00e9 \\\"q\\\"\"} ],\n  \"model\":\"mock-openai/gpt-4o-mini\", \"temperature\":1.50 }";
    let response = h.post_raw("/v1/chat/completions", raw).await;
    assert_eq!(response.status(), 200);
    let seen = h.mock.last_request().unwrap();
    assert_eq!(
        std::str::from_utf8(&seen.body).unwrap(),
        raw.replace("mock-openai/gpt-4o-mini", "gpt-4o-mini")
    );
}

#[tokio::test]
async fn streaming_is_relayed_event_by_event() {
    let h = start("").await;
    let mut request = chat("mock-openai/gpt-4o-mini");
    request["stream"] = json!(true);
    request["stream_options"] = json!({"include_usage": true});
    let response = h.post("/v1/chat/completions", &request).await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    assert_eq!(response.headers()["x-upstream-request-id"], "req_mock_123");
    let text = response.text().await.unwrap();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 7, "{text}");
    assert!(events.iter().all(|e| e.starts_with("data: ")));
    assert_eq!(*events.last().unwrap(), "data: [DONE]");
    let usage: serde_json::Value = serde_json::from_str(&events[5][6..]).unwrap();
    assert_eq!(usage["usage"]["total_tokens"], 15);
    assert_eq!(
        h.mock.last_request().unwrap().json()["stream_options"]["include_usage"],
        true
    );
}

#[tokio::test]
async fn stream_chunks_arrive_before_the_stream_ends() {
    let h = start("").await;
    let mut request = chat("mock-openai/slow-stream-6");
    request["stream"] = json!(true);
    let started = std::time::Instant::now();
    let response = h.post("/v1/chat/completions", &request).await;
    let mut body = response.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    let first_at = started.elapsed();
    assert!(first.starts_with(b"data: "));
    let mut rest = Vec::new();
    while let Some(chunk) = body.next().await {
        rest.extend_from_slice(&chunk.unwrap());
    }
    let total = started.elapsed();
    // The mock spaces 6 ticks 50 ms apart; buffering would deliver the first byte with the last.
    assert!(
        total - first_at >= std::time::Duration::from_millis(200),
        "first {first_at:?}, total {total:?}"
    );
    assert!(String::from_utf8(rest)
        .unwrap()
        .ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn embeddings_are_forwarded() {
    let h = start("").await;
    let response = h
        .post("/v1/embeddings", &json!({"model": "mock-openai/text-embedding-3-small", "input": ["a", "b"], "encoding_format": "float"}))
        .await;
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    let seen = h.mock.last_request().unwrap();
    assert_eq!(seen.path, "/v1/embeddings");
    assert_eq!(seen.json()["model"], "text-embedding-3-small");
    assert_eq!(seen.json()["encoding_format"], "float");
}

#[tokio::test]
async fn aliases_and_bare_declared_models_route() {
    let h = start("[[models]]\nname = \"fast\"\ntarget = \"mock-openai/gpt-4o-mini\"\nfallbacks = [\"mock-openai/gpt-4o\"]\n").await;
    assert_eq!(
        h.post("/v1/chat/completions", &chat("fast")).await.status(),
        200
    );
    assert_eq!(
        h.mock.last_request().unwrap().json()["model"],
        "gpt-4o-mini"
    );
    // Declared in the provider's `models`, so the bare name works too (and is sent unchanged).
    assert_eq!(
        h.post("/v1/chat/completions", &chat("gpt-4o-mini"))
            .await
            .status(),
        200
    );
    assert_eq!(
        h.mock.last_request().unwrap().json()["model"],
        "gpt-4o-mini"
    );
}

#[tokio::test]
async fn models_lists_aliases_and_declared_models() {
    let h = start("[[models]]\nname = \"fast\"\ntarget = \"mock-openai/gpt-4o-mini\"\n").await;
    let response = h
        .http
        .get(h.gateway.url("/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    let ids: Vec<&str> = body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["fast", "mock-openai/gpt-4o-mini"]);
}

#[tokio::test]
async fn azure_uses_deployment_urls_api_version_and_api_key_header() {
    let mock = switchyard_testkit::MockUpstream::start().await.unwrap();
    let config = format!(
        "[server]\nenv_providers = false\n[providers.az]\nkind = \"azure\"\nbase_url = \"{}\"\napi_key = \"azure-key\"\napi_version = \"2024-10-21\"\ndeployments = {{ \"gpt-4o\" = \"prod-4o\" }}\n",
        mock.root_url()
    );
    let gateway = switchyard_testkit::Switchyard::start(common::bin(), &config)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let response = http
        .post(gateway.url("/v1/chat/completions"))
        .json(&chat("az/gpt-4o"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen = mock.last_request().unwrap();
    assert_eq!(seen.path, "/openai/deployments/prod-4o/chat/completions");
    assert_eq!(seen.query.as_deref(), Some("api-version=2024-10-21"));
    assert_eq!(seen.header("api-key"), Some("azure-key"));
    assert_eq!(seen.header("authorization"), None);

    let response = http
        .post(gateway.url("/v1/embeddings"))
        .json(&json!({"model": "az/text-embedding-3-small", "input": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        mock.last_request().unwrap().path,
        "/openai/deployments/text-embedding-3-small/embeddings"
    );
}

#[tokio::test]
async fn preset_kinds_work_against_any_base_url() {
    let mock = switchyard_testkit::MockUpstream::start().await.unwrap();
    let config = format!(
        "[server]\nenv_providers = false\n[providers.local]\nkind = \"vllm\"\nbase_url = \"{}\"\n[providers.groq]\nkind = \"groq\"\nbase_url = \"{}\"\napi_key = \"gsk-test\"\n",
        mock.base_url(),
        mock.base_url()
    );
    let gateway = switchyard_testkit::Switchyard::start(common::bin(), &config)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    for (model, auth) in [
        ("local/qwen2.5", None),
        ("groq/llama-3.1-8b-instant", Some("Bearer gsk-test")),
    ] {
        let response = http
            .post(gateway.url("/v1/chat/completions"))
            .header("authorization", "Bearer client-key")
            .json(&chat(model))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{model}");
        assert_eq!(
            mock.last_request().unwrap().header("authorization"),
            auth,
            "{model}"
        );
    }
}

#[tokio::test]
async fn upstream_connections_are_reused() {
    let h = start("").await;
    for _ in 0..5 {
        assert_eq!(
            h.post("/v1/chat/completions", &chat("mock-openai/gpt-4o-mini"))
                .await
                .status(),
            200
        );
    }
    // Sequential requests share one pooled keep-alive connection.
    assert_eq!(h.mock.requests().len(), 5);
    assert_eq!(h.mock.connections(), 1);
}
