//! Hybrid routing's speed, on one core:
//! - `routing_decision_100_tokens`: `model = "auto"` decided for a ~100-token prompt — the rules
//!   plus the kNN complexity score over 7,717 labelled vectors (the routing dev set's size), the
//!   prompt embedded by MiniLM on one thread. Target ≤ 10 ms p50.
//! - `routing_decision_100_tokens_static`: the same with a classifier over static vectors
//!   (`router train`, the default `--vectors static`: IDF-weighted mean of MiniLM's token embeddings).
//! - `semantic_lookup_100k`: a semantic-cache search in one scope of 100,000 entries (384-d,
//!   clustered like sentence embeddings: 2,000 topics, each entry a topic plus its own noise).
//!   Target ≤ 2 ms p50. How often the true nearest entry is found is printed beside it.
//!
//! Run: `taskset -c 1 cargo bench -p switchyard-gateway --bench hybrid` (the MiniLM model comes
//! from `scripts/fetch-test-models.sh`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use switchyard_gateway::bench::knn::Classifier;
use switchyard_gateway::bench::Hybrid;
use switchyard_gateway::bench::{dot, Index, Vector};

const DIM: usize = 384;

struct Rng(u64);

impl Rng {
    fn unit(&mut self) -> Vec<f32> {
        let mut v: Vec<f32> = (0..DIM)
            .map(|_| {
                self.0 ^= self.0 << 13;
                self.0 ^= self.0 >> 7;
                self.0 ^= self.0 << 17;
                (self.0 % 20_000) as f32 / 10_000.0 - 1.0
            })
            .collect();
        let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.iter_mut().for_each(|a| *a /= n);
        v
    }
}

/// `v` nudged towards a random direction and renormalised (a "paraphrase").
fn near(v: &[f32], rng: &mut Rng) -> Vector {
    let w = rng.unit();
    let mut u: Vec<f32> = v.iter().zip(&w).map(|(a, b)| a * 0.7 + b * 0.3).collect();
    let n = u.iter().map(|a| a * a).sum::<f32>().sqrt();
    u.iter_mut().for_each(|a| *a /= n);
    u.into()
}

fn semantic(c: &mut Criterion) {
    const N: usize = 100_000;
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let index = Index::new(N * 2);
    let scope = [1u8; 32];
    let mut vectors = Vec::with_capacity(N);
    let topics: Vec<Vec<f32>> = (0..2000).map(|_| rng.unit()).collect();
    let started = std::time::Instant::now();
    for i in 0..N {
        let v = near(&topics[i % topics.len()], &mut rng).to_vec();
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&(i as u64).to_le_bytes());
        index.insert(scope, key, v.clone().into(), u64::MAX);
        vectors.push(v);
    }
    eprintln!(
        "semantic index: {N} entries built in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let queries: Vec<(usize, Vector)> = (0..200)
        .map(|q| {
            let i = (q * 499) % N;
            (i, near(&vectors[i], &mut rng))
        })
        .collect();
    let found = queries
        .iter()
        .filter(|(_, q)| {
            let best = (0..N)
                .max_by(|a, b| dot(&vectors[*a], q).total_cmp(&dot(&vectors[*b], q)))
                .unwrap();
            let got = index.search(&scope, q, 0.0, 0);
            got.first()
                .is_some_and(|n| n.key[..8] == (best as u64).to_le_bytes())
        })
        .count();
    eprintln!(
        "semantic index: the true nearest entry found first for {found} of {} queries",
        queries.len()
    );
    let mut next = 0;
    c.bench_function("semantic_lookup_100k", |b| {
        b.iter(|| {
            next = (next + 1) % queries.len();
            index.search(&scope, &queries[next].1, 0.9, 0)
        });
    });
}

fn routing(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    const EXAMPLES: usize = 7717;
    let mut classifier = Classifier {
        embedder: "minilm".into(),
        k: 50,
        vectors: (0..EXAMPLES).map(|_| rng.unit()).collect(),
        gain: (0..EXAMPLES).map(|i| (i % 3) as f32 / 2.0).collect(),
        static_idf: None,
    };
    let path = dir.path().join("clf.json");
    std::fs::write(&path, serde_json::to_vec(&classifier).unwrap()).unwrap();
    classifier.static_idf = Some(switchyard_gateway::bench::knn::Idf {
        docs: EXAMPLES as u32,
        df: (0..30_000u32).map(|t| (t, t % 500)).collect(),
    });
    let static_path = dir.path().join("static.json");
    std::fs::write(&static_path, serde_json::to_vec(&classifier).unwrap()).unwrap();
    let toml = format!(
        "[providers.p]\nkind = \"openai\"\napi_key = \"k\"\n[[models]]\nname = \"minilm\"\ntask = \"embeddings\"\nsource = \"{}\"\nthreads = 1\n[[models]]\nname = \"smol\"\ntask = \"text-generation\"\nsource = \"/unused.gguf\"\n[router]\nlocal = \"smol\"\nfrontier = [\"p/gpt\"]\nclassifier = \"{}\"\n",
        switchyard_testkit::models::minilm().display(),
        path.display()
    );
    let config = switchyard_config::load_str("bench.toml", &toml).unwrap();
    let models = Arc::new(switchyard_gateway::local::runtime(&config.runtime));
    let hybrid = Hybrid::new(config.router.clone().unwrap(), Arc::clone(&models)).unwrap();
    let mut static_router = config.router.clone().unwrap();
    static_router.classifier = Some(static_path);
    let statics = Hybrid::new(static_router, models).unwrap();
    // ~100 tokens
    let prompt =
        "Our quarterly report shows revenue grew in three regions while costs rose in two; \
        summarise the main drivers, say which region needs attention first, and suggest two \
        concrete actions the team could take next month to improve margins without cutting the \
        support staff, keeping the answer under five sentences and plain enough for a new hire.";
    let body =
        serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": prompt}]});
    // loads the model
    let first = runtime.block_on(hybrid.decide(&body, None)).unwrap();
    eprintln!("routing: {first:?}");
    c.bench_function("routing_decision_100_tokens", |b| {
        b.iter(|| runtime.block_on(hybrid.decide(&body, None)).unwrap());
    });
    eprintln!(
        "routing (static): {:?}",
        runtime.block_on(statics.decide(&body, None)).unwrap()
    );
    c.bench_function("routing_decision_100_tokens_static", |b| {
        b.iter(|| runtime.block_on(statics.decide(&body, None)).unwrap());
    });
}

criterion_group!(benches, routing, semantic);
criterion_main!(benches);
