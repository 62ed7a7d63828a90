//! Stored provider keys (BYOK): sealed at rest, chosen per request with `cf-aig-byok-alias`,
//! rotated without a restart (API or CLI), never logged, returned or stored in the clear.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::Write as _;
use std::time::{Duration, Instant};

use common::logging::logs;
use common::{bin, chat, config, start_with};
use serde_json::{json, Value};

const MASTER: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn extra(dir: &std::path::Path) -> String {
    format!(
        "[auth]\nurl = \"sqlite://{}\"\nmaster_key = \"{MASTER}\"\n[logs]\nurl = \"sqlite://{}\"\n",
        dir.join("keys.db").display(),
        dir.join("logs.db").display()
    )
}

async fn put(url: &str, alias: &str, value: &str) -> u16 {
    reqwest::Client::new()
        .put(format!("{url}/api/secrets/mock-openai/{alias}"))
        .json(&json!({ "value": value }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn call(url: &str, path: &str, alias: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .json(&chat("mock-openai/gpt-4o-mini"));
    if let Some(a) = alias {
        req = req.header("cf-aig-byok-alias", a);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn last_key(mock: &switchyard_testkit::MockUpstream) -> String {
    mock.last_request().unwrap().headers["authorization"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn stored_keys_are_chosen_per_request_rotated_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let extra = extra(dir.path());
    let h = start_with(|mock| config(mock, &extra)).await;
    let url = h.gateway.base_url().to_owned();

    assert_eq!(put(&url, "team-a", "sk-canary-byok-1").await, 201);
    let (status, _) = call(&url, "/v1/chat/completions", Some("team-a")).await;
    assert_eq!(status, 200);
    assert_eq!(last_key(&h.mock), "Bearer sk-canary-byok-1");
    // without the header: the configured key
    call(&url, "/v1/chat/completions", None).await;
    assert_eq!(last_key(&h.mock), "Bearer sk-test");
    // provider-native routes take it too
    let (status, _) = call(&url, "/mock-openai/chat/completions", Some("team-a")).await;
    assert_eq!(status, 200);
    assert_eq!(last_key(&h.mock), "Bearer sk-canary-byok-1");
    // an alias with nothing stored is the client's mistake
    let (status, body) = call(&url, "/v1/chat/completions", Some("team-z")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "cf-aig-byok-alias");

    // rotated through the API: used at once
    assert_eq!(put(&url, "team-a", "sk-canary-byok-2").await, 201);
    call(&url, "/v1/chat/completions", Some("team-a")).await;
    assert_eq!(last_key(&h.mock), "Bearer sk-canary-byok-2");

    // rotated by the CLI (another process): used within the cache time, no restart
    let file = dir.path().join("switchyard.toml");
    std::fs::write(&file, config(&h.mock, &extra)).unwrap();
    let mut child = std::process::Command::new(bin())
        .args(["secrets", "--config"])
        .arg(&file)
        .args(["set", "--provider", "mock-openai", "--alias", "team-a"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"sk-canary-byok-3\n")
        .unwrap();
    assert!(child.wait().unwrap().success());
    let deadline = Instant::now() + Duration::from_secs(8);
    loop {
        call(&url, "/v1/chat/completions", Some("team-a")).await;
        if last_key(&h.mock) == "Bearer sk-canary-byok-3" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the rotated key was not picked up"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // never returned, logged or stored in the clear
    let listed = reqwest::get(format!("{url}/api/secrets"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        listed.contains("team-a") && !listed.contains("canary"),
        "{listed}"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let page = logs(&url, "?limit=1000").await;
    let all = page["data"].as_array().unwrap();
    assert!(all.len() >= 13);
    for r in all {
        let full: Value = reqwest::get(format!("{url}/api/logs/{}", r["id"].as_str().unwrap()))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(!full.to_string().contains("canary"));
    }
    assert!(!h.gateway.logs().contains("canary"));
    for file in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(file.unwrap().path()).unwrap_or_default();
        assert!(!bytes.windows(6).any(|w| w == b"canary"));
    }
    let (status, _) = call(&url, "/v1/chat/completions", Some("team-a")).await;
    assert_eq!(status, 200);
    let gone = reqwest::Client::new()
        .delete(format!("{url}/api/secrets/mock-openai/team-a"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status().as_u16(), 204);
    assert_eq!(
        call(&url, "/v1/chat/completions", Some("team-a")).await.0,
        400
    );
}

#[tokio::test]
async fn without_a_master_key_nothing_is_stored() {
    let h = start_with(|mock| config(mock, "")).await;
    let url = h.gateway.base_url().to_owned();
    let resp = reqwest::Client::new()
        .put(format!("{url}/api/secrets/mock-openai/a"))
        .json(&json!({"value": "sk-x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("master key"));
    assert_eq!(call(&url, "/v1/chat/completions", Some("a")).await.0, 400);
}

async fn make_key(url: &str, name: &str) -> (String, String) {
    common::new_key(url, json!({ "name": name })).await
}

async fn call_as(url: &str, path: &str, key: &str, alias: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}{path}"))
        .header("authorization", key)
        .header("cf-aig-byok-alias", alias)
        .json(&chat("mock-openai/gpt-4o-mini"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_stored_key_bound_to_gateway_keys_serves_only_them() {
    let dir = tempfile::tempdir().unwrap();
    let extra = extra(dir.path());
    let h = start_with(|mock| config(mock, &extra)).await;
    let url = h.gateway.base_url().to_owned();
    let (team_id, team) = make_key(&url, "team").await;
    let (_, other) = make_key(&url, "other").await;
    let status = reqwest::Client::new()
        .put(format!("{url}/api/secrets/mock-openai/team-key"))
        .json(&json!({ "value": "sk-team-only", "keys": [team_id] }))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 201);
    // the key it is bound to uses it, on API and native routes alike
    for path in ["/v1/chat/completions", "/mock-openai/chat/completions"] {
        assert_eq!(call_as(&url, path, &team, "team-key").await, 200, "{path}");
        assert_eq!(last_key(&h.mock), "Bearer sk-team-only");
        // another key naming it is refused, and the provider never sees the stored key
        let seen = h.mock.requests().len();
        assert_eq!(call_as(&url, path, &other, "team-key").await, 403, "{path}");
        assert_eq!(h.mock.requests().len(), seen);
    }
    let (status, body) = call(&url, "/v1/chat/completions", Some("team-key")).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("team-key"),
        "{body}"
    );
    // the list says which keys may use it
    let list: Value = reqwest::get(format!("{url}/api/secrets"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"][0]["keys"], json!([team_id]), "{list}");
}
