//! Claude-style clients (`POST /v1/messages`): same-dialect fast path to Anthropic providers, and
//! translation to OpenAI-family providers, streams included, errors in Anthropic's shape.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Harness as H;
use serde_json::{json, Value};

async fn start() -> H {
    common::start_with(|mock| format!(
        "[server]\nenv_providers = false\n[providers.claude]\nkind = \"anthropic\"\nbase_url = \"{0}\"\napi_key = \"sk-ant-test\"\n[providers.oai]\nkind = \"openai\"\nbase_url = \"{0}\"\napi_key = \"sk-oai-test\"\n",
        mock.base_url()
    )).await
}

impl H {
    async fn messages(&self, body: &Value) -> reqwest::Response {
        self.http
            .post(self.gateway.url("/v1/messages"))
            .header("x-api-key", "client-key")
            .header("anthropic-version", "2023-06-01")
            .json(body)
            .send()
            .await
            .unwrap()
    }
}

fn request(model: &str) -> Value {
    json!({
        "model": model,
        "max_tokens": 256,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Hello"}]
    })
}

/// `(event name, data)` pairs of an Anthropic SSE stream.
fn events(text: &str) -> Vec<(String, Value)> {
    text.split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| {
            let mut lines = e.lines();
            let name = lines
                .next()
                .unwrap()
                .strip_prefix("event: ")
                .unwrap()
                .to_owned();
            let data = serde_json::from_str(lines.next().unwrap().strip_prefix("data: ").unwrap())
                .unwrap();
            (name, data)
        })
        .collect()
}

#[tokio::test]
async fn same_dialect_passes_the_body_through_with_only_the_model_rewritten() {
    let h = start().await;
    let raw = r#"{"model":"claude/claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":[{"type":"text","text":"hi","cache_control":{"type":"ephemeral"}}]}],"x_future_field":1}"#;
    let response = h
        .http
        .post(h.gateway.url("/v1/messages"))
        .header("content-type", "application/json")
        .header("anthropic-version", "2023-06-01")
        .header("anthropic-beta", "prompt-caching-2024-07-31")
        .body(raw)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "message");
    let seen = h.mock.last_request().unwrap();
    assert_eq!(
        std::str::from_utf8(&seen.body).unwrap(),
        raw.replace("claude/claude-sonnet-4-5", "claude-sonnet-4-5")
    );
    assert_eq!(
        seen.header("x-api-key"),
        Some("sk-ant-test"),
        "the client's key is replaced"
    );
}

#[tokio::test]
async fn messages_to_an_openai_provider_are_translated_both_ways() {
    let h = start().await;
    let response = h.messages(&request("oai/gpt-4o-mini")).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(
        body["content"],
        json!([{"type": "text", "text": "Hello from mock"}])
    );
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["usage"]["input_tokens"], 12);
    assert_eq!(body["usage"]["output_tokens"], 3);

    let seen = h.mock.last_request().unwrap();
    assert_eq!(seen.path, "/v1/chat/completions");
    assert_eq!(seen.header("authorization"), Some("Bearer sk-oai-test"));
    assert_eq!(
        seen.header("anthropic-version"),
        None,
        "Anthropic headers stay off other providers"
    );
    assert_eq!(
        seen.json(),
        json!({
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
            "max_tokens": 256
        })
    );
}

#[tokio::test]
async fn tool_use_round_trips_through_an_openai_provider() {
    let h = start().await;
    let mut body = request("oai/gpt-4o-mini");
    body["tools"] = json!([{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    body["tool_choice"] = json!({"type": "any"});
    body["messages"] = json!([
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Rome"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "24C"}, {"type": "text", "text": "And Paris?"}]}
    ]);
    let answer: Value = h.messages(&body).await.json().await.unwrap();
    assert_eq!(answer["stop_reason"], "tool_use");
    assert_eq!(
        answer["content"][0],
        json!({"type": "tool_use", "id": "call_mock_1", "name": "get_weather", "input": {"city": "Paris"}})
    );
    let seen = h.mock.last_request().unwrap().json();
    assert_eq!(seen["tool_choice"], "required");
    assert_eq!(
        seen["tools"][0]["function"]["parameters"]["properties"]["city"]["type"],
        "string"
    );
    assert_eq!(
        seen["messages"],
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Rome\"}"}}]},
            {"role": "tool", "tool_call_id": "toolu_1", "content": "24C"},
            {"role": "user", "content": "And Paris?"}
        ])
    );
}

#[tokio::test]
async fn a_stream_from_an_openai_provider_follows_the_messages_event_grammar() {
    let h = start().await;
    let mut body = request("oai/gpt-4o-mini");
    body["stream"] = json!(true);
    let response = h.messages(&body).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    let events = events(&text);
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "ping",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ],
        "{text}"
    );
    let deltas: String = events
        .iter()
        .filter_map(|(_, d)| d.pointer("/delta/text").and_then(Value::as_str))
        .collect();
    assert_eq!(deltas, "Hello from mock");
    let (_, delta) = &events[7];
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(
        delta["usage"]["output_tokens"], 3,
        "usage was requested upstream even though the client could not ask"
    );
    let seen = h.mock.last_request().unwrap().json();
    assert_eq!(seen["stream_options"], json!({"include_usage": true}));
}

#[tokio::test]
async fn a_streamed_tool_call_becomes_a_tool_use_block_with_json_deltas() {
    let h = start().await;
    let mut body = request("oai/gpt-4o-mini");
    body["stream"] = json!(true);
    body["tools"] = json!([{"name": "get_weather", "input_schema": {"type": "object"}}]);
    let text = h.messages(&body).await.text().await.unwrap();
    let events = events(&text);
    let start = events
        .iter()
        .find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
        .unwrap();
    assert_eq!(start.1["content_block"]["name"], "get_weather");
    let json: String = events
        .iter()
        .filter_map(|(_, d)| d.pointer("/delta/partial_json").and_then(Value::as_str))
        .collect();
    assert_eq!(json, "{\"city\":\"Paris\"}");
    let delta = events.iter().find(|(n, _)| n == "message_delta").unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn errors_are_in_anthropic_shape() {
    let h = start().await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"model": "oai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}),
            400,
            "invalid_request_error",
        ),
        (request("nobody/model"), 404, "not_found_error"),
        (request("oai/status-500"), 502, "api_error"),
    ];
    for (body, status, kind) in cases {
        let response = h.messages(&body).await;
        assert_eq!(response.status().as_u16(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["type"], "error", "{error}");
        assert_eq!(error["error"]["type"], kind, "{error}");
        assert!(error["error"]["message"].is_string());
    }
    let response = h
        .http
        .post(h.gateway.url("/v1/messages"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 1"),
        "{error}"
    );
}

#[tokio::test]
async fn count_tokens_goes_to_anthropic_and_is_refused_by_name_elsewhere() {
    let h = start().await;
    let body = json!({"model": "claude/claude-sonnet-4-5", "messages": [{"role": "user", "content": "Hello there"}]});
    let response = h
        .http
        .post(h.gateway.url("/v1/messages/count_tokens"))
        .header("anthropic-beta", "token-counting-2024-11-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let count: Value = response.json().await.unwrap();
    assert!(count["input_tokens"].as_u64().unwrap() > 0);
    let seen = h.mock.last_request().unwrap();
    assert_eq!(seen.path, "/v1/messages/count_tokens");
    assert_eq!(seen.json()["model"], "claude-sonnet-4-5");
    assert_eq!(
        seen.header("anthropic-beta"),
        Some("token-counting-2024-11-01")
    );

    let response = h
        .http
        .post(h.gateway.url("/v1/messages/count_tokens"))
        .json(&json!({"model": "oai/gpt-4o", "messages": [{"role": "user", "content": "x"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("oai") && message.contains("count_tokens"),
        "{message}"
    );
}
