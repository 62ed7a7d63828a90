//! Stable Diffusion text-to-image, timed: seconds per image at a given size and step count,
//! medians over runs, the model loaded once. `write DIR` first writes SD 1.5's architecture
//! with random weights (no trained checkpoint is packaged; a step costs the same), which
//! stable-diffusion.cpp and diffusers load from the same folder.
//!
//! usage: cargo bench -p switchyard-runtime --bench image -- write DIR [tiny]
//!        cargo bench -p switchyard-runtime --bench image -- DIR STEPS [RUNS] [GUIDANCE] [SIZE]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::Instant;

use switchyard_runtime::image::tiny::{write_random_model, Sizes};
use switchyard_runtime::image::{Pipeline, Settings};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().filter(|a| a != "--bench").collect();
    if args.get(1).map(String::as_str) == Some("write") {
        let Some(dir) = args.get(2) else {
            eprintln!("usage: image write DIR [tiny]");
            return;
        };
        let sizes = if args.get(3).map(String::as_str) == Some("tiny") {
            Sizes::Tiny
        } else {
            Sizes::Sd15
        };
        write_random_model(Path::new(dir), sizes).unwrap();
        println!("wrote a {sizes:?} random model to {dir}");
        return;
    }
    let (Some(dir), Some(steps)) = (args.get(1), args.get(2).and_then(|a| a.parse().ok())) else {
        eprintln!("usage: image DIR STEPS [RUNS] [GUIDANCE] [SIZE]");
        return;
    };
    let runs: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(3);
    let guidance: f64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(0.0);
    let started = Instant::now();
    let pipeline = Pipeline::load(Path::new(dir)).unwrap();
    println!("load: {:.0} ms", started.elapsed().as_secs_f64() * 1e3);
    let size: usize = args
        .get(5)
        .and_then(|a| a.parse().ok())
        .unwrap_or(pipeline.defaults().size);
    let settings = Settings {
        width: size,
        height: size,
        steps,
        guidance,
        seed: 42,
    };
    let mut times = Vec::new();
    for run in 0..runs {
        let t = Instant::now();
        let rgb = pipeline
            .generate("a lighthouse at dusk", "", &settings)
            .unwrap();
        assert_eq!(rgb.len(), size * size * 3);
        let s = t.elapsed().as_secs_f64();
        println!("run {run}: {s:.2} s");
        times.push(s);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{size}×{size}, {steps} steps, guidance {guidance}: {:.2} s per image (median of {runs})",
        times[times.len() / 2]
    );
}
