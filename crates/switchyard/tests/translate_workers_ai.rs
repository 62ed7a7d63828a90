//! Cloudflare Workers AI through its native `/ai/run/{model}` API (kind `workers-ai-run`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::{json, Value};
use switchyard_testkit::{MockUpstream, Switchyard};

#[tokio::test]
async fn run_envelope_chat_stream_tools_embeddings_and_errors() {
    let mock = MockUpstream::start().await.unwrap();
    let config = format!(
        "[server]\nenv_providers = false\n[providers.cf]\nkind = \"workers-ai-run\"\nbase_url = \"{}/client/v4/accounts/acct/ai\"\napi_key = \"cf-token\"\n",
        mock.root_url()
    );
    let gateway = Switchyard::start(common::bin(), &config).await.unwrap();
    let http = reqwest::Client::new();
    let model = "cf/@cf/meta/llama-3.1-8b-instruct";

    let answer: Value = http
        .post(gateway.url("/v1/chat/completions"))
        .json(&common::chat(model))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    let text = http
        .post(gateway.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap()
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
    let answer: Value = http
        .post(gateway.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(
        answer["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
        "{\"city\":\"Paris\"}"
    );

    let response = http
        .post(gateway.url("/v1/embeddings"))
        .json(&json!({"model": "cf/@cf/baai/bge-base-en-v1.5", "input": ["a", "b"]}))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"][1]["embedding"], json!([1.0, 0.75, -0.75]));
    assert_eq!(
        mock.last_request().unwrap().json(),
        json!({"text": ["a", "b"]})
    );

    let response = http
        .post(gateway.url("/v1/chat/completions"))
        .json(&common::chat("cf/@cf/x/status-400"))
        .send()
        .await
        .unwrap();
    let error = common::expect_error(response, 400).await;
    assert!(
        error["message"].as_str().unwrap().contains("Bad input"),
        "{error}"
    );
}
