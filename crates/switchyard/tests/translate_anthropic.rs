//! OpenAI-dialect clients talking to an Anthropic-kind provider: requests, answers and streams
//! translated both ways; checks what the upstream received as well as what the client got.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Harness as H;
use serde_json::{json, Value};

async fn start() -> H {
    common::start_with(|mock| format!(
        "[server]\nenv_providers = false\n[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{}\"\napi_key = \"sk-ant-test\"\n",
        mock.base_url()
    )).await
}

fn request(model: &str) -> Value {
    json!({
        "model": format!("claude/{model}"),
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"}
        ]
    })
}

fn tools() -> Value {
    json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}])
}

fn sse_chunks(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|e| !e.is_empty() && *e != "data: [DONE]")
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn a_chat_completion_is_translated_to_messages_and_back() {
    let h = start().await;
    let response = h
        .post("/v1/chat/completions", &request("claude-sonnet-4-5"))
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello from mock");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 16);
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 4);
    assert_eq!(body["usage"]["completion_tokens"], 3);

    let seen = h.mock.last_request().unwrap();
    assert_eq!(seen.path, "/v1/messages");
    assert_eq!(seen.header("x-api-key"), Some("sk-ant-test"));
    assert_eq!(seen.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(seen.header("authorization"), None);
    assert_eq!(
        seen.json(),
        json!({
            "model": "claude-sonnet-4-5",
            "max_tokens": 4096,
            "system": [{"type": "text", "text": "Be brief."}],
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Hello"}]}]
        })
    );
}

#[tokio::test]
async fn tool_calls_come_back_in_openai_form() {
    let h = start().await;
    let mut body = request("claude-sonnet-4-5");
    body["tools"] = tools();
    body["tool_choice"] = json!({"type": "function", "function": {"name": "get_weather"}});
    let response: Value = h
        .post("/v1/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(response["choices"][0]["finish_reason"], "tool_calls");
    let call = &response["choices"][0]["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], "{\"city\":\"Paris\"}");
    let seen = h.mock.last_request().unwrap().json();
    assert_eq!(
        seen["tool_choice"],
        json!({"type": "tool", "name": "get_weather"})
    );
    assert_eq!(
        seen["tools"][0]["input_schema"]["properties"]["city"]["type"],
        "string"
    );
}

#[tokio::test]
async fn a_stream_is_translated_event_by_event() {
    let h = start().await;
    let mut body = request("claude-sonnet-4-5");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    body["tools"] = tools();
    let response = h.post("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let chunks = sse_chunks(&text);
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello from mock");
    let args: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    assert_eq!(args, "{\"city\": \"Paris\"}");
    let finish: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["finish_reason"].as_str())
        .collect();
    assert_eq!(finish, ["tool_calls"]);
    assert_eq!(chunks.last().unwrap()["usage"]["total_tokens"], 15);
    assert_eq!(h.mock.last_request().unwrap().json()["stream"], true);
}

#[tokio::test]
async fn without_include_usage_there_is_no_usage_chunk() {
    let h = start().await;
    let mut body = request("claude-sonnet-4-5");
    body["stream"] = json!(true);
    let text = h
        .post("/v1/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        sse_chunks(&text).iter().all(|c| c.get("usage").is_none()),
        "{text}"
    );
}

#[tokio::test]
async fn unsupported_features_get_400_naming_feature_and_provider() {
    let h = start().await;
    let mut body = request("claude-sonnet-4-5");
    body["n"] = json!(3);
    let response = h.post("/v1/chat/completions", &body).await;
    let error = common::expect_error(response, 400).await;
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("n > 1") && message.contains("claude") && message.contains("anthropic"),
        "{message}"
    );
    let response = h
        .post(
            "/v1/embeddings",
            &json!({"model": "claude/x", "input": "hi"}),
        )
        .await;
    common::expect_error(response, 400).await;
    assert!(h.mock.requests().is_empty());
}

#[tokio::test]
async fn anthropic_errors_are_relayed_in_openai_shape() {
    let h = start().await;
    let error = common::expect_error(
        h.post("/v1/chat/completions", &request("status-400")).await,
        400,
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("roles must alternate"),
        "{error}"
    );
    assert_eq!(error["type"], "invalid_request_error");
    let error = common::expect_error(
        h.post("/v1/chat/completions", &request("status-529")).await,
        502,
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("Overloaded"),
        "{error}"
    );
}

#[tokio::test]
async fn mid_stream_errors_end_with_an_error_event() {
    let h = start().await;
    for (model, expect) in [
        ("error-stream", "Overloaded"),
        ("broken-stream", "stream_broken"),
    ] {
        let mut body = request(model);
        body["stream"] = json!(true);
        let text = h
            .post("/v1/chat/completions", &body)
            .await
            .text()
            .await
            .unwrap();
        assert!(!text.contains("[DONE]"), "{model}: {text}");
        let last = sse_chunks(&text).pop().unwrap();
        assert!(
            last["error"].to_string().contains(expect),
            "{model}: {text}"
        );
    }
}

#[tokio::test]
async fn json_mode_works_through_a_forced_tool() {
    let h = start().await;
    for stream in [false, true] {
        let mut body = request("claude-sonnet-4-5");
        body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "w", "schema": {"type": "object", "properties": {"city": {"type": "string"}}}}});
        body["stream"] = json!(stream);
        let response = h.post("/v1/chat/completions", &body).await;
        assert_eq!(response.status(), 200);
        let (content, finish) = if stream {
            let text = response.text().await.unwrap();
            let chunks = sse_chunks(&text);
            let content: String = chunks
                .iter()
                .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
                .collect();
            assert!(
                chunks
                    .iter()
                    .all(|c| c["choices"][0]["delta"].get("tool_calls").is_none()),
                "{text}"
            );
            let finish = chunks
                .iter()
                .find_map(|c| c["choices"][0]["finish_reason"].as_str().map(str::to_owned));
            (content, finish.unwrap())
        } else {
            let v: Value = response.json().await.unwrap();
            assert!(
                v["choices"][0]["message"].get("tool_calls").is_none(),
                "{v}"
            );
            (
                v["choices"][0]["message"]["content"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                v["choices"][0]["finish_reason"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            )
        };
        // The mock also says "Hello from mock" before the forced tool call.
        let content = content.replace("Hello from mock", "");
        assert_eq!(
            serde_json::from_str::<Value>(&content).unwrap(),
            json!({"city": "Paris"}),
            "stream={stream}"
        );
        assert_eq!(finish, "stop");
        let seen = h.mock.last_request().unwrap().json();
        assert_eq!(
            seen["tool_choice"],
            json!({"type": "tool", "name": "json_response"})
        );
    }
}
