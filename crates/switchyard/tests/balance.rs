//! Load balancing over an alias's deployments (weighted, latency-aware) and the circuit breaker
//! that ejects a failing one and probes it back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{chat, start_with};
use switchyard_testkit::MockUpstream;

fn config(mock: &MockUpstream) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
env_providers = false
[circuit_breaker]
failures = 2
open_seconds = 1
[providers.a]
kind = "openai"
base_url = "{base}"
api_key = "sk-a"
[providers.b]
kind = "openai"
base_url = "{base}"
api_key = "sk-b"
[[models]]
name = "weighted"
targets = ["a/gpt-4o-mini", "b/gpt-4o-mini"]
weights = [3, 1]
[[models]]
name = "fastest"
targets = ["a/delay-150", "b/gpt-4o-mini"]
strategy = "latency"
[[models]]
name = "retried"
targets = ["a/status-503", "b/gpt-4o-mini"]
[[models]]
name = "guarded"
targets = ["a/status-503", "b/gpt-4o-mini"]
fallbacks = ["b/gpt-4o-mini"]
"#,
        base = mock.base_url()
    )
}

async fn send(url: &str, model: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}/v1/chat/completions"))
        .json(&chat(model))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn count(mock: &MockUpstream, key: &str, model: &str) -> usize {
    mock.requests()
        .iter()
        .filter(|r| r.headers["authorization"] == format!("Bearer {key}").as_str())
        .filter(|r| r.json()["model"] == model)
        .count()
}

#[tokio::test]
async fn weights_spread_the_load_and_latency_picks_the_fast_one() {
    let h = start_with(config).await;
    let url = h.gateway.base_url().to_owned();
    for _ in 0..8 {
        assert_eq!(send(&url, "weighted").await, 200);
    }
    assert_eq!(count(&h.mock, "sk-a", "gpt-4o-mini"), 6);
    assert_eq!(count(&h.mock, "sk-b", "gpt-4o-mini"), 2);

    for _ in 0..10 {
        assert_eq!(send(&url, "fastest").await, 200);
    }
    // each is tried once while nothing is known, then the fast one takes the rest
    assert_eq!(count(&h.mock, "sk-a", "delay-150"), 1);
}

#[tokio::test]
async fn the_breaker_ejects_a_failing_deployment_and_probes_it_back() {
    let h = start_with(config).await;
    let url = h.gateway.base_url().to_owned();
    for _ in 0..10 {
        // the fallback answers whenever the failing deployment was picked
        assert_eq!(send(&url, "guarded").await, 200);
    }
    assert_eq!(
        count(&h.mock, "sk-a", "status-503"),
        2,
        "ejected after 2 failures"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..5 {
        assert_eq!(send(&url, "guarded").await, 200);
    }
    assert_eq!(
        count(&h.mock, "sk-a", "status-503"),
        3,
        "one probe, failed, out again"
    );
}

#[tokio::test]
async fn a_retry_moves_to_another_deployment() {
    let h = start_with(config).await;
    let url = h.gateway.base_url().to_owned();
    for _ in 0..4 {
        let (status, headers, body) =
            common::chat_with(&url, "retried", &[("cf-aig-max-attempts", "2")]).await;
        assert_eq!(status, 200, "{body}");
        // a retry, not a fallback: still step 0
        assert_eq!(headers["cf-aig-step"], "0");
    }
    // the first pick went to `a` (equal weights start there); its retry went to `b`, never
    // back to `a`
    let failed = count(&h.mock, "sk-a", "status-503");
    assert!((1..=2).contains(&failed), "{failed}");
    assert_eq!(count(&h.mock, "sk-b", "gpt-4o-mini"), 4);

    // without retries the failing deployment's error is the answer (fallbacks are separate)
    let mut statuses = Vec::new();
    tokio::time::sleep(Duration::from_millis(1100)).await; // the breaker lets `a` back in
    for _ in 0..2 {
        statuses.push(send(&url, "retried").await);
    }
    assert!(
        statuses.contains(&502) || statuses.contains(&503),
        "{statuses:?}"
    );
}
