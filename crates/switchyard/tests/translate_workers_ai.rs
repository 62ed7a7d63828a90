//! Cloudflare Workers AI through its native `/ai/run/{model}` API (kind `workers-ai-run`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::{json, Value};

#[tokio::test]
async fn run_envelope_chat_stream_tools_embeddings_and_errors() {
    let h = common::start_with(|mock| {
        format!(
            "[server]\nenv_providers = false\n[providers.cf]\nkind = \"workers-ai-run\"\nbase_url = \"{}/client/v4/accounts/acct/ai\"\napi_key = \"cf-token\"\n",
            mock.root_url()
        )
    })
    .await;
    let mock = &h.mock;
    let model = "cf/@cf/meta/llama-3.1-8b-instruct";

    let answer: Value = h
        .post_json("/v1/chat/completions", &common::chat(model))
        .await;
    assert_eq!(
        answer["choices"][0]["message"]["content"], "Hello from mock",
        "{answer}"
    );
    assert_eq!(answer["usage"]["total_tokens"], 11);
    let seen = mock.last_request().unwrap();
    assert_eq!(
        seen.path,
        "/client/v4/accounts/acct/ai/run/@cf/meta/llama-3.1-8b-instruct"
    );
    assert_eq!(seen.header("authorization"), Some("Bearer cf-token"));
    assert_eq!(
        seen.json()["messages"][0],
        json!({"role": "user", "content": "Say hello"})
    );

    let mut body = common::chat(model);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let text = h
        .post("/v1/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("\"content\":\"Hello\"")
            && text.ends_with("data: [DONE]\n\n")
            && text.contains("\"total_tokens\":11"),
        "{text}"
    );

    let mut body = common::chat(model);
    body["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    let answer: Value = h.post_json("/v1/chat/completions", &body).await;
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );

    let response = h
        .post(
            "/v1/embeddings",
            &json!({"model": "cf/@cf/baai/bge-base-en-v1.5", "input": ["a", "b"]}),
        )
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"][1]["embedding"], json!([1.0, 0.75, -0.75]));
    assert_eq!(
        mock.last_request().unwrap().json(),
        json!({"text": ["a", "b"]})
    );

    let response = h
        .post("/v1/chat/completions", &common::chat("cf/@cf/x/status-400"))
        .await;
    let error = common::expect_error(response, 400).await;
    assert!(
        error["message"].as_str().unwrap().contains("Bad input"),
        "{error}"
    );
}
