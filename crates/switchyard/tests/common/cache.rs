//! The cache tests' helpers: a request and what the cache headers said of it.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::Harness;

pub const CACHED: &str = "[cache]\nttl_seconds = 60\n";

pub struct Answer {
    pub status: u16,
    pub cache: Option<String>,
    /// `x-switchyard-cache`: what the cache did, finer than Cloudflare's HIT/MISS.
    pub detail: Option<String>,
    pub key: Option<String>,
    pub age: Option<String>,
    pub content_type: String,
    pub body: bytes::Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    pub fn cache(&self) -> &str {
        self.cache.as_deref().unwrap_or("none")
    }

    /// The `data:` payloads of an SSE body.
    pub fn events(&self) -> Vec<String> {
        let text = std::str::from_utf8(&self.body).unwrap();
        text.split("\n\n")
            .filter_map(|e| e.lines().find_map(|l| l.strip_prefix("data: ")))
            .map(str::to_owned)
            .collect()
    }
}

pub async fn send(url: &str, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
    let mut request = reqwest::Client::new()
        .post(format!("{url}{path}"))
        .json(body);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = request.send().await.unwrap();
    let h = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    Answer {
        status: response.status().as_u16(),
        cache: h("cf-aig-cache-status"),
        detail: h("x-switchyard-cache"),
        key: h("x-switchyard-cache-key"),
        age: h("age"),
        content_type: h("content-type").unwrap_or_default(),
        body: response.bytes().await.unwrap(),
    }
}

impl Harness {
    pub async fn ask(&self, body: &Value, headers: &[(&str, &str)]) -> Answer {
        send(
            self.gateway.base_url(),
            "/v1/chat/completions",
            body,
            headers,
        )
        .await
    }

    pub fn upstream_calls(&self) -> usize {
        self.mock.requests().len()
    }
}

pub fn chat_about(topic: &str) -> Value {
    json!({"model": "mock-openai/gpt-4o-mini", "messages": [{"role": "user", "content": topic}]})
}

pub fn streaming(mut body: Value, include_usage: bool) -> Value {
    body["stream"] = json!(true);
    if include_usage {
        body["stream_options"] = json!({"include_usage": true});
    }
    body
}

pub async fn stats(url: &str) -> Value {
    reqwest::get(format!("{url}/api/cache"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Waits until the gateway has written `n` entries (writes happen just after the response).
pub async fn stored(url: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while stats(url).await["stores"].as_u64() < Some(n) {
        assert!(Instant::now() < deadline, "{}", stats(url).await);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
