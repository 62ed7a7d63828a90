//! `switchyard run` for the models that are not chat: `switchyard run whisper ./talk.wav`
//! prints the transcript, `switchyard run sd "a lighthouse at dusk" -o out.png` writes the image.

use std::io::Write;

use anyhow::{bail, Context};
use switchyard_runtime::task::{TextToImage, Transcribe};
use switchyard_runtime::{Event, ModelSettings, Runtime, Task};

use crate::models_cli::RunArgs;

pub async fn transcribe(settings: ModelSettings, args: &RunArgs) -> anyhow::Result<()> {
    let audio = std::fs::read(&args.prompt)
        .with_context(|| format!("cannot read the audio file {}", args.prompt))?;
    let name = settings.name.clone();
    let runtime = Runtime::new(vec![settings]);
    let format = std::path::Path::new(&args.prompt)
        .extension()
        .map(|e| e.to_string_lossy().into_owned());
    let task = Task::Transcribe(Transcribe {
        audio,
        format,
        language: None,
        translate: false,
        prompt: None,
        words: false,
    });
    let mut events = runtime.schedule(&name, task).await?;
    let mut out = std::io::stdout().lock();
    while let Some(e) = events.recv().await {
        match e {
            Event::Text(t) => writeln!(out, "{}", t.trim())?,
            Event::Language(l) => eprintln!("[language: {l}]"),
            Event::Done { counts, .. } => {
                eprintln!("[{} s of audio]", counts.input);
                return Ok(());
            }
            Event::Failed(e) => bail!(e),
            _ => {}
        }
    }
    bail!("the model stopped before finishing")
}

pub async fn imagine(settings: ModelSettings, args: &RunArgs) -> anyhow::Result<()> {
    let name = settings.name.clone();
    let runtime = Runtime::new(vec![settings]);
    let task = Task::Imagine(TextToImage {
        prompt: args.prompt.clone(),
        negative_prompt: String::new(),
        width: None,
        height: None,
        steps: args.steps,
        guidance: None,
        seed: args.seed,
        n: 1,
    });
    let started = std::time::Instant::now();
    let mut events = runtime.schedule(&name, task).await?;
    while let Some(e) = events.recv().await {
        match e {
            Event::Image { png, seed } => {
                std::fs::write(&args.output, png)
                    .with_context(|| format!("cannot write {}", args.output.display()))?;
                eprintln!(
                    "[{} written in {:.1} s, seed {seed}]",
                    args.output.display(),
                    started.elapsed().as_secs_f64()
                );
            }
            Event::Done { .. } => return Ok(()),
            Event::Failed(e) => bail!(e),
            _ => {}
        }
    }
    bail!("the model stopped before finishing")
}
