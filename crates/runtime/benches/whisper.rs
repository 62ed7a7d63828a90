//! Whisper speech-to-text on one file, timed by stage: load, audio decode + resample, and the
//! transcription (encoder and greedy decoding), with the real-time factor (audio seconds per
//! second of work). The baseline for the performance pass issue 24 asks for.
//!
//! usage: cargo bench -p switchyard-runtime --bench whisper -- MODEL_DIR AUDIO_FILE [RUNS]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant;

use switchyard_runtime::audio;
use switchyard_runtime::whisper::WhisperModel;

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    let (Some(model_dir), Some(file)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: whisper MODEL_DIR AUDIO_FILE [RUNS]");
        return;
    };
    let runs: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(3);
    let started = Instant::now();
    let mut model = WhisperModel::load(std::path::Path::new(model_dir)).unwrap();
    println!("load: {:.0} ms", started.elapsed().as_secs_f64() * 1e3);
    let bytes = std::fs::read(file).unwrap();
    let hint = file.rsplit('.').next();
    let mut times = Vec::new();
    let mut decode_ms = Vec::new();
    let mut seconds = 0.0;
    let mut text = String::new();
    for _ in 0..runs {
        let t0 = Instant::now();
        let pcm = audio::decode(bytes.clone(), hint, 3600).unwrap();
        decode_ms.push(t0.elapsed().as_secs_f64() * 1e3);
        seconds = pcm.len() as f64 / f64::from(audio::RATE);
        let t1 = Instant::now();
        let t = model.transcript(&pcm, None).unwrap();
        times.push(t1.elapsed().as_secs_f64());
        text = format!("{} tokens: {}", t.tokens, t.text);
    }
    times.sort_by(f64::total_cmp);
    decode_ms.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    println!(
        "audio: {seconds:.1} s; decode+resample: {:.1} ms (median of {runs}); transcription: {:.2} s (median), {:.1}× real time",
        decode_ms[decode_ms.len() / 2],
        median,
        seconds / median
    );
    println!("{text}");
}
