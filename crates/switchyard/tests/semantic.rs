#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The semantic cache with the real MiniLM embedding model in front of a mock OpenAI provider:
//! paraphrases are answered from the cache (with their similarity), unrelated prompts, other
//! parameters and requests with tools are not; the index survives a restart (SQLite) and is
//! shared by replicas (Redis).

mod common;

use std::time::Duration;

use serde_json::{json, Value};
use switchyard_testkit::{MockUpstream, RedisServer, Switchyard};

fn config(mock: &MockUpstream, cache: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"
env_providers = false
[providers.mock-openai]
kind = "openai"
base_url = "{}"
api_key = "sk-test"
[[models]]
name = "minilm"
task = "embeddings"
source = "{}"
[[models]]
name = "support"
target = "mock-openai/gpt-4o-mini"
semantic_cache = {{ embedder = "minilm", threshold = 0.8 }}
[[models]]
name = "plain"
target = "mock-openai/gpt-4o-mini"
{cache}
"#,
        mock.base_url(),
        switchyard_testkit::models::minilm().display(),
    )
}

fn ask(model: &str, content: &str) -> Value {
    json!({"model": model, "messages": [
        {"role": "system", "content": "Answer in one word."},
        {"role": "user", "content": content}], "temperature": 0})
}

async fn post(gw: &Switchyard, body: &Value) -> (u16, reqwest::header::HeaderMap, String) {
    common::post_text(&gw.url(""), "/v1/chat/completions", body).await
}

async fn cache_stats(gw: &Switchyard) -> Value {
    reqwest::get(gw.url("/api/cache"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn header(h: &reqwest::header::HeaderMap, name: &str) -> String {
    h.get(name)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Waits until the gateway's semantic index holds `n` entries (answers are embedded and stored
/// off the request path: on a loaded 2-core CI machine, running three gateways' embedders at
/// once, that took over 10 s).
async fn indexed(gw: &Switchyard, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let stats = cache_stats(gw).await;
        if stats["semantic_entries"] == json!(n) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the semantic index never reached {n} entries: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paraphrases_hit_and_unrelated_prompts_miss() {
    let mock = MockUpstream::start().await.unwrap();
    let gw = Switchyard::start(common::bin(), &config(&mock, ""))
        .await
        .unwrap();
    let (status, h, first) = post(&gw, &ask("support", "What is the capital of France?")).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(header(&h, "cf-aig-cache-status"), "MISS");
    indexed(&gw, 1).await;

    let (status, h, again) = post(&gw, &ask("support", "What's the capital city of France?")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(header(&h, "cf-aig-cache-status"), "HIT", "{h:?}");
    let similarity: f32 = header(&h, "cf-aig-cache-similarity").parse().unwrap();
    assert!((0.8..1.0).contains(&similarity), "{similarity}");
    assert_eq!(again, first, "the stored answer, as it was");
    assert_eq!(mock.requests().len(), 1);
    // the log row says it was cached, and how similar the prompt was
    let rows = common::logging::rows(&gw.url(""), 2).await;
    let hit = rows.iter().find(|r| r["cached"] == json!(true)).unwrap();
    let meta: Value = serde_json::from_str(hit["metadata"].as_str().unwrap()).unwrap();
    let logged = meta["cache_similarity"].as_f64().unwrap();
    assert!((logged - f64::from(similarity)).abs() < 1e-3, "{meta}");

    // the same paraphrase as a stream: replayed as SSE
    let mut streamed = ask("support", "Which city is the capital of France?");
    streamed["stream"] = json!(true);
    let (_, h, body) = post(&gw, &streamed).await;
    assert_eq!(header(&h, "cf-aig-cache-status"), "HIT", "{h:?}");
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    assert_eq!(mock.requests().len(), 1);

    // unrelated, other parameters, tools offered, another alias: each goes upstream
    let mut hotter = ask("support", "What's the capital city of France?");
    hotter["temperature"] = json!(1);
    let mut tools = ask("support", "What's the capital city of France?");
    tools["tools"] = json!([{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]);
    let cases = [
        (
            "unrelated",
            ask("support", "How do I bake sourdough bread at home?"),
        ),
        ("other temperature", hotter),
        ("tools offered", tools),
        (
            "no semantic cache",
            ask("plain", "What's the capital city of France?"),
        ),
    ];
    for (n, (what, body)) in cases.into_iter().enumerate() {
        let (status, h, text) = post(&gw, &body).await;
        assert_eq!(status, 200, "{what}: {text}");
        assert_ne!(header(&h, "cf-aig-cache-status"), "HIT", "{what}");
        assert_eq!(mock.requests().len(), 2 + n, "{what}");
    }
    let stats = cache_stats(&gw).await;
    assert_eq!(stats["semantic_hits"], json!(2), "{stats}");
    let metrics = reqwest::get(gw.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("status=\"semantic_hit\"} 2"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_survives_a_restart_with_sqlite() {
    let mock = MockUpstream::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache = format!(
        "[cache]\nbackend = \"sqlite\"\npath = \"{}\"\n",
        dir.path().join("cache.db").display()
    );
    let gw = Switchyard::start(common::bin(), &config(&mock, &cache))
        .await
        .unwrap();
    let (_, h, first) = post(&gw, &ask("support", "What is the capital of France?")).await;
    assert_eq!(header(&h, "cf-aig-cache-status"), "MISS");
    indexed(&gw, 1).await;
    drop(gw);

    let gw = Switchyard::start(common::bin(), &config(&mock, &cache))
        .await
        .unwrap();
    indexed(&gw, 1).await; // read back from the cache file at start-up
    let (_, h, again) = post(&gw, &ask("support", "What's the capital city of France?")).await;
    assert_eq!(header(&h, "cf-aig-cache-status"), "HIT", "{h:?}");
    assert_eq!(again, first);
    assert_eq!(mock.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_redis_share_the_index() {
    let redis = RedisServer::start().unwrap();
    let mock = MockUpstream::start().await.unwrap();
    let cache = format!(
        "[cache]\nbackend = \"redis\"\nurl = \"{}\"\nprefix = \"sem:\"\n",
        redis.url()
    );
    let a = Switchyard::start(common::bin(), &config(&mock, &cache))
        .await
        .unwrap();
    let b = Switchyard::start(common::bin(), &config(&mock, &cache))
        .await
        .unwrap();
    // b has looked (and found nothing) before a stores its answer
    let (_, h, _) = post(&b, &ask("support", "How tall is Mount Everest?")).await;
    assert_eq!(header(&h, "cf-aig-cache-status"), "MISS");
    indexed(&b, 1).await;
    let (_, h, first) = post(&a, &ask("support", "What is the capital of France?")).await;
    assert_eq!(header(&h, "cf-aig-cache-status"), "MISS");
    // each replica reads the other's answer from the log within a second or so
    indexed(&a, 2).await;
    indexed(&b, 2).await;
    let (_, h, again) = post(&b, &ask("support", "What's the capital city of France?")).await;
    assert_eq!(header(&h, "cf-aig-cache-status"), "HIT", "{h:?}");
    assert_eq!(again, first);
    assert_eq!(mock.requests().len(), 2);
}
