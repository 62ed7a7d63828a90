//! Connection-level limits: a body that trickles in is cut off (`body_timeout_ms`), and past
//! `max_connections` / `max_in_flight` the gateway answers 503 with `Retry-After` at once instead
//! of queueing without bound — each refusal counted in /metrics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{chat, config, start_with};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The gateway with `server_extra` added to its `[server]` table.
async fn start(server_extra: &'static str) -> common::Harness {
    start_with(move |mock| {
        config(mock, "").replace(
            "env_providers = false\n",
            &format!("env_providers = false\n{server_extra}"),
        )
    })
    .await
}

async fn read_answer(socket: &mut tokio::net::TcpStream) -> String {
    let mut answer = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut answer))
        .await
        .expect("an answer, not a hang")
        .unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

async fn metric(h: &common::Harness, name: &str) -> f64 {
    let text = reqwest::get(h.gateway.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

#[tokio::test]
async fn a_trickling_body_is_cut_off() {
    let h = start("body_timeout_ms = 300\n").await;
    let mut socket = tokio::net::TcpStream::connect(h.gateway.addr())
        .await
        .unwrap();
    socket
        .write_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"model\":")
        .await
        .unwrap();
    let answer = read_answer(&mut socket).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert!(h.mock.requests().is_empty());
}

#[tokio::test]
async fn past_max_in_flight_requests_get_503_with_retry_after() {
    let h = start("max_in_flight = 2\n").await;
    let slow = chat("mock-openai/delay-1500");
    let (a, b) = (
        h.post("/v1/chat/completions", &slow),
        h.post("/v1/chat/completions", &slow),
    );
    let third = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        h.post("/v1/chat/completions", &chat("mock-openai/gpt-4o-mini"))
            .await
    };
    let (a, b, third) = tokio::join!(a, b, third);
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_eq!(third.status(), 503);
    assert!(third.headers().contains_key("retry-after"));
    let error: serde_json::Value = third.json().await.unwrap();
    assert_eq!(error["error"]["code"], "overloaded", "{error}");
    // capacity back: served again
    let again = h
        .post("/v1/chat/completions", &chat("mock-openai/gpt-4o-mini"))
        .await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        metric(&h, "switchyard_refused_total{reason=\"in_flight\"}").await,
        1.0
    );
}

#[tokio::test]
async fn past_max_connections_new_connections_get_503() {
    let h = start("max_connections = 3\n").await;
    // three idle keep-alive connections take every slot
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(
            tokio::net::TcpStream::connect(h.gateway.addr())
                .await
                .unwrap(),
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = tokio::net::TcpStream::connect(h.gateway.addr())
        .await
        .unwrap();
    fourth
        .write_all(b"GET /v1/models HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let answer = read_answer(&mut fourth).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after"),
        "{answer}"
    );
    drop(idle);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = h
        .http
        .get(h.gateway.url("/v1/models"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(metric(&h, "switchyard_refused_total{reason=\"connections\"}").await >= 1.0);
}
