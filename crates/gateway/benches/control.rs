//! What the control steps add to a request: checking a gateway key (cached), a per-key rate
//! limit and a per-key budget on in-memory counters. Target: ≤ 20 µs median together.
//! Run: `cargo bench -p switchyard-gateway --bench control`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use switchyard_config::limits::parse_rate;
use switchyard_config::LimitsConfig;
use switchyard_gateway::control::{Admission, Keys, Limiter, NewKey};
use switchyard_store::counters::Counters;

fn control(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("keys.db").display());
    let keys = runtime.block_on(Keys::open(&url)).unwrap();
    let (key, _) = runtime
        .block_on(keys.create(&NewKey {
            name: "bench".into(),
            rate_limit: Some("100000000/min".into()),
            budget: Some("1000000/month".into()),
            ..NewKey::default()
        }))
        .unwrap();
    let mut config = LimitsConfig::default();
    let mut gateway_limit = parse_rate("100000000/min").unwrap();
    gateway_limit.scope = switchyard_config::limits::Scope::Gateway;
    config.rate_limits.push(gateway_limit);
    let limiter = Limiter::new(&config, Counters::memory(), &[]);
    // warm the key cache, as under load
    runtime.block_on(keys.authenticate(&key)).unwrap();

    let mut group = c.benchmark_group("control");
    group.bench_function("authenticate_cached", |b| {
        b.iter(|| runtime.block_on(keys.authenticate(&key)).unwrap());
    });
    group.bench_function("auth_limits_budget", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let api_key = keys.authenticate(&key).await.unwrap();
                let ticket = limiter
                    .admit(&Admission {
                        key: Some(&api_key),
                        metadata: None,
                        requested: "mock/gpt-4o-mini",
                        provider: "mock",
                        provider_kind: "openai",
                        model: "gpt-4o-mini",
                        body: br#"{"model":"gpt-4o-mini","max_tokens":16}"#,
                        metered: true,
                        holds: &[],
                    })
                    .await
                    .unwrap();
                std::hint::black_box(ticket)
            })
        });
    });
    group.finish();
}

criterion_group!(benches, control);
criterion_main!(benches);
