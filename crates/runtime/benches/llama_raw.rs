//! llama.cpp alone, as `llama-bench` measures it (pp: one batch of prompt tokens; tg: one token
//! per decode), through the same vendored library and flags the runtime links. The vendored
//! source ships without llama.cpp's tools, so this is the baseline `scripts/bench-local.sh`
//! compares the HTTP path with.
//!
//! usage: cargo bench -p switchyard-runtime --bench llama_raw -- MODEL.gguf [THREADS] [PP] [TG] [SEQS]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::num::NonZeroU32;
use std::time::Instant;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: llama_raw MODEL.gguf [THREADS] [PP] [TG]");
        return;
    };
    let threads: i32 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(2);
    let pp: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(512);
    let tg: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(128);
    let seqs: usize = args.get(5).and_then(|a| a.parse().ok()).unwrap_or(8);
    let mut backend = LlamaBackend::init().unwrap();
    backend.void_logs();
    let model = LlamaModel::load_from_file(&backend, path, &LlamaModelParams::default()).unwrap();
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(((pp + tg + 16) * seqs) as u32))
        .with_n_seq_max(seqs as u32)
        .with_kv_unified(false)
        .with_n_batch(pp as u32)
        .with_n_ubatch(pp as u32)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    let mut ctx = model.new_context(&backend, params).unwrap();
    let token = LlamaToken(1000);
    let mut batch = LlamaBatch::new(pp.max(seqs), seqs as i32);
    let mut pp_rates = Vec::new();
    let mut tg_rates = Vec::new();
    let mut batched_rates = Vec::new();
    for round in 0..4 {
        ctx.clear_kv_cache();
        batch.clear();
        for i in 0..pp {
            batch.add(token, i as i32, &[0], i + 1 == pp).unwrap();
        }
        let t = Instant::now();
        ctx.decode(&mut batch).unwrap();
        let pp_s = t.elapsed().as_secs_f64();
        ctx.clear_kv_cache();
        let t = Instant::now();
        for i in 0..tg {
            batch.clear();
            batch.add(token, i as i32, &[0], true).unwrap();
            ctx.decode(&mut batch).unwrap();
        }
        let tg_s = t.elapsed().as_secs_f64();
        // `seqs` sequences decoding together, one token each per step
        ctx.clear_kv_cache();
        let t = Instant::now();
        for i in 0..tg {
            batch.clear();
            for s in 0..seqs {
                batch.add(token, i as i32, &[s as i32], true).unwrap();
            }
            ctx.decode(&mut batch).unwrap();
        }
        let batched_s = t.elapsed().as_secs_f64();
        if round > 0 {
            batched_rates.push((tg * seqs) as f64 / batched_s);
            // the first round warms caches, as llama-bench's warm-up run does
            pp_rates.push(pp as f64 / pp_s);
            tg_rates.push(tg as f64 / tg_s);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (tg_rate, batched) = (median(&mut tg_rates), median(&mut batched_rates));
    println!(
        "{{\"threads\": {threads}, \"pp{pp}_tok_s\": {:.1}, \"tg{tg}_tok_s\": {tg_rate:.1}, \"tg{tg}_x{seqs}_total_tok_s\": {batched:.1}, \"batching_ratio\": {:.2}}}",
        median(&mut pp_rates),
        batched / tg_rate
    );
}
