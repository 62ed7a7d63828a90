//! The Responses API passed natively to providers that have it (`kind = "openai"` and `azure` by
//! default, `responses_api = "native"` for others): the client's body goes through with only the
//! model rewritten (so what translation would refuse — built-in tools — still works), Azure gets
//! its v1 path with the deployment in the body, usage is logged, and a stream cut before
//! `response.completed` ends with an error event. `responses_api = "chat"` sends an OpenAI
//! provider the translated chat request instead.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::{json, Value};

async fn harness() -> common::Harness {
    common::start_with(|mock| {
        let root = mock.root_url();
        format!(
            "[server]\nenv_providers = false\n\
             [providers.oa]\nkind = \"openai\"\nbase_url = \"{root}/v1\"\napi_key = \"sk-oa\"\n\
             [providers.az]\nkind = \"azure\"\nbase_url = \"{root}\"\napi_key = \"az-key\"\n\
             deployments = {{ \"gpt-4o\" = \"prod-4o\" }}\n\
             [providers.vllm]\nkind = \"openai\"\nbase_url = \"{root}/v1\"\napi_key = \"sk-c\"\nresponses_api = \"chat\"\n"
        )
    })
    .await
}

async fn post(h: &common::Harness, body: Value) -> (u16, String) {
    let resp = h
        .http
        .post(h.gateway.url("/v1/responses"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

#[tokio::test]
async fn openai_and_azure_get_the_clients_body_and_chat_only_providers_a_translation() {
    let h = harness().await;
    // a built-in tool the translation would refuse by name goes through to OpenAI itself
    let body = json!({"model": "oa/gpt-4o-mini", "input": "News?", "store": false,
                      "tools": [{"type": "web_search"}], "include": ["reasoning.encrypted_content"]});
    let (status, text) = post(&h, body).await;
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["output"][0]["content"][0]["text"], "Hello from mock",
        "{v}"
    );
    let sent = h.mock.last_request().unwrap();
    assert_eq!(sent.path, "/v1/responses");
    let sent = sent.json();
    assert_eq!(sent["model"], "gpt-4o-mini");
    assert_eq!(sent["tools"], json!([{"type": "web_search"}]));
    assert_eq!(sent["include"], json!(["reasoning.encrypted_content"]));

    // Azure: the v1 surface, the deployment in the body, its api-key header
    let (status, text) = post(&h, json!({"model": "az/gpt-4o", "input": "Hi"})).await;
    assert_eq!(status, 200, "{text}");
    let sent = h.mock.last_request().unwrap();
    assert_eq!(sent.path, "/openai/v1/responses");
    assert_eq!(sent.header("api-key"), Some("az-key"));
    assert_eq!(sent.json()["model"], "prod-4o");

    // `responses_api = "chat"`: the chat API, translated both ways
    let (status, text) = post(&h, json!({"model": "vllm/gpt-4o-mini", "input": "Hi"})).await;
    assert_eq!(status, 200, "{text}");
    let sent = h.mock.last_request().unwrap();
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.json()["messages"][0]["content"], "Hi");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["object"], "response");
    assert_eq!(
        v["output"][0]["content"][0]["text"], "Hello from mock",
        "{v}"
    );
    let refused = post(
        &h,
        json!({"model": "vllm/gpt-4o-mini", "input": "Hi", "tools": [{"type": "web_search"}]}),
    )
    .await;
    assert_eq!(refused.0, 400, "{}", refused.1);
    assert!(refused.1.contains("web_search"), "{}", refused.1);
}

#[tokio::test]
async fn native_answers_are_logged_with_usage_and_a_cut_stream_ends_in_an_error_event() {
    let h = harness().await;
    let (status, _) = post(&h, json!({"model": "oa/gpt-4o-mini", "input": "Hi"})).await;
    assert_eq!(status, 200);
    let (status, text) = post(
        &h,
        json!({"model": "oa/gpt-4o-mini", "input": "Hi", "stream": true}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(text.trim_end().ends_with('}'), "{text}");
    assert!(text.contains("event: response.completed"), "{text}");
    assert!(
        !text.contains("event: error"),
        "a whole stream gets nothing added: {text}"
    );
    // the upstream stops before `response.completed`: the client is told, not left hanging
    let (status, text) = post(
        &h,
        json!({"model": "oa/cut-stream", "input": "Hi", "stream": true}),
    )
    .await;
    assert_eq!(status, 200);
    let last = text.trim_end().rsplit("\n\n").next().unwrap();
    assert!(last.starts_with("event: error\ndata: "), "{text}");
    let error: Value = serde_json::from_str(last.split_once("data: ").unwrap().1).unwrap();
    assert_eq!(error["type"], "error");
    assert_eq!(error["code"], "stream_broken", "{error}");

    // the log has each with the usage the provider reported (JSON and streamed alike)
    let rows = common::logging::rows(h.gateway.base_url(), 3).await;
    let whole: Vec<&Value> = rows
        .iter()
        .filter(|r| r["model"] == "gpt-4o-mini")
        .collect();
    assert_eq!(whole.len(), 2, "{rows:?}");
    for row in whole {
        assert_eq!(row["input_tokens"], 36, "{row}");
        assert_eq!(row["output_tokens"], 3, "{row}");
        assert_eq!(row["cached_input_tokens"], 4, "{row}");
    }
    let cut = rows.iter().find(|r| r["model"] == "cut-stream").unwrap();
    assert!(
        cut["error"]
            .as_str()
            .unwrap_or_default()
            .contains("ended before"),
        "{cut}"
    );
}
