//! Sentences per second of the embedding encoder alone (no HTTP), batch 32 — the compute part of
//! BENCHMARKS.md's embeddings figure.
//!
//! usage: cargo run --release -p switchyard-runtime --example embed_speed -- MODEL_DIR [ROUNDS]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).expect("usage: embed_speed MODEL_DIR [ROUNDS]"));
    let rounds: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let encoder = switchyard_runtime::embed::Encoder::load(&dir).unwrap();
    let sentences: Vec<String> = (0..32)
        .map(|i| format!("A sentence about topic number {i} and what it means for the reader."))
        .collect();
    let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
    encoder.embed(&texts, 32).unwrap();
    let mut rates: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            encoder.embed(&texts, 32).unwrap();
            32.0 / t.elapsed().as_secs_f64()
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    println!(
        "{{\"embed_sentences_s_batch32_no_http\": {:.1}}}",
        rates[rates.len() / 2]
    );
}
