//! Stored responses (the Responses API's `store` and `previous_response_id`): driven by the
//! official `openai` SDK across two providers, kept per gateway key, surviving a restart, and
//! explained when the request log is off.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use serde_json::{json, Value};
use switchyard_testkit::Switchyard;

#[tokio::test]
async fn the_openai_sdk_stores_continues_lists_and_deletes_responses_across_providers() {
    let h = common::start_with(|mock| {
        format!(
            "{}[cache]\nttl_seconds = 60\n",
            common::openai_and_anthropic(&mock.root_url())
        )
    })
    .await;
    let stdout = common::run_client(
        &h.gateway,
        "stored_responses.py",
        &[],
        "stored responses: ok",
    )
    .await;
    // the continued turn reached Anthropic as the whole conversation, without the first
    // turn's instructions (they are not carried, as OpenAI's API does)
    let to_anthropic: Vec<Value> = h
        .mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/v1/messages"))
        .map(|r| r.json())
        .collect();
    assert_eq!(to_anthropic.len(), 1, "{to_anthropic:?}");
    // OpenAI's turns went to its own Responses API, each whole (the mock stores nothing); the
    // repeated first turn was a cache hit (answered under a new id all the same)
    let to_openai: Vec<Value> = h
        .mock
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/v1/responses"))
        .map(|r| r.json())
        .collect();
    assert_eq!(to_openai.len(), 3, "first, third and the unstored one");
    assert_eq!(
        to_openai[1]["input"].as_array().unwrap().len(),
        5,
        "{}",
        to_openai[1]
    );
    let sent = &to_anthropic[0];
    assert_eq!(sent.get("system"), None, "{sent}");
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["user", "assistant", "user"], "{sent}");
    // each stored answer is the log row with the same id
    let ids = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ids "))
        .unwrap()
        .to_owned();
    for id in ids.split(' ').skip(1) {
        let hex = id.trim_start_matches("resp_");
        let log_id = format!(
            "{}-{}-{}-{}-{}",
            &hex[0..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        );
        let row = h
            .http
            .get(h.gateway.url(&format!("/api/logs/{log_id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(row.status(), 200, "{id}");
    }
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http.request(method, url).header("authorization", key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_response_is_its_keys_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = |root: &str| {
        format!(
            "{}[auth]\nrequired = true\nadmin_token = \"admin-token-0123456789\"\nurl = \"sqlite://{}\"\n\
             [logs]\nurl = \"sqlite://{}\"\n",
            common::openai_and_anthropic(root),
            dir.path().join("keys.db").display(),
            dir.path().join("logs.db").display()
        )
    };
    let mock = switchyard_testkit::MockUpstream::start().await.unwrap();
    let gateway = Switchyard::start(common::bin(), &config(&mock.root_url()))
        .await
        .unwrap();
    let admin = |body: Value| {
        let url = gateway.base_url().to_owned();
        async move {
            let resp = reqwest::Client::new()
                .post(format!("{url}/api/keys"))
                .bearer_auth("admin-token-0123456789")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
            let v: Value = resp.json().await.unwrap();
            format!("Bearer {}", v["key"].as_str().unwrap())
        }
    };
    let (alice, bob) = (
        admin(json!({"name": "alice"})).await,
        admin(json!({"name": "bob"})).await,
    );
    let http = reqwest::Client::new();
    let post = reqwest::Method::POST;
    let (status, made) = send(
        &http,
        post.clone(),
        gateway.url("/v1/responses"),
        &alice,
        Some(json!({"model": "oa/gpt-4o-mini", "input": "Hi"})),
    )
    .await;
    assert_eq!(status, 200, "{made}");
    let id = made["id"].as_str().unwrap().to_owned();
    let url = gateway.url(&format!("/v1/responses/{id}"));
    let get = |key: String| send(&http, reqwest::Method::GET, url.clone(), key.leak(), None);
    assert_eq!(get(alice.clone()).await.0, 200);
    // another key sees nothing: not found, like a response that never was
    let (status, body) = get(bob.clone()).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    let (status, body) = send(
        &http,
        post.clone(),
        gateway.url("/v1/responses"),
        &bob,
        Some(json!({"model": "oa/gpt-4o-mini", "input": "Go on", "previous_response_id": id})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["code"], "previous_response_not_found",
        "{body}"
    );
    assert_eq!(body["error"]["param"], "previous_response_id", "{body}");
    let (status, _) = send(
        &http,
        reqwest::Method::DELETE,
        gateway.url(&format!("/v1/responses/{id}")),
        &bob,
        None,
    )
    .await;
    assert_eq!(status, 404, "bob cannot delete alice's response");
    // query parameters are checked
    let (status, body) = send(
        &http,
        reqwest::Method::GET,
        gateway.url(&format!("/v1/responses/{id}/input_items?limit=500")),
        &alice,
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["param"].as_str()),
        (400, Some("limit")),
        "{body}"
    );

    // the same log file after a restart: still there, under Cloudflare's path too
    gateway.terminate().unwrap();
    drop(gateway);
    let gateway = Switchyard::start(common::bin(), &config(&mock.root_url()))
        .await
        .unwrap();
    let (status, body) = send(
        &http,
        reqwest::Method::GET,
        gateway.url(&format!("/client/v4/accounts/acct/ai/v1/responses/{id}")),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], id.as_str());
    assert_eq!(body["store"], true);
    let (status, body) = send(
        &http,
        reqwest::Method::GET,
        gateway.url(&format!("/v1/responses/{id}/input_items")),
        &alice,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "list");
    assert_eq!(body["data"][0]["content"][0]["text"], "Hi", "{body}");
    assert_eq!(body["has_more"], false);
}

#[tokio::test]
async fn with_the_request_log_off_nothing_is_stored_and_the_error_says_why() {
    let h = common::start_with(|mock| {
        format!(
            "{}[logs]\nenabled = false\n",
            common::openai_and_anthropic(&mock.root_url())
        )
    })
    .await;
    let made: Value = h
        .http
        .post(h.gateway.url("/v1/responses"))
        .json(&json!({"model": "an/claude-sonnet-4-5", "input": "Hi"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // (a provider with its own Responses API says what it did itself)
    assert_eq!(made["store"], false, "{made}");
    let resp = h
        .http
        .get(
            h.gateway
                .url(&format!("/v1/responses/{}", made["id"].as_str().unwrap())),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("request log"),
        "{body}"
    );
}
