//! What the log writer sustains on its own: finalize (usage parsed from the answer, cost priced)
//! and append to SQLite (WAL, row blocks), in batches of 500, bodies included — as records
//! (`finalize_and_insert`) and packed as the gateway packs them (`finalize_pack_and_append`).
//! Run: `cargo bench -p switchyard-gateway --bench log_writer`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use switchyard_gateway::bench::finalize;
use switchyard_gateway::bench::PriceTable;
use switchyard_gateway::observe::{Bodies, CallNote, Observation, ServedNote};
use switchyard_gateway::CacheStatus;
use switchyard_gateway::{ClientApi, RequestContext};
use switchyard_store::logs::{LogStore, PackedRows};

const REQUEST: &str = r#"{"model":"mock/gpt-4o-mini","messages":[{"role":"system","content":"You are a concise assistant. Answer in one short sentence."},{"role":"user","content":"What is the capital of France?"},{"role":"assistant","content":"The capital of France is Paris."},{"role":"user","content":"Say goodbye politely."}],"max_tokens":16,"temperature":0}"#;
const ANSWER: &str = r#"{"id":"chatcmpl-bench","object":"chat.completion","created":1730000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Goodbye, and have a wonderful day!"},"finish_reason":"stop"}],"usage":{"prompt_tokens":52,"completion_tokens":9,"total_tokens":61}}"#;
const BATCH: usize = 500;
const CAP: usize = 64 * 1024;
/// Bodies as the record's strings (the PostgreSQL path), or apart to be packed (SQLite).
const TEXT: (Bodies, usize) = (Bodies::Text, CAP);
const APART: (Bodies, usize) = (Bodies::Apart, CAP);

fn observation(i: usize) -> Observation {
    Observation {
        id: RequestContext::new().id.hyphenated().to_string(),
        received_ms: 1_790_000_000_000 + i as i64,
        method: "POST".into(),
        path: "/v1/chat/completions".into(),
        route: "/v1/chat/completions",
        user_agent: Some("bench/1.0".into()),
        status: 200,
        call: Some(CallNote {
            api: Some(ClientApi::ChatCompletions),
            request_body: Some(Bytes::from_static(REQUEST.as_bytes())),
            metadata: Some(r#"{"team":"bench"}"#.into()),
            collect_payload: true,
            custom_cost: None,
        }),
        served: Some(ServedNote {
            requested_model: Some("mock/gpt-4o-mini".into()),
            upstream_latency: Duration::from_micros(800),
            cache: None::<CacheStatus>,
            ..ServedNote::new("mock".into(), "gpt-4o-mini".into(), "openai")
        }),
        head: Duration::from_micros(900),
        first_byte: Some(Duration::from_micros(950)),
        total: Duration::from_micros(1000),
        response_head: vec![Bytes::from_static(ANSWER.as_bytes())],
        response_bytes: ANSWER.len() as u64,
        ..Observation::default()
    }
}

fn writer(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = runtime.block_on(LogStore::open(&url)).unwrap();
    let prices = PriceTable::new(&[]);
    let mut next = 0usize;
    let mut group = c.benchmark_group("log_writer");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.sample_size(20);
    group.bench_function("finalize_and_insert_500_sqlite", |b| {
        b.iter(|| {
            let rows: Vec<_> = (0..BATCH)
                .map(|_| {
                    next += 1;
                    finalize(observation(next), &prices, TEXT).record
                })
                .collect();
            runtime
                .block_on(store.append_new(rows))
                .map_err(|(e, _)| e)
                .unwrap();
        });
    });
    // what the gateway does with SQLite: each record packed as it is made, the batch appended
    let mut spare = PackedRows::default();
    group.bench_function("finalize_pack_and_append_500_sqlite", |b| {
        b.iter(|| {
            let mut packed = std::mem::take(&mut spare);
            for _ in 0..BATCH {
                next += 1;
                finalize(observation(next), &prices, APART).pack_into(&mut packed, CAP);
            }
            spare = runtime
                .block_on(store.append_packed(packed))
                .map_err(|(e, _)| e)
                .unwrap();
        });
    });
    group.bench_function("finalize_500", |b| {
        b.iter(|| {
            let rows: Vec<_> = (0..BATCH)
                .map(|i| finalize(observation(i), &prices, TEXT).record)
                .collect();
            std::hint::black_box(rows);
        });
    });
    let rows: Vec<_> = (0..BATCH)
        .map(|i| finalize(observation(i), &prices, TEXT).record)
        .collect();
    group.bench_function("insert_500_sqlite", |b| {
        b.iter(|| {
            let batch: Vec<_> = rows
                .iter()
                .map(|r| {
                    next += 1;
                    let mut r = r.clone();
                    r.id = RequestContext::new().id.hyphenated().to_string();
                    r
                })
                .collect();
            runtime
                .block_on(store.append_new(batch))
                .map_err(|(e, _)| e)
                .unwrap();
        });
    });
    group.finish();
}

criterion_group!(benches, writer);
criterion_main!(benches);
