//! The per-request CPU work of the same-dialect fast path: parse + validate → route → rewrite →
//! build the upstream request. Run: `cargo bench -p switchyard-gateway --bench hot_path`.
//!
//! `serde_value_roundtrip` is the naive alternative (deserialize into a `serde_json::Value`, set the
//! model, serialize again) for comparison.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use switchyard_gateway::{ClientApi, Gateway};
use switchyard_providers::Endpoint;

/// The load harness's fixed request (`../shared/bench/bench.sh`), streamed variant.
const BODY: &str = r#"{"model":"mock/gpt-4o-mini","messages":[{"role":"system","content":"You are a concise assistant. Answer in one short sentence."},{"role":"user","content":"What is the capital of France?"},{"role":"assistant","content":"The capital of France is Paris."},{"role":"user","content":"Say goodbye politely."}],"max_tokens":16,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}"#;

fn gateway() -> Gateway {
    let config = switchyard_config::load_str_with_env(
        "bench",
        "[server]\nenv_providers = false\n[providers.mock]\nkind = \"openai\"\nbase_url = \"http://127.0.0.1:18080/v1\"\napi_key = \"sk-bench\"\n",
        &HashMap::new(),
    )
    .unwrap();
    let cache = futures_util::FutureExt::now_or_never(switchyard_gateway::ResponseCache::open(
        &config.cache,
    ))
    .unwrap()
    .unwrap();
    Gateway::new(&config, cache).unwrap()
}

fn hot_path(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let gateway = gateway();
    let body = Bytes::from_static(BODY.as_bytes());

    c.bench_function("prepare (parse+validate, route, rewrite)", |b| {
        b.iter(|| {
            gateway
                .prepare(ClientApi::ChatCompletions, black_box(&body))
                .unwrap()
        })
    });

    c.bench_function("prepare + build upstream request", |b| {
        b.iter(|| {
            let call = gateway
                .prepare(ClientApi::ChatCompletions, black_box(&body))
                .unwrap();
            call.provider()
                .build(
                    Endpoint::ChatCompletions,
                    "gpt-4o-mini",
                    true,
                    call.body().clone(),
                )
                .unwrap()
        })
    });

    c.bench_function("serde_value_roundtrip (naive baseline)", |b| {
        b.iter(|| {
            let mut v: serde_json::Value = serde_json::from_slice(black_box(&body)).unwrap();
            v["model"] = serde_json::Value::String("gpt-4o-mini".to_owned());
            Bytes::from(serde_json::to_vec(&v).unwrap())
        })
    });
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
