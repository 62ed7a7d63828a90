//! The request log end to end: every field, both dialects, both modes, both stores; the API,
//! analytics, CLI and traces.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::logging::*;
use common::{bin, config, start_with, Harness};
use serde_json::{json, Value};
use switchyard_testkit::PostgresServer;

async fn every_field(h: &Harness) {
    let url = h.gateway.base_url().to_owned();
    // 1. OpenAI JSON, with metadata, user agent and a trace parent
    let (s1, _, h1) = post(
        &url,
        "/v1/chat/completions",
        &chat("one", false),
        &[
            ("cf-aig-metadata", r#"{"team":"search","user":7}"#),
            ("user-agent", "log-test/1.0"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        ],
    )
    .await;
    assert_eq!(s1, 200);
    // 2. OpenAI stream that did not ask for usage: the client sees none, the log has it
    let (s2, body2, h2) = post(&url, "/v1/chat/completions", &chat("two", true), &[]).await;
    assert_eq!(s2, 200);
    assert!(!body2.contains("\"usage\":{"), "{body2}");
    assert!(body2.ends_with("data: [DONE]\n\n"));
    // 3. Anthropic dialect, streaming, translated to the OpenAI provider
    let anthropic = json!({"model": "mock-openai/gpt-4o-mini", "max_tokens": 50, "stream": true,
        "messages": [{"role": "user", "content": "three"}]});
    let (s3, _, h3) = post(&url, "/v1/messages", &anthropic, &[]).await;
    assert_eq!(s3, 200);
    // 4. an upstream failure
    let (s4, _, h4) = post(
        &url,
        "/v1/chat/completions",
        &json!({"model": "mock-openai/status-500", "messages": [{"role": "user", "content": "x"}]}),
        &[],
    )
    .await;
    assert_eq!(s4, 502);
    // 5. no payloads, and a custom cost
    let (_, _, h5) = post(
        &url,
        "/v1/chat/completions",
        &chat("five", false),
        &[
            ("cf-aig-collect-log-payload", "false"),
            ("cf-aig-custom-cost", "0.5"),
        ],
    )
    .await;
    // 6. a cache hit (second of two)
    let ttl = [("cf-aig-cache-ttl", "60")];
    post(&url, "/v1/chat/completions", &chat("six", false), &ttl).await;
    // the entry is written just after the answer: until then a twin follows the first call
    // (`coalesced`), and this checks a plain hit
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = get_json(&format!("{url}/api/cache")).await;
        if stats["stores"].as_u64() >= Some(1) {
            break;
        }
        assert!(Instant::now() < deadline, "never stored: {stats}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, _, h6) = post(&url, "/v1/chat/completions", &chat("six", false), &ttl).await;
    assert_eq!(header(&h6, "cf-aig-cache-status"), "HIT");
    // 7. invalid metadata: refused, and still logged
    let (s7, body7, h7) = post(
        &url,
        "/v1/chat/completions",
        &chat("seven", false),
        &[("cf-aig-metadata", "[1,2]")],
    )
    .await;
    assert_eq!(s7, 400, "{body7}");
    // 8. Anthropic dialect, not streamed
    let mut anthropic_json = anthropic.clone();
    anthropic_json["stream"] = json!(false);
    let (s8, _, h8) = post(&url, "/v1/messages", &anthropic_json, &[]).await;
    assert_eq!(s8, 200);

    let all = rows_or_logs(&url, 9, Some(&h.gateway)).await;
    for line in h
        .gateway
        .logs()
        .lines()
        .filter(|l| l.contains("WARN") || l.contains("ERROR"))
    {
        eprintln!("gateway: {line}");
    }
    let r1 = by_id(&all, &header(&h1, "cf-aig-log-id"));
    assert_eq!(
        header(&h1, "cf-aig-log-id"),
        header(&h1, "cf-aig-request-id")
    );
    assert_eq!(r1["dialect"], "openai");
    assert_eq!(r1["provider"], "mock-openai");
    assert_eq!(r1["model"], "gpt-4o-mini");
    assert_eq!(r1["requested_model"], "mock-openai/gpt-4o-mini");
    assert_eq!(r1["path"], "/v1/chat/completions");
    assert_eq!(r1["route"], "/v1/chat/completions");
    assert_eq!(
        (&r1["status"], &r1["success"], &r1["cached"], &r1["stream"]),
        (&json!(200), &json!(true), &json!(false), &json!(false))
    );
    assert_eq!(
        (
            &r1["input_tokens"],
            &r1["output_tokens"],
            &r1["tokens_estimated"]
        ),
        (&json!(12), &json!(3), &json!(false))
    );
    let cost = r1["cost_usd"].as_f64().unwrap();
    assert!((cost - (12.0 + 6.0) / 1e6).abs() < 1e-12, "{cost}");
    assert_eq!(r1["metadata"], r#"{"team":"search","user":7}"#);
    assert_eq!(r1["user_agent"], "log-test/1.0");
    for f in ["duration_ms", "ttft_ms", "upstream_ms", "overhead_ms"] {
        assert!(r1[f].as_f64().unwrap() > 0.0, "{f}: {r1}");
    }
    assert!(r1["duration_ms"].as_f64() >= r1["upstream_ms"].as_f64());
    assert!(r1["request_body"].is_null(), "the list leaves bodies out");
    let full = log_row(&url, r1["id"].as_str().unwrap()).await;
    assert!(full["request_body"].as_str().unwrap().contains("\"one\""));
    assert!(full["response_body"]
        .as_str()
        .unwrap()
        .contains("chat.completion"));
    assert!(
        !full.to_string().contains("sk-test"),
        "no credentials in the log"
    );

    let r2 = by_id(&all, &header(&h2, "cf-aig-log-id"));
    assert_eq!(
        (
            &r2["stream"],
            &r2["input_tokens"],
            &r2["output_tokens"],
            &r2["tokens_estimated"]
        ),
        (&json!(true), &json!(12), &json!(3), &json!(false))
    );
    assert!(r2["ttft_ms"].as_f64().unwrap() <= r2["duration_ms"].as_f64().unwrap());

    let r3 = by_id(&all, &header(&h3, "cf-aig-log-id"));
    assert_eq!(
        (&r3["dialect"], &r3["stream"], &r3["path"]),
        (&json!("anthropic"), &json!(true), &json!("/v1/messages"))
    );
    assert!(
        r3["input_tokens"].as_i64().unwrap() > 0 && r3["output_tokens"].as_i64().unwrap() > 0,
        "{r3}"
    );

    let r8 = by_id(&all, &header(&h8, "cf-aig-log-id"));
    assert_eq!(
        (
            &r8["dialect"],
            &r8["stream"],
            &r8["input_tokens"],
            &r8["output_tokens"]
        ),
        (&json!("anthropic"), &json!(false), &json!(12), &json!(3)),
        "{r8}"
    );
    assert!(
        (r8["cost_usd"].as_f64().unwrap() - 18.0 / 1e6).abs() < 1e-12,
        "{r8}"
    );

    let r4 = by_id(&all, &header(&h4, "cf-aig-log-id"));
    assert_eq!(
        (&r4["status"], &r4["success"]),
        (&json!(502), &json!(false))
    );
    assert!(r4["error"].as_str().unwrap().contains("HTTP 500"), "{r4}");

    let r5_id = header(&h5, "cf-aig-log-id");
    let r5 = log_row(&url, &r5_id).await;
    assert!(
        r5["request_body"].is_null() && r5["response_body"].is_null(),
        "{r5}"
    );
    assert_eq!(
        (&r5["cost_usd"], &r5["custom_cost_usd"]),
        (&json!(0.5), &json!(0.5))
    );

    let r6 = by_id(&all, &header(&h6, "cf-aig-log-id"));
    assert_eq!(
        (&r6["cached"], &r6["cache_status"], &r6["cost_usd"]),
        (&json!(true), &json!("hit"), &json!(0.0))
    );
    assert!(
        (r6["saved_cost_usd"].as_f64().unwrap() - 18.0 / 1e6).abs() < 1e-12,
        "{r6}"
    );
    assert!(r6["upstream_ms"].is_null());

    let r7 = by_id(&all, &header(&h7, "cf-aig-log-id"));
    assert_eq!(r7["status"], 400);
    assert!(
        r7["error"].as_str().unwrap().contains("cf-aig-metadata"),
        "{r7}"
    );

    // filters, cursor, patch, analytics, delete
    assert_eq!(
        logs(&url, "?metadata=team=search").await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        logs(&url, "?success=false").await["data"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        logs(&url, "?cached=true").await["data"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let page = logs(&url, "?limit=3").await;
    assert_eq!(page["data"].as_array().unwrap().len(), 3);
    let next = page["next"].as_str().unwrap().to_owned();
    assert_eq!(
        logs(&url, &format!("?limit=10&before={next}")).await["data"]
            .as_array()
            .unwrap()
            .len(),
        6
    );
    let patched: Value = reqwest::Client::new()
        .patch(format!("{url}/api/logs/{}", r1["id"].as_str().unwrap()))
        .json(&json!({"feedback": -1, "score": 0.25}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (&patched["feedback"], &patched["score"]),
        (&json!(-1), &json!(0.25))
    );
    let bad = reqwest::Client::new()
        .patch(format!("{url}/api/logs/{}", r1["id"].as_str().unwrap()))
        .json(&json!({"feedback": 5}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);

    let analytics: Value = reqwest::get(format!("{url}/api/analytics?group_by=provider"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let groups = analytics["groups"].as_array().unwrap();
    let total = |f: &str| groups.iter().map(|g| g[f].as_f64().unwrap()).sum::<f64>();
    let sum = |f: &str| {
        all.iter()
            .map(|r| r[f].as_f64().unwrap_or(0.0))
            .sum::<f64>()
    };
    assert_eq!(total("requests"), 9.0);
    assert_eq!(total("input_tokens"), sum("input_tokens"));
    assert_eq!(total("output_tokens"), sum("output_tokens"));
    assert!((total("cost_usd") - sum("cost_usd")).abs() < 1e-9);
    assert_eq!(
        total("errors"),
        all.iter().filter(|r| r["success"] == false).count() as f64
    );
    assert_eq!(total("cached"), 1.0);
    let mock = groups.iter().find(|g| g["key"] == "mock-openai").unwrap();
    // the upstream 500 is the provider's row too (it answered, with an error)
    assert_eq!(mock["requests"], 8);
    assert_eq!(mock["unpriced"], 0);

    let metrics = metrics_text(&url).await;
    assert!(metrics.contains("switchyard_requests_total{provider=\"mock-openai\",model=\"gpt-4o-mini\",route=\"/v1/chat/completions\",status_class=\"2xx\"}"), "{metrics}");
    assert!(metrics.contains("switchyard_time_to_first_token_seconds_bucket"));
    assert!(metrics.contains("switchyard_log_queue_depth 0"));

    let deleted: Value = reqwest::Client::new()
        .delete(format!("{url}/api/logs?success=false"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deleted, json!({"deleted": 2}));
    let refused = reqwest::Client::new()
        .delete(format!("{url}/api/logs"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status().as_u16(), 400);
}

#[tokio::test]
async fn every_field_on_sqlite() {
    let h = start_with(|mock| config(mock, PRICES)).await;
    every_field(&h).await;
}

#[tokio::test]
async fn every_field_on_postgres() {
    let pg = PostgresServer::start().unwrap();
    let extra = format!("{PRICES}[logs]\nurl = \"{}\"\n", pg.url());
    let h = start_with(|mock| config(mock, &extra)).await;
    let result = tokio::spawn(async move {
        every_field(&h).await;
        h
    })
    .await;
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[tokio::test]
async fn the_cli_reads_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{PRICES}[logs]\nurl = \"sqlite://{}\"\n",
        dir.path().join("logs.db").display()
    );
    let h = start_with(|mock| config(mock, &extra)).await;
    let url = h.gateway.base_url().to_owned();
    for i in 0..3 {
        post(
            &url,
            "/v1/chat/completions",
            &chat(&format!("cli{i}"), i == 1),
            &[],
        )
        .await;
    }
    post(
        &url,
        "/v1/chat/completions",
        &json!({"model": "mock-openai/status-500", "messages": [{"role": "user", "content": "x"}]}),
        &[],
    )
    .await;
    rows(&url, 4).await;
    let file = dir.path().join("switchyard.toml");
    std::fs::write(&file, config(&h.mock, &extra)).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin())
            .args(args)
            .arg("--config")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let lines: Vec<Value> = run(&["logs", "--json", "-n", "10"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(
        lines[0]["id"].as_str() < lines[3]["id"].as_str(),
        "oldest first"
    );
    let table = run(&["logs", "--errors"]);
    assert!(
        table.contains("HTTP 500") && table.lines().count() == 2,
        "{table}"
    );
    let usage: Value = serde_json::from_str(&run(&[
        "usage", "--by", "provider", "--since", "1h", "--json",
    ]))
    .unwrap();
    let mock = usage
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"] == "mock-openai")
        .unwrap();
    assert_eq!(
        (&mock["requests"], &mock["input_tokens"]),
        (&json!(4), &json!(36)) // three answers and the upstream 500
    );
    assert!((mock["cost_usd"].as_f64().unwrap() - 3.0 * 18.0 / 1e6).abs() < 1e-12);
    let table = run(&["usage", "--by", "model"]);
    assert!(table.contains("gpt-4o-mini"), "{table}");
}

#[tokio::test]
async fn spans_follow_the_genai_conventions_and_the_callers_trace() {
    let collector = switchyard_testkit::OtlpCollector::start().await.unwrap();
    let extra = format!("[logs]\notlp_endpoint = \"{}\"\n", collector.endpoint());
    let h = start_with(|mock| config(mock, &extra)).await;
    let url = h.gateway.base_url().to_owned();
    let (_, _, headers) = post(
        &url,
        "/v1/chat/completions",
        &chat("traced", false),
        &[(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )],
    )
    .await;
    post(&url, "/v1/chat/completions", &chat("untraced", true), &[]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while collector.spans().len() < 2 {
        assert!(Instant::now() < deadline, "spans: {:?}", collector.spans());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let spans = collector.spans();
    let attr = |s: &Value, k: &str| -> Value {
        s["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["key"] == k)
            .map(|a| a["value"].clone())
            .unwrap_or(Value::Null)
    };
    let log_id = header(&headers, "cf-aig-log-id");
    let traced = spans
        .iter()
        .find(|s| attr(s, "switchyard.log_id")["stringValue"] == log_id.as_str())
        .unwrap();
    assert_eq!(traced["traceId"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(traced["parentSpanId"], "00f067aa0ba902b7");
    assert_eq!(traced["name"], "chat mock-openai/gpt-4o-mini");
    assert_eq!(attr(traced, "gen_ai.operation.name")["stringValue"], "chat");
    assert_eq!(
        attr(traced, "gen_ai.request.model")["stringValue"],
        "mock-openai/gpt-4o-mini"
    );
    assert_eq!(
        attr(traced, "gen_ai.response.model")["stringValue"],
        "gpt-4o-mini"
    );
    assert_eq!(attr(traced, "gen_ai.usage.input_tokens")["intValue"], "12");
    assert_eq!(attr(traced, "gen_ai.usage.output_tokens")["intValue"], "3");
    assert_eq!(attr(traced, "http.response.status_code")["intValue"], "200");
    let other = spans
        .iter()
        .find(|s| s["traceId"] != "4bf92f3577b34da6a3ce929d0e0e4736")
        .unwrap();
    assert_eq!(other["traceId"].as_str().unwrap().len(), 32);
    assert!(other.get("parentSpanId").is_none());
    assert!(
        other["endTimeUnixNano"]
            .as_str()
            .unwrap()
            .parse::<u128>()
            .unwrap()
            >= other["startTimeUnixNano"]
                .as_str()
                .unwrap()
                .parse::<u128>()
                .unwrap()
    );
}

#[tokio::test]
async fn missing_usage_is_counted_locally_and_marked_estimated() {
    let h = start_with(|mock| config(mock, "")).await;
    let url = h.gateway.base_url().to_owned();
    let body = json!({"model": "mock-openai/no-usage", "messages": [{"role": "user", "content": "Hello, world!"}]});
    let (_, _, json_headers) = post(&url, "/v1/chat/completions", &body, &[]).await;
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let (_, text, stream_headers) = post(&url, "/v1/chat/completions", &streamed, &[]).await;
    assert!(text.ends_with("data: [DONE]\n\n"));
    let all = rows(&url, 2).await;
    for h in [&json_headers, &stream_headers] {
        let r = by_id(&all, &header(h, "cf-aig-log-id"));
        assert_eq!(r["tokens_estimated"], true, "{r}");
        // "user" + "Hello, world!" in o200k_base; the mock answers "Hello from mock" (3 tokens)
        assert!(r["input_tokens"].as_i64().unwrap() >= 4, "{r}");
        assert_eq!(r["output_tokens"], 3, "{r}");
        assert!(r["cost_usd"].is_null(), "no price for this model: {r}");
    }
}

#[tokio::test]
async fn bodies_are_capped_at_a_character_on_both_paths() {
    // SQLite packs the bodies apart from the record; a stop-inserting cap keeps records whole
    // (the PostgreSQL path): the cut is the same on both
    for extra in [
        "[logs]\nmax_payload_bytes = 60\n",
        "[logs]\nmax_payload_bytes = 60\nmax_rows = 100\nretention = \"stop-inserting\"\n",
    ] {
        let h = start_with(|mock| config(mock, extra)).await;
        let url = h.gateway.base_url().to_owned();
        // the cap (60 bytes) falls inside the second byte of an "é"
        let body = json!({"model": "mock-openai/gpt-4o-mini",
            "messages": [{"role": "user", "content": "éééééééééééééééééééééééééé"}]});
        let sent = body.to_string();
        assert_eq!(sent.as_bytes()[60] & 0xc0, 0x80, "{sent}");
        let (status, _, headers) = post(&url, "/v1/chat/completions", &body, &[]).await;
        assert_eq!(status, 200);
        rows(&url, 1).await;
        let full = log_row(&url, &header(&headers, "cf-aig-log-id")).await;
        let request = full["request_body"].as_str().unwrap();
        assert_eq!(request, &sent[..59], "{extra}");
        let response = full["response_body"].as_str().unwrap();
        assert!(
            response.len() <= 60 && response.starts_with('{'),
            "{response}"
        );
    }
}

/// With the request log off, spans are still exported (and there are no rows to read).
#[tokio::test]
async fn spans_are_exported_with_the_request_log_off() {
    let collector = switchyard_testkit::OtlpCollector::start().await.unwrap();
    let extra = format!(
        "[logs]\nenabled = false\notlp_endpoint = \"{}\"\n",
        collector.endpoint()
    );
    let h = start_with(|mock| config(mock, &extra)).await;
    let url = h.gateway.base_url().to_owned();
    let (_, _, headers) = post(&url, "/v1/chat/completions", &chat("off", false), &[]).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while collector.spans().is_empty() {
        assert!(Instant::now() < deadline, "no span with the log off");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let spans = collector.spans();
    let log_id = header(&headers, "cf-aig-log-id");
    assert!(spans.iter().any(|s| s["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["key"] == "switchyard.log_id" && a["value"]["stringValue"] == log_id.as_str())));
    let resp = reqwest::get(format!("{url}/api/logs/{log_id}"))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 404);
}
