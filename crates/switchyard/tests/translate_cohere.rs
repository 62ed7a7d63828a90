//! OpenAI- and Anthropic-dialect clients talking to a Cohere-kind provider (`/v2/chat`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::{json, Value};

async fn start() -> common::Harness {
    common::start_with(|mock| {
        format!(
            "[server]\nenv_providers = false\n[providers.co]\nkind = \"cohere\"\nbase_url = \"{}/v2\"\napi_key = \"co-test\"\n",
            mock.root_url()
        )
    })
    .await
}

#[tokio::test]
async fn chat_json_stream_and_tools() {
    let h = start().await;
    let mock = &h.mock;
    let mut body = common::chat("co/command-r-plus");
    body["top_p"] = json!(0.5);
    let answer: Value = h.post_json("/v1/chat/completions", &body).await;
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello from mock"
    );
    assert_eq!(answer["usage"]["prompt_tokens"], 12);
    let seen = mock.last_request().unwrap();
    assert_eq!(seen.path, "/v2/chat");
    assert_eq!(seen.header("authorization"), Some("Bearer co-test"));
    assert_eq!(seen.json()["p"], 0.5);
    assert_eq!(seen.json()["model"], "command-r-plus");

    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let text = h
        .post("/v1/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("\"content\":\"Hello\"") && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );
    assert!(text.contains("\"total_tokens\":15"), "{text}");

    let tools = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    let claude = json!({"model": "co/command-r-plus", "max_tokens": 50, "messages": [{"role": "user", "content": "Weather?"}], "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]});
    let answer: Value = h.post_json("/v1/messages", &claude).await;
    assert_eq!(answer["stop_reason"], "tool_use", "{answer}");
    assert_eq!(answer["content"][0]["input"], json!({"city": "Paris"}));
    assert_eq!(mock.last_request().unwrap().json()["tools"], tools);

    let error = common::expect_error(
        h.post("/v1/chat/completions", &common::chat("co/status-404"))
            .await,
        404,
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("model not found"),
        "{error}"
    );
}

#[tokio::test]
async fn embeddings_go_to_v2_embed() {
    let h = start().await;
    let (mock, gateway) = (&h.mock, &h.gateway);
    let response = reqwest::Client::new()
        .post(gateway.url("/v1/embeddings"))
        .json(&json!({"model": "co/embed-v4.0", "input": ["a", "b"], "input_type": "search_query"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["data"][1],
        json!({"object": "embedding", "index": 1, "embedding": [1.0, 0.25]})
    );
    assert_eq!(body["usage"]["prompt_tokens"], 4);
    let seen = mock.last_request().unwrap();
    assert_eq!(seen.path, "/v2/embed");
    assert_eq!(seen.json()["input_type"], "search_query");
    assert_eq!(seen.json()["texts"], json!(["a", "b"]));
}
