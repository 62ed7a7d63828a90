//! Rate limits and budgets: per key, per user, per gateway, in requests and tokens, fixed and
//! sliding; budgets settled from real cost; and two gateway processes sharing one Redis keeping
//! one limit and one budget between them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::logging::PRICES;
use common::{chat, chat_with, config, start_with, Harness};
use serde_json::{json, Value};
use switchyard_testkit::{RedisServer, Switchyard};

const MODEL: &str = "mock-openai/gpt-4o-mini";

async fn call(url: &str, headers: &[(&str, &str)]) -> (u16, reqwest::header::HeaderMap, Value) {
    chat_with(url, MODEL, headers).await
}

async fn make_key(url: &str, body: Value) -> String {
    common::new_key(url, body).await.1
}

/// The log writer settles usage and cost as it writes each answer's row: once the log holds
/// `rows` rows, the settlement has been sent (a moment for it to land).
async fn settle(url: &str, rows: usize) {
    common::logging::rows(url, rows).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
}

fn dir_config(dir: &std::path::Path, extra: &str) -> String {
    format!(
        "{PRICES}[auth]\nurl = \"sqlite://{}\"\n[logs]\nurl = \"sqlite://{}\"\n{extra}",
        dir.join("keys.db").display(),
        dir.join("logs.db").display()
    )
}

async fn start(dir: &std::path::Path, extra: &str) -> Harness {
    let extra = dir_config(dir, extra);
    start_with(|mock| config(mock, &extra)).await
}

#[tokio::test]
async fn key_and_user_request_limits_refuse_with_retry_after() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(
        dir.path(),
        "[[rate_limits]]\nscope = \"user\"\nlimit = 2\nwindow = \"1m\"\ntechnique = \"sliding\"\n",
    )
    .await;
    let url = h.gateway.base_url().to_owned();
    let limited = make_key(&url, json!({"name": "small", "rate_limit": "3/min"})).await;
    let other = make_key(&url, json!({"name": "other"})).await;
    for _ in 0..3 {
        assert_eq!(call(&url, &[("authorization", &limited)]).await.0, 200);
    }
    let (status, headers, body) = call(&url, &[("authorization", &limited)]).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("this API key"));
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert_eq!(headers["x-ratelimit-limit"], "3");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    // another key is not affected
    assert_eq!(call(&url, &[("authorization", &other)]).await.0, 200);

    // per user (a metadata entry), whatever the key
    let alice = [("cf-aig-metadata", r#"{"user":"alice"}"#)];
    let bob = [("cf-aig-metadata", r#"{"user":"bob"}"#)];
    assert_eq!(call(&url, &alice).await.0, 200);
    assert_eq!(call(&url, &alice).await.0, 200);
    let (status, _, body) = call(&url, &alice).await;
    assert_eq!(status, 429);
    assert!(body["error"]["message"].as_str().unwrap().contains("user"));
    assert_eq!(call(&url, &bob).await.0, 200);

    // an invalid spec is refused when the key is made
    let resp = reqwest::Client::new()
        .post(format!("{url}/api/keys"))
        .json(&json!({"name": "bad", "rate_limit": "lots"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn token_limits_and_budgets_settle_from_real_usage() {
    let dir = tempfile::tempdir().unwrap();
    // each answer uses 12 + 3 tokens and costs 12 × $1/M + 3 × $2/M = $0.000018
    let h = start(
        dir.path(),
        "[[rate_limits]]\nscope = \"gateway\"\nlimit = 40\nwindow = \"1h\"\nunit = \"tokens\"\nmodel = \"mock-openai/gpt-4o-mini\"\n",
    )
    .await;
    let url = h.gateway.base_url().to_owned();
    let mut answered = 0;
    let started = Instant::now();
    loop {
        let (status, _, body) = call(&url, &[]).await;
        if status == 429 {
            assert!(body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("tokens"));
            break;
        }
        assert_eq!(status, 200);
        answered += 1;
        settle(&url, answered).await;
        assert!(started.elapsed() < Duration::from_secs(20));
    }
    // 15 real tokens each: 2 fit in 40, a third (estimated at its body size) does not
    assert_eq!(answered, 2);

    // a key's budget: $0.00003 a day is one answer and a bit: the second spends past it
    let key = make_key(&url, json!({"name": "thrifty", "budget": "0.00003/day"})).await;
    let k = [("authorization", key.as_str())];
    // the token limit above covers MODEL as spelled; the bare declared name is not under it
    // rows so far: the answers and the refusal above
    assert_eq!(call_model(&url, "gpt-4o-mini", &k).await, 200);
    settle(&url, answered + 2).await;
    assert_eq!(call_model(&url, "gpt-4o-mini", &k).await, 200);
    settle(&url, answered + 3).await;
    let (status, body) = call_model_body(&url, "gpt-4o-mini", &k).await;
    assert_eq!(status, 429, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("budget") && message.contains("per day"),
        "{message}"
    );
}

async fn call_model(url: &str, model: &str, headers: &[(&str, &str)]) -> u16 {
    call_model_body(url, model, headers).await.0
}

async fn call_model_body(url: &str, model: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let (status, _, body) = chat_with(url, model, headers).await;
    (status, body)
}

#[tokio::test]
async fn two_gateways_sharing_redis_keep_one_limit_and_one_budget() {
    let redis = RedisServer::start().unwrap();
    let mock = switchyard_testkit::MockUpstream::start().await.unwrap();
    let shared = format!(
        "[limits]\nbackend = \"redis\"\nurl = \"{}\"\nprefix = \"t:\"\n[[rate_limits]]\nscope = \"gateway\"\nlimit = 5\nwindow = \"1h\"\n[[budgets]]\nscope = \"metadata\"\nfield = \"team\"\nusd = 0.00003\nperiod = \"month\"\n",
        redis.url()
    );
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Switchyard::start(
        common::bin(),
        &config(&mock, &dir_config(d1.path(), &shared)),
    )
    .await
    .unwrap();
    let b = Switchyard::start(
        common::bin(),
        &config(&mock, &dir_config(d2.path(), &shared)),
    )
    .await
    .unwrap();
    // the team budget: spent on A, exhausted on B
    let team = [("cf-aig-metadata", r#"{"team":"search"}"#)];
    assert_eq!(call(a.base_url(), &team).await.0, 200);
    settle(a.base_url(), 1).await;
    assert_eq!(call(a.base_url(), &team).await.0, 200);
    settle(a.base_url(), 2).await;
    let (status, _, body) = call(b.base_url(), &team).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("meta.team:search"));
    // the gateway-wide limit of 5 (2 used above, the refused one given back): 3 more in all
    let mut ok = 0;
    for i in 0..6 {
        let url = if i % 2 == 0 {
            a.base_url()
        } else {
            b.base_url()
        };
        if call(url, &[]).await.0 == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 3);
}

#[tokio::test]
async fn gateway_limits_hold_on_provider_native_routes_too() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(
        dir.path(),
        "[[rate_limits]]\nscope = \"gateway\"\nlimit = 2\nwindow = \"1m\"\n",
    )
    .await;
    let url = h.gateway.base_url().to_owned();
    let native = |url: String| async move {
        reqwest::Client::new()
            .post(format!("{url}/mock-openai/chat/completions"))
            .json(&chat("gpt-4o-mini"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(native(url.clone()).await, 200);
    assert_eq!(call(&url, &[]).await.0, 200);
    assert_eq!(native(url.clone()).await, 429);
    assert_eq!(call(&url, &[]).await.0, 429);
}

/// With the request log off, answers are still priced and counted: budgets and token limits
/// settle, `/metrics` counts requests and tokens; only the rows (and the log API) are gone.
#[tokio::test]
async fn budgets_and_metrics_work_with_the_request_log_off() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{PRICES}[auth]\nurl = \"sqlite://{}\"\n[logs]\nenabled = false\n",
        dir.path().join("keys.db").display()
    );
    let h = start_with(|mock| config(mock, &extra)).await;
    let url = h.gateway.base_url().to_owned();
    let key = make_key(&url, json!({"name": "thrifty", "budget": "0.00003/day"})).await;
    let k = [("authorization", key.as_str())];
    let series = "switchyard_requests_total{provider=\"mock-openai\",model=\"gpt-4o-mini\",route=\"/v1/chat/completions\",status_class=\"2xx\"}";
    for n in 1..=2 {
        assert_eq!(call_model(&url, "gpt-4o-mini", &k).await, 200);
        // counted once its answer ended; its cost settled right then (a moment to land)
        let started = Instant::now();
        while !common::logging::metrics_text(&url)
            .await
            .contains(&format!("{series} {n}\n"))
        {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "request {n} not counted"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = call_model_body(&url, "gpt-4o-mini", &k).await;
    assert_eq!(status, 429, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("budget"));
    let metrics = common::logging::metrics_text(&url).await;
    let tokens = "switchyard_input_tokens_total{provider=\"mock-openai\",model=\"gpt-4o-mini\",route=\"/v1/chat/completions\",status_class=\"2xx\"} 24";
    assert!(metrics.contains(tokens), "{metrics}");
    // the log API says the log is off
    let resp = reqwest::get(format!("{url}/api/logs")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 404);
    let v: Value = resp.json().await.unwrap();
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("request log is off"));
}

/// `cf-aig-custom-cost` changes what is reported, never what a budget is charged below the real
/// cost; Cloudflare's JSON forms of the header are accepted.
#[tokio::test]
async fn a_custom_cost_cannot_lower_what_a_budget_is_charged() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{PRICES}[auth]\nurl = \"sqlite://{}\"\n",
        dir.path().join("keys.db").display()
    );
    let h = start_with(|mock| config(mock, &extra)).await;
    let url = h.gateway.base_url().to_owned();
    let key = make_key(&url, json!({"name": "thrifty", "budget": "0.00003/day"})).await;
    for (n, cost) in ["0", "{\"total_cost\": 0}"].into_iter().enumerate() {
        let headers = [
            ("authorization", key.as_str()),
            ("cf-aig-custom-cost", cost),
        ];
        let (status, body) = call_model_body(&url, "gpt-4o-mini", &headers).await;
        assert_eq!(status, 200, "{cost}: {body}");
        settle(&url, n + 1).await;
    }
    let k = [("authorization", key.as_str()), ("cf-aig-custom-cost", "0")];
    let (status, body) = call_model_body(&url, "gpt-4o-mini", &k).await;
    assert_eq!(
        status, 429,
        "two answers at the real price spent the budget: {body}"
    );
    // the per-token form is accepted (and reported from the usage: 12 in, 3 out)
    let plain = h
        .http
        .post(format!("{url}/v1/chat/completions"))
        .header(
            "cf-aig-custom-cost",
            "{\"per_token_in\": 0.001, \"per_token_out\": 0.002}",
        )
        .json(&common::chat("mock-openai/gpt-4o-mini"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 200);
    let id = plain.headers()["cf-aig-log-id"]
        .to_str()
        .unwrap()
        .to_owned();
    settle(&url, 4).await;
    let row = common::logging::log_row(&url, &id).await;
    let reported = row["cost_usd"].as_f64().unwrap();
    assert!(
        (reported - (12.0 * 0.001 + 3.0 * 0.002)).abs() < 1e-12,
        "{row}"
    );
    assert_eq!(row["custom_cost_usd"], row["cost_usd"]);
    // a bad value is still a 400 naming the header
    let bad = [("cf-aig-custom-cost", "{\"per_token_in\": -1}")];
    let (status, body) = call_model_body(&url, "mock-openai/gpt-4o-mini", &bad).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn concurrent_requests_cannot_overshoot_a_budget_together() {
    let dir = tempfile::tempdir().unwrap();
    // every request costs 12 input + 3 output tokens = $0.000018; the budget is under three
    let h = start(
        dir.path(),
        "[[pricing]]\nprovider = \"mock-openai\"\nmodel = \"delay-*\"\ninput = 1.0\noutput = 2.0\n",
    )
    .await;
    let url = h.gateway.base_url().to_owned();
    let key = make_key(&url, json!({"name": "burst", "budget": "0.00005/day"})).await;
    let mut body = chat("mock-openai/delay-300");
    body["max_tokens"] = json!(3);
    // all in flight at once, before any of them is settled
    let answers = futures_util::future::join_all((0..20).map(|_| {
        let (url, body, key) = (url.clone(), body.clone(), key.clone());
        async move {
            common::post_with(
                &url,
                "/v1/chat/completions",
                &body,
                &[("authorization", &key)],
            )
            .await
            .0
        }
    }))
    .await;
    let passed = answers.iter().filter(|s| **s == 200).count();
    assert!(
        answers.iter().all(|s| *s == 200 || *s == 429),
        "{answers:?}"
    );
    // each admission reserved its estimate: at most what the budget covers got through
    assert!((1..=3).contains(&passed), "{answers:?}");
}

#[tokio::test]
async fn a_budget_that_cannot_be_checked_refuses_unless_told_otherwise() {
    let mut redis = RedisServer::start().unwrap();
    let limits = format!(
        "[limits]\nbackend = \"redis\"\nurl = \"{}\"\ntimeout_ms = 200\n",
        redis.url()
    );
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), &limits).await;
    let url = h.gateway.base_url().to_owned();
    let key = make_key(&url, json!({"name": "budgeted", "budget": "1/day"})).await;
    let free = make_key(&url, json!({"name": "free"})).await;
    assert_eq!(call(&url, &[("authorization", &key)]).await.0, 200);
    redis.kill();
    let (status, _, body) = call(&url, &[("authorization", &key)]).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "budget_unavailable", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("budget"),
        "{body}"
    );
    // a key without a budget is not held up
    assert_eq!(call(&url, &[("authorization", &free)]).await.0, 200);

    // `budgets_when_unavailable = "allow"`: served, uncharged, and said so in the log
    let dir = tempfile::tempdir().unwrap();
    let h = start(
        dir.path(),
        &format!("{limits}budgets_when_unavailable = \"allow\"\n"),
    )
    .await;
    let url = h.gateway.base_url().to_owned();
    let key = make_key(&url, json!({"name": "budgeted", "budget": "1/day"})).await;
    assert_eq!(call(&url, &[("authorization", &key)]).await.0, 200);
}

#[tokio::test]
async fn budgets_hold_on_native_and_universal_calls_and_unpriced_models() {
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), "").await;
    let url = h.gateway.base_url().to_owned();
    let key = make_key(&url, json!({"name": "native", "budget": "0.00003/day"})).await;
    let post = |path: &'static str, body: Value| {
        let (url, key) = (url.clone(), key.clone());
        async move { common::post_with(&url, path, &body, &[("authorization", &key)]).await }
    };
    // a provider-native chat call is charged from the usage its answer reports: $0.000018 each
    let mut body = chat("gpt-4o-mini");
    body["max_tokens"] = json!(3);
    assert_eq!(
        post("/mock-openai/chat/completions", body.clone()).await.0,
        200
    );
    settle(&url, 1).await;
    assert_eq!(
        post("/mock-openai/chat/completions", body.clone()).await.0,
        200
    );
    settle(&url, 2).await;
    let (status, _, refused) = post("/mock-openai/chat/completions", body.clone()).await;
    assert_eq!(status, 429, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("budget"),
        "{refused}"
    );

    // what the gateway cannot meter is refused under a budget, by name
    let other = make_key(&url, json!({"name": "other", "budget": "1/day"})).await;
    let as_other = |path: &'static str, body: Value| {
        let (url, other) = (url.clone(), other.clone());
        async move { common::post_with(&url, path, &body, &[("authorization", &other)]).await }
    };
    let (status, _, refused) = as_other(
        "/mock-openai/images/generations",
        json!({"prompt": "a cat"}),
    )
    .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        refused["error"]["code"], "budget_not_enforceable",
        "{refused}"
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("key_"),
        "{refused}"
    );
    let steps = json!([{"provider": "mock-openai", "endpoint": "chat/completions", "headers": {},
        "query": chat("gpt-4o-mini")}]);
    let (status, _, refused) = as_other("/universal", steps).await;
    assert_eq!(status, 403, "{refused}");
    // a model without a price: refused, never free
    let (status, _, refused) =
        as_other("/v1/chat/completions", chat("mock-openai/unpriced-model")).await;
    assert_eq!(status, 403, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no price"),
        "{refused}"
    );
    // and without a budget, all of it goes through
    let free = make_key(&url, json!({"name": "free"})).await;
    let (status, _, _) = common::post_with(
        &url,
        "/v1/chat/completions",
        &chat("mock-openai/unpriced-model"),
        &[("authorization", &free)],
    )
    .await;
    assert_eq!(status, 200);

    // a fallback price charges unpriced models: $1 a token, so one answer spends $1
    let dir = tempfile::tempdir().unwrap();
    let h = start(dir.path(), "[limits]\nunpriced_usd_per_mtok = 1000000.0\n").await;
    let url = h.gateway.base_url().to_owned();
    let key = make_key(&url, json!({"name": "fallback", "budget": "1/day"})).await;
    let k = [("authorization", key.as_str())];
    let mut body = chat("mock-openai/unpriced-model");
    body["max_tokens"] = json!(3);
    assert_eq!(
        common::post_with(&url, "/v1/chat/completions", &body, &k)
            .await
            .0,
        200
    );
    settle(&url, 1).await;
    let (status, _, refused) = common::post_with(&url, "/v1/chat/completions", &body, &k).await;
    assert_eq!(status, 429, "{refused}");
}
