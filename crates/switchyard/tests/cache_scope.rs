//! Whose cache entries are whose: private to each gateway key and model unless shared.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::cache::*;
use common::{config, start_with};
use serde_json::{json, Value};

/// A config with gateway keys (kept in SQLite under `dir`) and the cache on.
fn keyed(mock: &switchyard_testkit::MockUpstream, dir: &std::path::Path, extra: &str) -> String {
    config(
        mock,
        &format!(
            "[auth]\nurl = \"sqlite://{}\"\n{CACHED}{extra}",
            dir.join("keys.db").display()
        ),
    )
}

async fn make_key(url: &str, body: Value) -> String {
    common::new_key(url, body).await.1
}

#[tokio::test]
async fn entries_are_private_to_each_key_and_model_unless_shared() {
    let dir = tempfile::tempdir().unwrap();
    let h = start_with(|mock| keyed(mock, dir.path(), "")).await;
    let url = h.gateway.base_url().to_owned();
    let a = make_key(
        &url,
        json!({"name": "a", "models": ["mock-openai/gpt-4o-mini"]}),
    )
    .await;
    let b = make_key(&url, json!({"name": "b"})).await;
    let as_a = |extra: &'static [(&'static str, &'static str)]| {
        let mut v = vec![("authorization", a.as_str())];
        v.extend_from_slice(extra);
        v
    };
    let as_b = |extra: &'static [(&'static str, &'static str)]| {
        let mut v = vec![("authorization", b.as_str())];
        v.extend_from_slice(extra);
        v
    };
    const FAQ: &[(&str, &str)] = &[("cf-aig-cache-key", "faq")];
    let other =
        json!({"model": "mock-openai/gpt-4o", "messages": [{"role": "user", "content": "x"}]});

    // b plants an answer under a custom key for another model: a's model does not see it
    assert_eq!(h.ask(&other, &as_b(FAQ)).await.cache(), "MISS");
    stored(&url, 1).await;
    assert_eq!(h.ask(&chat_about("q"), &as_a(FAQ)).await.cache(), "MISS");
    // nor does b's own entry answer b for a's model
    stored(&url, 2).await;
    assert_eq!(h.ask(&chat_about("q"), &as_b(FAQ)).await.cache(), "MISS");
    stored(&url, 3).await;
    // each key reads its own entries back
    assert_eq!(h.ask(&chat_about("q"), &as_a(FAQ)).await.cache(), "HIT");
    assert_eq!(h.ask(&other, &as_b(FAQ)).await.cache(), "HIT");

    // computed keys too: the same request from another key is that key's own miss
    assert_eq!(h.ask(&chat_about("same"), &as_a(&[])).await.cache(), "MISS");
    stored(&url, 4).await;
    assert_eq!(h.ask(&chat_about("same"), &as_b(&[])).await.cache(), "MISS");
    stored(&url, 5).await;
    assert_eq!(h.ask(&chat_about("same"), &as_a(&[])).await.cache(), "HIT");

    // purging a custom key purges it for every key and model
    let purged: Value = reqwest::Client::new()
        .delete(format!("{url}/api/cache?key=faq"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(purged, json!({"purged": 3}));
    assert_eq!(h.ask(&chat_about("q"), &as_a(FAQ)).await.cache(), "MISS");

    // `[cache] shared = true`: one cache for every key (still one per model)
    drop(h);
    let dir = tempfile::tempdir().unwrap();
    let h = start_with(|mock| keyed(mock, dir.path(), "shared = true\n")).await;
    let url = h.gateway.base_url().to_owned();
    let a = make_key(&url, json!({"name": "a"})).await;
    let b = make_key(&url, json!({"name": "b"})).await;
    let with = |key: &str| {
        vec![
            ("authorization", key.to_owned()),
            ("cf-aig-cache-key", "faq".to_owned()),
        ]
    };
    let send_as = |key: String| {
        let h = &h;
        async move {
            let headers = with(&key);
            let headers: Vec<(&str, &str)> =
                headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            h.ask(&chat_about("q"), &headers).await.cache().to_owned()
        }
    };
    assert_eq!(send_as(a.clone()).await, "MISS");
    stored(&url, 1).await;
    assert_eq!(send_as(b.clone()).await, "HIT");
    assert_eq!(
        h.ask(
            &other,
            &[("authorization", b.as_str()), ("cf-aig-cache-key", "faq")]
        )
        .await
        .cache(),
        "MISS"
    );
}
