//! Every error case gets a precise, OpenAI-shaped answer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{chat, expect_error, start};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn malformed_json_names_line_and_column() {
    let h = start("").await;
    let response = h
        .post_raw(
            "/v1/chat/completions",
            "{\"model\": \"mock-openai/gpt-4o-mini\",\n \"messages\": [}",
        )
        .await;
    let error = expect_error(response, 400).await;
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("line 2, column 15"), "{message}");
    assert_eq!(error["code"], "invalid_json");
    assert!(h.mock.requests().is_empty());
}

#[tokio::test]
async fn missing_and_mistyped_fields_name_the_field() {
    let h = start("").await;
    let cases = [
        (
            json!({"messages": [{"role": "user", "content": "x"}]}),
            "model",
        ),
        (json!({"model": "mock-openai/gpt-4o-mini"}), "messages"),
        (
            json!({"model": "mock-openai/gpt-4o-mini", "messages": "hi"}),
            "messages",
        ),
        (
            json!({"model": "mock-openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"}),
            "temperature",
        ),
        (
            json!({"model": "mock-openai/gpt-4o-mini", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
            "stream",
        ),
        (
            json!({"model": "mock-openai/gpt-4o-mini", "messages": [{"role": "wizard", "content": "x"}]}),
            "messages[0].role",
        ),
        (
            json!({"model": ["a"], "messages": [{"role": "user", "content": "x"}]}),
            "model",
        ),
    ];
    for (body, param) in cases {
        let error = expect_error(h.post("/v1/chat/completions", &body).await, 400).await;
        assert_eq!(error["param"], param, "{body}");
        assert!(
            error["message"].as_str().unwrap().contains(param),
            "{error}"
        );
    }
    let error = expect_error(
        h.post("/v1/embeddings", &json!({"model": "mock-openai/e"}))
            .await,
        400,
    )
    .await;
    assert_eq!(error["param"], "input");
    assert!(h.mock.requests().is_empty());
}

#[tokio::test]
async fn unknown_models_and_providers_get_404_explaining_addressing() {
    // two providers: a bare name neither declares, lists nor owns by family resolves to none
    let h = common::start_with(|mock| {
        common::config(
            mock,
            &format!(
                "[providers.other]\nkind = \"openai-compatible\"\nbase_url = \"{}\"\n",
                mock.base_url()
            ),
        )
    })
    .await;
    for model in ["no-such-model", "nobody/gpt-4o"] {
        let error = expect_error(h.post("/v1/chat/completions", &chat(model)).await, 404).await;
        let message = error["message"].as_str().unwrap();
        assert!(
            message.contains("provider/model") && message.contains("mock-openai"),
            "{message}"
        );
        assert_eq!(error["code"], "model_not_found");
    }
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json() {
    let h = start("").await;
    let error = expect_error(
        h.http
            .get(h.gateway.url("/v2/nothing"))
            .send()
            .await
            .unwrap(),
        404,
    )
    .await;
    assert!(error["message"].as_str().unwrap().contains("/v2/nothing"));
    expect_error(
        h.http
            .get(h.gateway.url("/v1/chat/completions"))
            .send()
            .await
            .unwrap(),
        405,
    )
    .await;
}

#[tokio::test]
async fn oversized_declared_body_is_refused_before_it_is_sent() {
    let mock = switchyard_testkit::MockUpstream::start().await.unwrap();
    let config = common::config(&mock, "").replace(
        "env_providers = false",
        "env_providers = false\nmax_body_bytes = 1024",
    );
    let gateway = switchyard_testkit::Switchyard::start(common::bin(), &config)
        .await
        .unwrap();
    // Declare 100 MB, send only the headers: the answer must come anyway.
    let mut socket = tokio::net::TcpStream::connect(gateway.addr())
        .await
        .unwrap();
    socket
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100000000\r\n\r\n{\"model\":")
        .await
        .unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut answer))
        .await
        .expect("413 must not wait for the body")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("request_too_large"), "{text}");

    // A chunked body is cut off once it crosses the limit.
    let http = reqwest::Client::new();
    let big = vec![b' '; 4096];
    let stream = futures_util::stream::iter(
        (0..1000).map(move |_| Ok::<_, std::io::Error>(bytes::Bytes::from(big.clone()))),
    );
    let response = http
        .post(gateway.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await;
    match response {
        Ok(response) => assert_eq!(response.status(), 413),
        // The server may close before the client finished sending; that is the point.
        Err(e) => assert!(e.is_request() || e.is_body(), "{e}"),
    }
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn upstream_4xx_is_relayed_with_the_upstream_message() {
    let h = start("").await;
    let error = expect_error(
        h.post("/v1/chat/completions", &chat("mock-openai/status-400"))
            .await,
        400,
    )
    .await;
    assert_eq!(
        error["message"],
        "Invalid value for 'temperature': must be between 0 and 2."
    );
    assert_eq!(error["code"], "invalid_value");
    let response = h
        .post("/v1/chat/completions", &chat("mock-openai/status-401"))
        .await;
    let error = expect_error(response, 401).await;
    assert_eq!(error["code"], "invalid_api_key");

    let response = h
        .post("/v1/chat/completions", &chat("mock-openai/status-429"))
        .await;
    assert_eq!(response.headers()["retry-after"], "7");
    assert_eq!(response.headers()["x-ratelimit-remaining-requests"], "0");
    let error = expect_error(response, 429).await;
    assert!(error["message"]
        .as_str()
        .unwrap()
        .starts_with("Rate limit reached"));
}

#[tokio::test]
async fn upstream_5xx_becomes_502() {
    let h = start("").await;
    let error = expect_error(
        h.post("/v1/chat/completions", &chat("mock-openai/status-503"))
            .await,
        502,
    )
    .await;
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("mock-openai")
            && message.contains("503")
            && message.contains("The server had an error"),
        "{message}"
    );
}

#[tokio::test]
async fn upstream_timeout_becomes_504() {
    let mock = switchyard_testkit::MockUpstream::start().await.unwrap();
    let config = common::config(&mock, "timeout_ms = 300\n");
    let gateway = switchyard_testkit::Switchyard::start(common::bin(), &config)
        .await
        .unwrap();
    let started = Instant::now();
    let response = reqwest::Client::new()
        .post(gateway.url("/v1/chat/completions"))
        .json(&chat("mock-openai/delay-5000"))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 504).await;
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(error["code"], "upstream_timeout");
    assert!(
        error["message"].as_str().unwrap().contains("300 ms"),
        "{error}"
    );
}

#[tokio::test]
async fn connection_refused_becomes_502_naming_the_provider() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!("[server]\nenv_providers = false\n[providers.down]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\napi_key = \"k\"\n");
    let gateway = switchyard_testkit::Switchyard::start(common::bin(), &config)
        .await
        .unwrap();
    let response = reqwest::Client::new()
        .post(gateway.url("/v1/chat/completions"))
        .json(&chat("down/gpt-4o"))
        .send()
        .await
        .unwrap();
    let error = expect_error(response, 502).await;
    assert_eq!(error["code"], "upstream_unreachable");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("provider `down`"),
        "{error}"
    );
}

#[tokio::test]
async fn a_broken_upstream_stream_ends_with_an_error_event() {
    let h = start("").await;
    let mut body = chat("mock-openai/broken-stream");
    body["stream"] = json!(true);
    let response = h.post("/v1/chat/completions", &body).await;
    assert_eq!(response.status(), 200);
    let text = tokio::time::timeout(Duration::from_secs(5), response.text())
        .await
        .unwrap()
        .unwrap();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 3, "{text}");
    let error: serde_json::Value =
        serde_json::from_str(events[2].strip_prefix("data: ").unwrap()).unwrap();
    assert_eq!(error["error"]["code"], "stream_broken");
    assert!(!text.contains("[DONE]"));
}

#[tokio::test]
async fn a_stalled_upstream_stream_times_out_with_an_error_event() {
    let mock = switchyard_testkit::MockUpstream::start().await.unwrap();
    let config = common::config(&mock, "idle_timeout_ms = 300\n");
    let gateway = switchyard_testkit::Switchyard::start(common::bin(), &config)
        .await
        .unwrap();
    let mut body = chat("mock-openai/stall-stream");
    body["stream"] = json!(true);
    let response = reqwest::Client::new()
        .post(gateway.url("/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let text = tokio::time::timeout(Duration::from_secs(5), response.text())
        .await
        .unwrap()
        .unwrap();
    assert!(text.contains("\"upstream_timeout\""), "{text}");
    // The gateway dropped the stalled upstream connection.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mock.cancelled(), 1);
}

#[tokio::test]
async fn a_body_with_too_many_top_level_fields_is_a_clear_400() {
    let h = start("").await;
    let mut body = serde_json::Map::new();
    body.insert("model".into(), json!("mock-openai/gpt-4o-mini"));
    body.insert(
        "messages".into(),
        json!([{"role": "user", "content": "hi"}]),
    );
    for i in 0..5000 {
        body.insert(format!("x{i}"), json!(i));
    }
    let error = expect_error(
        h.post("/v1/chat/completions", &serde_json::Value::Object(body))
            .await,
        400,
    )
    .await;
    assert_eq!(error["code"], "too_many_fields");
    assert!(
        error["message"].as_str().unwrap().contains("1024"),
        "{error}"
    );
    assert!(h.mock.requests().is_empty());
}
