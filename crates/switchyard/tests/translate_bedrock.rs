//! OpenAI- and Anthropic-dialect clients talking to AWS Bedrock (Converse / ConverseStream):
//! SigV4-signed requests, binary event-stream answers transcoded to SSE.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::{json, Value};

#[tokio::test]
async fn converse_and_converse_stream_with_sigv4() {
    let h = common::start_with(|mock| {
        format!(
            "[server]\nenv_providers = false\n[providers.br]\nkind = \"bedrock\"\nbase_url = \"{}\"\nregion = \"eu-west-1\"\naws_access_key_id = \"AKIDTEST\"\naws_secret_access_key = \"secret/KEY\"\naws_session_token = \"session-token\"\n",
            mock.root_url()
        )
    })
    .await;
    let mock = &h.mock;
    let model = "br/anthropic.claude-3-5-haiku-20241022-v1:0";

    let answer: Value = h
        .post_json("/v1/chat/completions", &common::chat(model))
        .await;
    assert_eq!(
        answer["choices"][0]["message"]["content"], "Hello from mock",
        "{answer}"
    );
    assert_eq!(answer["usage"]["total_tokens"], 14);
    let seen = mock.last_request().unwrap();
    assert_eq!(
        seen.path,
        "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/converse"
    );
    let auth = seen.header("authorization").unwrap();
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
            && auth.contains("/eu-west-1/bedrock/aws4_request"),
        "{auth}"
    );
    assert_eq!(seen.header("x-amz-security-token"), Some("session-token"));
    assert_eq!(
        seen.json()["messages"][0],
        json!({"role": "user", "content": [{"text": "Say hello"}]})
    );

    let mut body = common::chat(model);
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let response = h.post("/v1/chat/completions", &body).await;
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    assert!(
        text.contains("\"content\":\"Hello\"") && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );
    assert!(text.contains("\"total_tokens\":14"), "{text}");
    assert!(mock
        .last_request()
        .unwrap()
        .path
        .ends_with("/converse-stream"));

    let claude = json!({"model": model, "max_tokens": 50, "stream": true, "messages": [{"role": "user", "content": "Weather?"}],
        "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]});
    let text = h.post("/v1/messages", &claude).await.text().await.unwrap();
    assert!(
        text.contains("\"type\":\"tool_use\"")
            && text.contains("\"partial_json\":\"{\\\"city\\\":\""),
        "{text}"
    );
    assert!(
        text.contains("\"stop_reason\":\"tool_use\"") && text.contains("event: message_stop"),
        "{text}"
    );

    let error = common::expect_error(
        h.post("/v1/chat/completions", &common::chat("br/status-400"))
            .await,
        400,
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("model identifier is invalid"),
        "{error}"
    );
}

#[tokio::test]
async fn embeddings_with_cohere_and_titan_models() {
    let h = common::start_with(|mock| {
        format!(
            "[server]\nenv_providers = false\n[providers.br]\nkind = \"bedrock\"\nbase_url = \"{}\"\napi_key = \"bedrock-api-key\"\n",
            mock.root_url()
        )
    })
    .await;
    let (mock, gateway, http) = (&h.mock, &h.gateway, &h.http);
    let post = |body: Value| http.post(gateway.url("/v1/embeddings")).json(&body).send();

    let body: Value = post(json!({"model": "br/cohere.embed-english-v3", "input": ["x", "y"]}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"][1]["embedding"], json!([1.0, 1.0]));
    let seen = mock.last_request().unwrap();
    assert_eq!(seen.path, "/model/cohere.embed-english-v3/invoke");
    assert_eq!(
        seen.header("authorization"),
        Some("Bearer bedrock-api-key"),
        "Bedrock API keys are bearer tokens"
    );

    let body: Value =
        post(json!({"model": "br/amazon.titan-embed-text-v2:0", "input": "x", "dimensions": 256}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(body["data"][0]["embedding"], json!([0.5, -0.5, 0.125]));
    assert_eq!(body["usage"]["prompt_tokens"], 3);
    assert_eq!(
        mock.last_request().unwrap().json(),
        json!({"inputText": "x", "dimensions": 256})
    );

    let response = post(json!({"model": "br/amazon.titan-embed-text-v2:0", "input": ["x", "y"]}))
        .await
        .unwrap();
    let error = common::expect_error(response, 400).await;
    assert!(
        error["message"].as_str().unwrap().contains("Titan"),
        "{error}"
    );
}
