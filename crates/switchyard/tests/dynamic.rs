//! Dynamic routes: `dynamic/NAME` walks conditions (metadata, headers), splits, rate-limit and
//! budget gates to a model node with its own attempts and fallback edge; answers name what
//! served them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{chat_with, start_with};
use switchyard_testkit::MockUpstream;

fn config(mock: &MockUpstream) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
env_providers = false
[retries]
delay_ms = 10
[providers.primary]
kind = "openai"
base_url = "{base}"
api_key = "sk-primary"
[providers.backup]
kind = "openai"
base_url = "{base}"
api_key = "sk-backup"
[[pricing]]
provider = "primary"
model = "gpt-4o-mini"
input = 1.0
output = 2.0

[[routes]]
name = "support"
start = "plan"
[[routes.nodes]]
id = "plan"
type = "condition"
when = 'metadata.plan == "free"'
then = "free-gate"
else = "tier"
[[routes.nodes]]
id = "free-gate"
type = "rate_limit"
limit = "2/min"
field = "user"
next = "cheap"
[[routes.nodes]]
id = "tier"
type = "condition"
when = 'header.x-tier == "gold"'
then = "premium"
else = "split"
[[routes.nodes]]
id = "split"
type = "split"
split = {{ "cheap" = 50, "premium-ok" = 50 }}
[[routes.nodes]]
id = "premium"
type = "model"
model = "primary/status-503"
max_attempts = 2
fallback = "cheap"
[[routes.nodes]]
id = "premium-ok"
type = "model"
model = "primary/gpt-4o-mini"
[[routes.nodes]]
id = "cheap"
type = "model"
model = "backup/gpt-4o-mini"

[[routes]]
name = "capped"
[[routes.nodes]]
id = "money"
type = "budget"
budget = "0.00002/day"
next = "paid"
else = "spare"
[[routes.nodes]]
id = "paid"
type = "model"
model = "primary/gpt-4o-mini"
[[routes.nodes]]
id = "spare"
type = "model"
model = "backup/gpt-4o-mini"

[[routes]]
name = "capped-after-failure"
[[routes.nodes]]
id = "first"
type = "model"
model = "primary/status-503"
max_attempts = 1
fallback = "money"
[[routes.nodes]]
id = "money"
type = "budget"
budget = "0.00002/day"
next = "paid"
else = "spare"
[[routes.nodes]]
id = "paid"
type = "model"
model = "primary/gpt-4o-mini"
[[routes.nodes]]
id = "spare"
type = "model"
model = "backup/gpt-4o-mini"
"#,
        base = mock.base_url()
    )
}

fn served(h: &reqwest::header::HeaderMap) -> (String, String) {
    (
        h["cf-aig-provider"].to_str().unwrap().to_owned(),
        h["cf-aig-model"].to_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn routes_walk_conditions_gates_splits_and_fallback_edges() {
    let h = start_with(config).await;
    let url = h.gateway.base_url().to_owned();
    let route = "dynamic/support";

    // free plan: a rate-limit gate per user, then the cheap model
    let free = [("cf-aig-metadata", r#"{"plan":"free","user":"u1"}"#)];
    for _ in 0..2 {
        let (status, headers, body) = chat_with(&url, route, &free).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(served(&headers), ("backup".into(), "gpt-4o-mini".into()));
        assert_eq!(headers["cf-aig-step"], "0");
    }
    let (status, _, body) = chat_with(&url, route, &free).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("free-gate"));
    let other_user = [("cf-aig-metadata", r#"{"plan":"free","user":"u2"}"#)];
    assert_eq!(chat_with(&url, route, &other_user).await.0, 200);

    // gold tier: the premium node fails twice (its own max_attempts), its fallback edge answers
    let (status, headers, _) = chat_with(&url, route, &[("x-tier", "gold")]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["cf-aig-step"], "1");
    assert_eq!(served(&headers), ("backup".into(), "gpt-4o-mini".into()));
    let failed = h
        .mock
        .requests()
        .iter()
        .filter(|r| r.json()["model"] == "status-503")
        .count();
    assert_eq!(failed, 2);

    // everyone else: a 50/50 split
    let mut seen = std::collections::HashSet::new();
    for _ in 0..24 {
        let (status, headers, _) = chat_with(&url, route, &[]).await;
        assert_eq!(status, 200);
        seen.insert(served(&headers).0);
    }
    assert_eq!(seen.len(), 2, "both branches of the split: {seen:?}");

    let (status, _, body) = chat_with(&url, "dynamic/nope", &[]).await;
    assert_eq!(status, 404);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("dynamic/support"));
}

#[tokio::test]
async fn a_budget_gate_moves_to_its_else_branch_once_spent() {
    let h = start_with(config).await;
    let url = h.gateway.base_url().to_owned();
    // $0.000018 an answer: the first two fit under $0.00002 (checked before each), then spare
    let mut providers = Vec::new();
    for n in 1..=3 {
        let (status, headers, _) = chat_with(&url, "dynamic/capped", &[]).await;
        assert_eq!(status, 200);
        providers.push(served(&headers).0);
        // the log settles the cost as it writes the row
        common::logging::rows(&url, n).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(providers, ["primary", "primary", "backup"]);

    // the same gate reached by a fallback edge (after a 503) is settled too
    let mut providers = Vec::new();
    for n in 1..=3 {
        let (status, headers, _) = chat_with(&url, "dynamic/capped-after-failure", &[]).await;
        assert_eq!(status, 200);
        providers.push(served(&headers).0);
        // each request: the failed attempt's row and the answer's
        common::logging::rows(&url, 3 + 2 * n).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(providers, ["primary", "primary", "backup"]);
}
