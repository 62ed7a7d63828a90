//! OpenAI- and Anthropic-dialect clients talking to a Gemini-kind provider: `generateContent`,
//! CRLF-framed `streamGenerateContent` streams, function calls with thought signatures carried in
//! tool-call ids, safety blocks, embeddings.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Harness as H;
use serde_json::{json, Value};

async fn start() -> H {
    common::start_with(|mock| format!(
        "[server]\nenv_providers = false\n[providers.g]\nkind = \"gemini\"\nbase_url = \"{}/v1beta\"\napi_key = \"AIza-test\"\n",
        mock.root_url()
    )).await
}

fn chunks(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter(|e| !e.is_empty() && *e != "data: [DONE]")
        .map(|e| serde_json::from_str(e.strip_prefix("data: ").unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn chat_completions_go_to_generate_content_and_back() {
    let h = start().await;
    let mut body = common::chat("g/gemini-2.5-flash");
    body["messages"] =
        json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]);
    body["max_tokens"] = json!(50);
    let response = h.post("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(
        answer["choices"][0]["message"]["content"],
        "Hello from mock"
    );
    assert_eq!(answer["usage"]["prompt_tokens"], 9);
    let seen = h.mock.last_request().unwrap();
    assert_eq!(seen.path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(seen.header("x-goog-api-key"), Some("AIza-test"));
    assert_eq!(
        seen.json(),
        json!({
            "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "generationConfig": {"maxOutputTokens": 50}
        })
    );
}

#[tokio::test]
async fn function_calls_round_trip_their_thought_signature() {
    let h = start().await;
    let mut body = common::chat("g/gemini-2.5-flash");
    body["tools"] = json!([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]);
    let answer: Value = h
        .post("/v1/chat/completions", &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["finish_reason"], "tool_calls");
    let call = answer["choices"][0]["message"]["tool_calls"][0].clone();
    let id = call["id"].as_str().unwrap().to_owned();
    assert!(id.contains("c2lnLW1vY2s="), "{id}");

    // The client sends the call and its result back, as OpenAI clients do.
    body["messages"] = json!([
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": id, "content": "{\"temp\":18}"}
    ]);
    assert_eq!(h.post("/v1/chat/completions", &body).await.status(), 200);
    let seen = h.mock.last_request().unwrap().json();
    assert_eq!(
        seen["contents"][1]["parts"][0]["thoughtSignature"],
        "c2lnLW1vY2s="
    );
    assert_eq!(
        seen["contents"][2]["parts"][0],
        json!({"functionResponse": {"name": "get_weather", "response": {"temp": 18}}})
    );
}

#[tokio::test]
async fn crlf_streams_become_openai_chunks_ending_in_done() {
    let h = start().await;
    let mut body = common::chat("g/gemini-2.5-flash");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let response = h.post("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    let chunks = chunks(&text);
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(content, "Hello from mock");
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 3);
    let seen = h.mock.last_request().unwrap();
    assert_eq!(
        seen.path,
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    );
    assert_eq!(seen.query.as_deref(), Some("alt=sse"));
}

#[tokio::test]
async fn a_stream_cut_before_its_finish_reason_ends_with_an_error_event() {
    let h = start().await;
    let mut body = common::chat("g/broken-stream");
    body["stream"] = json!(true);
    let text = h
        .post("/v1/chat/completions", &body)
        .await
        .text()
        .await
        .unwrap();
    assert!(!text.contains("[DONE]"), "{text}");
    assert_eq!(
        chunks(&text).pop().unwrap()["error"]["code"],
        "stream_broken"
    );
}

#[tokio::test]
async fn anthropic_clients_reach_gemini_too() {
    let h = start().await;
    let body = json!({"model": "g/gemini-2.5-flash", "max_tokens": 20, "messages": [{"role": "user", "content": "Hi"}], "stream": true});
    let text = h.post("/v1/messages", &body).await.text().await.unwrap();
    assert!(text.starts_with("event: message_start"), "{text}");
    assert!(
        text.contains("\"text\":\"Hello\"") && text.contains("event: message_stop"),
        "{text}"
    );
}

#[tokio::test]
async fn safety_blocks_and_errors_are_clear() {
    let h = start().await;
    let answer: Value = h
        .post("/v1/chat/completions", &common::chat("g/safety-block"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["choices"][0]["finish_reason"], "content_filter");
    let error = common::expect_error(
        h.post("/v1/chat/completions", &common::chat("g/status-429"))
            .await,
        429,
    )
    .await;
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Resource has been exhausted"),
        "{error}"
    );
    let error = common::expect_error(
        h.post("/v1/chat/completions", &json!({"model": "g/m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}]})).await,
        400,
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("gemini"),
        "{error}"
    );
}

#[tokio::test]
async fn embeddings_are_translated_to_batch_embed_contents() {
    let h = start().await;
    let response = h
        .post(
            "/v1/embeddings",
            &json!({"model": "g/text-embedding-004", "input": ["a", "b"]}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"][1]["embedding"], json!([0.01, 0.5, -0.25]));
    let seen = h.mock.last_request().unwrap();
    assert_eq!(
        seen.path,
        "/v1beta/models/text-embedding-004:batchEmbedContents"
    );
    assert_eq!(
        seen.json()["requests"][0]["model"],
        "models/text-embedding-004"
    );
}

#[tokio::test]
async fn count_tokens_uses_gemini_count_tokens() {
    let h = start().await;
    let body = json!({"model": "g/gemini-2.5-flash", "system": "Be brief.", "messages": [{"role": "user", "content": "Hello there, how are you?"}]});
    let response = h.post("/v1/messages/count_tokens", &body).await;
    assert_eq!(response.status(), 200);
    let count: Value = response.json().await.unwrap();
    assert!(count["input_tokens"].as_u64().unwrap() > 0, "{count}");
    let seen = h.mock.last_request().unwrap();
    assert_eq!(seen.path, "/v1beta/models/gemini-2.5-flash:countTokens");
    assert_eq!(
        seen.json()["generateContentRequest"]["systemInstruction"]["parts"][0]["text"],
        "Be brief."
    );
}
