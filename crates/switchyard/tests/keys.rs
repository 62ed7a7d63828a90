//! Gateway API keys end to end: the admin token on /api, keys required or optional, keys made by
//! the API and by the CLI, model allowlists, disabling and deleting, the key id in the request
//! log, and the key never showing up in any log.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{bin, chat, config, post_with, start_with};
use serde_json::{json, Value};

/// The status, the body, then the headers.
async fn send(
    url: &str,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let (status, headers, body) = post_with(url, path, body, headers).await;
    (status, body, headers)
}

const ADMIN: &str = "admin-token-0123456789";

fn auth_config(dir: &std::path::Path, required: bool) -> String {
    format!(
        "[auth]\nrequired = {required}\nadmin_token = \"{ADMIN}\"\nurl = \"sqlite://{}\"\n[logs]\nurl = \"sqlite://{}\"\n",
        dir.join("keys.db").display(),
        dir.join("logs.db").display()
    )
}

async fn admin(
    method: reqwest::Method,
    url: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{url}{path}"))
        .bearer_auth(ADMIN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn required_keys_gate_every_api_call_and_are_logged() {
    let dir = tempfile::tempdir().unwrap();
    let extra = auth_config(dir.path(), true);
    let h = start_with(|mock| config(mock, &extra)).await;
    let url = h.gateway.base_url().to_owned();
    let model = "mock-openai/gpt-4o-mini";

    // no key: refused in the caller's dialect
    let (status, body, _) = send(&url, "/v1/chat/completions", &chat(model), &[]).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "invalid_api_key", "{body}");
    let messages =
        json!({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]});
    let (status, body, _) = send(&url, "/v1/messages", &messages, &[]).await;
    assert_eq!(status, 401);
    assert_eq!(body["type"], "error", "{body}");
    // a provider key is not a gateway key
    let (status, _, _) = send(
        &url,
        "/v1/chat/completions",
        &chat(model),
        &[("authorization", "Bearer sk-provider-key")],
    )
    .await;
    assert_eq!(status, 401);

    // the admin API wants the admin token
    let resp = reqwest::get(format!("{url}/api/keys")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let resp = reqwest::get(format!("{url}/metrics")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    let (status, created) = admin(
        reqwest::Method::POST,
        &url,
        "/api/keys",
        Some(json!({"name": "team-a", "models": [model], "expires": "30d"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    let id = created["record"]["id"].as_str().unwrap().to_owned();
    assert!(key.starts_with("sy-"));
    assert!(created["record"].get("hash").is_none());
    let (status, bad) = admin(
        reqwest::Method::POST,
        &url,
        "/api/keys",
        Some(json!({"name": "x", "expires": "soon"})),
    )
    .await;
    assert_eq!(status, 400, "{bad}");

    // the key works in each place a client may put it
    let bearer = format!("Bearer {key}");
    for header in ["authorization", "cf-aig-authorization"] {
        let (status, body, _) = send(
            &url,
            "/v1/chat/completions",
            &chat(model),
            &[(header, &bearer)],
        )
        .await;
        assert_eq!(status, 200, "{header}: {body}");
    }
    let (status, body, _) = send(&url, "/v1/messages", &messages, &[("x-api-key", &key)]).await;
    assert_eq!(status, 200, "{body}");
    // … but only for its models, and not on routes it cannot be checked on
    let (status, body, _) = send(
        &url,
        "/v1/chat/completions",
        &chat("gpt-4o-mini"),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("team-a"));
    let (status, _, _) = send(
        &url,
        "/mock-openai/chat/completions",
        &chat("gpt-4o-mini"),
        &[("cf-aig-authorization", &bearer)],
    )
    .await;
    assert_eq!(status, 403);

    // listed without the key or its hash
    let (status, list) = admin(reqwest::Method::GET, &url, "/api/keys", None).await;
    assert_eq!(status, 200);
    assert_eq!(list["data"][0]["id"], id.as_str());
    assert!(!list.to_string().contains(&key[3..]));
    assert!(list["data"][0].get("hash").is_none());

    // the request log names the key of each request (and not for the refused ones)
    let deadline = Instant::now() + Duration::from_secs(10);
    let rows = loop {
        let (_, page) = admin(reqwest::Method::GET, &url, "/api/logs?limit=100", None).await;
        let rows = page["data"].as_array().cloned().unwrap_or_default();
        if rows.len() >= 8 || Instant::now() > deadline {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(rows.len(), 8, "{rows:?}");
    let keyed = rows
        .iter()
        .filter(|r| r["api_key_id"] == id.as_str())
        .count();
    assert_eq!(keyed, 5, "3 answered + 2 refused for the model/route");
    assert!(rows
        .iter()
        .filter(|r| r["status"] == 401)
        .all(|r| r["api_key_id"].is_null()));

    // disabled, then enabled, then deleted
    let (status, record) = admin(
        reqwest::Method::PATCH,
        &url,
        &format!("/api/keys/{id}"),
        Some(json!({"disabled": true})),
    )
    .await;
    assert_eq!((status, &record["disabled"]), (200, &json!(true)));
    let (status, body, _) = send(
        &url,
        "/v1/chat/completions",
        &chat(model),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(status, 401);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("disabled"));
    admin(
        reqwest::Method::PATCH,
        &url,
        &format!("/api/keys/{id}"),
        Some(json!({"disabled": false})),
    )
    .await;
    let (status, _, _) = send(
        &url,
        "/v1/chat/completions",
        &chat(model),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = admin(
        reqwest::Method::DELETE,
        &url,
        &format!("/api/keys/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, _) = admin(reqwest::Method::GET, &url, &format!("/api/keys/{id}"), None).await;
    assert_eq!(status, 404);
    let (status, _, _) = send(
        &url,
        "/v1/chat/completions",
        &chat(model),
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(status, 401);

    // the canary: the key is in no log line and in no stored row
    assert!(
        !h.gateway.logs().contains(&key[3..]),
        "the key leaked into the logs"
    );
    let (_, page) = admin(reqwest::Method::GET, &url, "/api/logs?limit=100", None).await;
    for row in page["data"].as_array().unwrap() {
        let (_, full) = admin(
            reqwest::Method::GET,
            &url,
            &format!("/api/logs/{}", row["id"].as_str().unwrap()),
            None,
        )
        .await;
        assert!(!full.to_string().contains(&key[3..]));
    }
    // and the provider only ever saw its own key
    assert!(h
        .mock
        .requests()
        .iter()
        .all(|r| !format!("{r:?}").contains(&key[3..])));
}

#[tokio::test]
async fn open_mode_takes_anonymous_calls_but_not_bad_keys_and_the_cli_makes_working_keys() {
    let dir = tempfile::tempdir().unwrap();
    let extra = auth_config(dir.path(), false);
    let h = start_with(|mock| config(mock, &extra)).await;
    let url = h.gateway.base_url().to_owned();
    let model = "mock-openai/gpt-4o-mini";
    let (status, _, _) = send(&url, "/v1/chat/completions", &chat(model), &[]).await;
    assert_eq!(status, 200);
    let (status, _, _) = send(
        &url,
        "/v1/chat/completions",
        &chat(model),
        &[("authorization", "Bearer sy-0000")],
    )
    .await;
    assert_eq!(status, 401);

    // a key made by the CLI in the same store works on the running gateway at once
    let file = dir.path().join("switchyard.toml");
    std::fs::write(&file, config(&h.mock, &extra)).unwrap();
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(bin())
            .arg("keys")
            .arg("--config")
            .arg(&file)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let key = cli(&["create", "--name", "from-cli"]).trim().to_owned();
    assert!(key.starts_with("sy-"));
    let (status, _, _) = send(
        &url,
        "/v1/chat/completions",
        &chat(model),
        &[("authorization", &format!("Bearer {key}"))],
    )
    .await;
    assert_eq!(status, 200);
    let table = cli(&["list"]);
    assert!(
        table.contains("from-cli") && table.contains("active"),
        "{table}"
    );
    assert!(!table.contains(&key[3..]));
    let id = table
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    cli(&["disable", &id]);
    // another process disabled it: this gateway notices within its cache time (5 s)
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        let (status, _, _) = send(
            &url,
            "/v1/chat/completions",
            &chat(model),
            &[("authorization", &format!("Bearer {key}"))],
        )
        .await;
        if status == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "still accepted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cli(&["delete", &id]);
    assert!(cli(&["list", "--json"]).trim().is_empty());
}
