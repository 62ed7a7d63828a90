//! Retries, timeouts and fallbacks against a mock upstream that fails on demand: what the client
//! gets, what the provider saw, and one request-log row per attempt with its step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::logging::rows;
use common::{chat, chat_with, start_with};
use serde_json::Value;
use switchyard_testkit::MockUpstream;

/// Two providers on the same mock plus one that refuses connections, and aliases with
/// fallbacks across them.
fn config(mock: &MockUpstream, extra: &str) -> String {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/v1", dead.local_addr().unwrap());
    drop(dead);
    format!(
        r#"[server]
listen = "127.0.0.1:0"
env_providers = false
[providers.primary]
kind = "openai"
base_url = "{base}"
api_key = "sk-primary"
[providers.backup]
kind = "openai"
base_url = "{base}"
api_key = "sk-backup"
[providers.bounded]
kind = "openai"
base_url = "{base}"
api_key = "sk-bounded"
total_timeout_ms = 300
[providers.dead]
kind = "openai"
base_url = "{dead_url}"
api_key = "sk-dead"
connect_timeout_ms = 500
[[models]]
name = "resilient"
target = "primary/status-503"
fallbacks = ["dead/gpt-4o-mini", "backup/gpt-4o-mini"]
[[models]]
name = "slow-first"
target = "primary/delay-2000"
fallbacks = ["backup/gpt-4o-mini"]
[[models]]
name = "hung"
target = "primary/hang"
fallbacks = ["backup/gpt-4o-mini"]
[[models]]
name = "all-down"
target = "primary/status-500"
fallbacks = ["backup/status-502"]
[[models]]
name = "bad-request"
target = "primary/status-400"
fallbacks = ["backup/status-400"]
{extra}"#,
        base = mock.base_url()
    )
}

fn models_seen(mock: &MockUpstream) -> Vec<String> {
    mock.requests()
        .iter()
        .map(|r| r.json()["model"].as_str().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test]
async fn retries_follow_the_headers_and_stop_at_the_limit() {
    let h = start_with(|mock| config(mock, "[retries]\ndelay_ms = 10\n")).await;
    let url = h.gateway.base_url().to_owned();

    // flaky-2 fails twice: three attempts get the answer
    let (status, headers, body) = chat_with(
        &url,
        "primary/flaky-2",
        &[
            ("cf-aig-max-attempts", "3"),
            ("cf-aig-retry-delay", "20"),
            ("cf-aig-backoff", "constant"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cf-aig-step"], "0");
    assert_eq!(models_seen(&h.mock), ["flaky-2", "flaky-2", "flaky-2"]);

    // two attempts are not enough for flaky-5: the last error is the answer
    let (status, _, body) =
        chat_with(&url, "primary/flaky-5", &[("cf-aig-max-attempts", "2")]).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        models_seen(&h.mock)
            .iter()
            .filter(|m| *m == "flaky-5")
            .count(),
        2
    );

    // a 400 is the request's fault: never retried
    let (status, _, _) =
        chat_with(&url, "primary/status-400", &[("cf-aig-max-attempts", "5")]).await;
    assert_eq!(status, 400);
    assert_eq!(
        models_seen(&h.mock)
            .iter()
            .filter(|m| *m == "status-400")
            .count(),
        1
    );

    // a 429's Retry-After is waited out (1 s here), not the 10 ms delay
    let started = Instant::now();
    let (status, headers, _) =
        chat_with(&url, "primary/ratelimit-1", &[("cf-aig-max-attempts", "2")]).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "1");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        models_seen(&h.mock)
            .iter()
            .filter(|m| *m == "ratelimit-1")
            .count(),
        2
    );

    // bad control headers are 400s naming the header
    let (status, _, body) =
        chat_with(&url, "primary/gpt-4o-mini", &[("cf-aig-max-attempts", "9")]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["param"], "cf-aig-max-attempts");

    // every attempt has its row: 3 + 2 + 1 + 2 answers/attempts, plus the refused request
    let rows = rows(&url, 9).await;
    let flaky: Vec<&Value> = rows.iter().filter(|r| r["model"] == "flaky-2").collect();
    assert_eq!(flaky.len(), 3);
    assert_eq!(flaky.iter().filter(|r| r["status"] == 200).count(), 1);
    assert!(flaky.iter().all(|r| r["step"] == 0));
    assert!(flaky
        .iter()
        .filter(|r| r["status"] != 200)
        .all(|r| r["error"].as_str().unwrap().contains("503")));
}

#[tokio::test]
async fn fallbacks_are_tried_in_order_and_logged_with_their_step() {
    let h = start_with(|mock| config(mock, "")).await;
    let url = h.gateway.base_url().to_owned();

    // primary 503 → dead (connection refused) → backup answers
    let (status, headers, body) = chat_with(&url, "resilient", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cf-aig-step"], "2");
    assert_eq!(headers["cf-aig-provider"], "backup");
    assert_eq!(headers["cf-aig-model"], "gpt-4o-mini");
    let keys: Vec<String> = h
        .mock
        .requests()
        .iter()
        .map(|r| r.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, ["Bearer sk-primary", "Bearer sk-backup"]);

    // the first byte timeout moves on to the fallback
    let started = Instant::now();
    let (status, headers, _) =
        chat_with(&url, "slow-first", &[("cf-aig-request-timeout", "300")]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["cf-aig-step"], "1");
    assert!(started.elapsed() < Duration::from_millis(1500));

    // an upstream that never answers: the request timeout moves on too
    let started = Instant::now();
    let (status, headers, _) = chat_with(&url, "hung", &[("cf-aig-request-timeout", "300")]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["cf-aig-step"], "1");
    assert!(started.elapsed() < Duration::from_millis(1500));

    // all down: the last step's error, in the client's dialect
    let (status, _, body) = chat_with(&url, "all-down", &[]).await;
    assert_eq!(status, 502);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("backup"),
        "{body}"
    );

    // the request log: one row per attempt, each with its step
    let rows = rows(&url, 9).await;
    let steps = |model: &str| -> Vec<(i64, i64)> {
        let mut v: Vec<(i64, i64)> = rows
            .iter()
            .filter(|r| r["requested_model"] == model)
            .map(|r| (r["step"].as_i64().unwrap(), r["status"].as_i64().unwrap()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(steps("resilient"), [(0, 502), (1, 502), (2, 200)]);
    assert_eq!(steps("slow-first"), [(0, 504), (1, 200)]);
    assert_eq!(steps("all-down"), [(0, 502), (1, 502)]);
    assert_eq!(steps("hung"), [(0, 504), (1, 200)]);
    let dead = rows.iter().find(|r| r["provider"] == "dead").unwrap();
    assert!(!dead["success"].as_bool().unwrap());
}

#[tokio::test]
async fn the_universal_endpoint_tries_its_steps_in_order() {
    let h = start_with(|mock| config(mock, "")).await;
    let url = h.gateway.base_url().to_owned();
    let step = |provider: &str, model: &str| {
        serde_json::json!({
            "provider": provider,
            "endpoint": "chat/completions",
            "headers": {"x-trace": "t1", "authorization": "Bearer sk-client-never-forwarded"},
            "query": chat(model),
        })
    };
    let client = reqwest::Client::new();
    for path in ["/universal", "/v1/my-account/my-gateway"] {
        let resp = client
            .post(format!("{url}{path}"))
            .json(&serde_json::json!([
                step("primary", "status-503"),
                step("backup", "gpt-4o-mini")
            ]))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        assert_eq!(resp.headers()["cf-aig-step"], "1");
        assert_eq!(resp.headers()["cf-aig-provider"], "backup");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["object"], "chat.completion");
    }
    let seen = h.mock.requests();
    let last = seen.last().unwrap();
    assert_eq!(last.headers["authorization"], "Bearer sk-backup");
    assert_eq!(last.headers["x-trace"], "t1");
    // all steps failing: the last step's answer, as the provider gave it
    let resp = client
        .post(format!("{url}/universal"))
        .json(&serde_json::json!([
            step("primary", "status-503"),
            step("backup", "status-429")
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["cf-aig-step"], "1");
    // a body that is not steps
    for bad in [
        serde_json::json!([]),
        serde_json::json!({"provider": "primary"}),
        serde_json::json!("x"),
    ] {
        let resp = client
            .post(format!("{url}/universal"))
            .json(&bad)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
    }
    let rows = rows(&url, 9).await;
    let mut steps: Vec<(i64, i64)> = rows
        .iter()
        .filter(|r| r["route"] == "/universal")
        .map(|r| (r["step"].as_i64().unwrap(), r["status"].as_i64().unwrap()))
        .collect();
    steps.sort();
    assert_eq!(
        steps,
        [
            (0, 400),
            (0, 400),
            (0, 400),
            (0, 503),
            (0, 503),
            (1, 200),
            (1, 429)
        ]
    );
}

#[tokio::test]
async fn a_total_timeout_ends_a_long_stream_with_an_error_event() {
    let h = start_with(|mock| config(mock, "")).await;
    let url = h.gateway.base_url().to_owned();
    let mut body = chat("bounded/slow-stream-20");
    body["stream"] = serde_json::json!(true);
    let started = Instant::now();
    let resp = reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    // 20 chunks 50 ms apart would take a second: cut at 300 ms, never silently
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?} {text}",
        started.elapsed()
    );
    assert!(text.contains("tick0"), "{text}");
    assert!(
        text.contains("total timeout") && text.contains("upstream_timeout"),
        "{text}"
    );
    assert!(!text.contains("tick19"));
}

#[tokio::test]
async fn a_connection_reset_is_retried_then_falls_back() {
    let resetter = switchyard_testkit::ResettingUpstream::start()
        .await
        .unwrap();
    let reset_url = resetter.base_url();
    let h = start_with(|mock| {
        config(
            mock,
            &format!(
                "[providers.flappy]\nkind = \"openai\"\nbase_url = \"{reset_url}\"\napi_key = \"sk-flappy\"\n\
                 [[models]]\nname = \"reset-first\"\ntarget = \"flappy/gpt-4o-mini\"\nfallbacks = [\"backup/gpt-4o-mini\"]\n"
            ),
        )
    })
    .await;
    let url = h.gateway.base_url().to_owned();

    // reset before any response: retried (2 attempts), then a 502 naming the provider
    let (status, _, body) =
        chat_with(&url, "flappy/gpt-4o-mini", &[("cf-aig-max-attempts", "2")]).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "upstream_connection_error", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("flappy"),
        "{body}"
    );
    assert_eq!(resetter.resets(), 2);

    // streaming: the same error before the first byte, not a broken stream
    let mut streamed = chat("flappy/gpt-4o-mini");
    streamed["stream"] = true.into();
    let (status, _, body) = common::post_with(&url, "/v1/chat/completions", &streamed, &[]).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(resetter.resets(), 3);

    // an alias falls back past the resetting provider
    let (status, headers, body) = chat_with(&url, "reset-first", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cf-aig-step"], "1");
    assert_eq!(headers["cf-aig-provider"], "backup");
    assert_eq!(resetter.resets(), 4);

    // every attempt is logged with its error
    let rows = rows(&url, 5).await;
    let flappy: Vec<&Value> = rows.iter().filter(|r| r["provider"] == "flappy").collect();
    assert_eq!(flappy.len(), 4, "{rows:?}");
    assert!(flappy
        .iter()
        .all(|r| r["status"] == 502 && !r["error"].is_null()));
}
