//! [`WhisperEngine`]: one loaded Whisper model on its own thread, fed by the runtime's bounded
//! queue (429 when full, unloaded after its idle period, like every local model). A job's audio
//! is decoded and resampled on that thread, then transcribed; its events are the transcript and
//! the counts: input = seconds of audio (rounded up), output = text tokens.

use tokio::sync::mpsc;

use super::WhisperModel;
use crate::queue::{JobQueue, Jobs};
use crate::settings::ModelSettings;
use crate::task::{Backend, Counts, Event, EventStream, Finish, Task, Transcribe};
use crate::RuntimeError;

/// The longest audio one request may carry.
pub const MAX_SECONDS: u32 = 3 * 60 * 60;

struct Job {
    task: Transcribe,
    events: mpsc::UnboundedSender<Event>,
}

/// The handle to one loaded Whisper model.
pub struct WhisperEngine {
    queue: JobQueue<Job>,
}

impl WhisperEngine {
    /// Loads the model and starts its thread. Blocking.
    pub fn load(settings: &ModelSettings) -> Result<Self, RuntimeError> {
        let dir = &settings.path;
        let weights = dir.join("model.bin").is_file() || dir.join("model.safetensors").is_file();
        if !weights || !dir.join("tokenizer.json").is_file() {
            return Err(settings.missing(
                "Whisper folder (config.json, tokenizer.json, and model.safetensors or CTranslate2's model.bin)",
            ));
        }
        let model = WhisperModel::load(dir)?;
        let (queue, jobs) = crate::queue::bounded(settings.queue, settings.idle_unload);
        let name = settings.name.clone();
        std::thread::Builder::new()
            .name(format!("whisper-{name}"))
            .spawn(move || {
                run(model, &jobs);
                tracing::info!(model = %name, "local model unloaded after its idle period");
            })
            .map_err(|e| RuntimeError::load(format!("cannot start the model thread: {e}")))?;
        Ok(WhisperEngine { queue })
    }
}

impl Backend for WhisperEngine {
    fn schedule(&self, task: Task) -> Result<EventStream, RuntimeError> {
        let Task::Transcribe(task) = task else {
            return Err(RuntimeError::invalid(
                "model",
                "this model transcribes speech; it takes audio",
            ));
        };
        if task.audio.is_empty() {
            return Err(RuntimeError::invalid("audio", "the audio is empty"));
        }
        let (events, stream) = mpsc::unbounded_channel();
        self.queue.send(Job { task, events })?;
        Ok(stream)
    }

    fn context_length(&self) -> u32 {
        0
    }

    fn is_alive(&self) -> bool {
        self.queue.is_alive()
    }

    fn running(&self) -> usize {
        0
    }
}

fn run(mut model: WhisperModel, jobs: &Jobs<Job>) {
    while let Some(job) = jobs.wait() {
        if job.events.is_closed() {
            continue; // the caller went away while it waited
        }
        let Transcribe {
            audio,
            format,
            language,
            translate,
            prompt,
            words,
        } = job.task;
        let heard = crate::audio::decode(audio, format.as_deref(), MAX_SECONDS).and_then(|pcm| {
            let seconds = pcm.len().div_ceil(crate::audio::RATE as usize) as u64;
            model
                .transcript_with(
                    &pcm,
                    &super::Options {
                        language: language.as_deref(),
                        translate,
                        prompt: prompt.as_deref(),
                        words,
                    },
                )
                .map(|t| (t, seconds))
        });
        match heard {
            Ok((transcript, seconds)) => {
                let _ = job.events.send(Event::Language(transcript.language));
                let _ = job.events.send(Event::Segments(transcript.segments));
                let _ = job.events.send(Event::Text(transcript.text));
                let _ = job.events.send(Event::Done {
                    finish: Finish::Stop,
                    counts: Counts {
                        input: seconds,
                        output: transcript.tokens as u64,
                    },
                });
            }
            Err(e) => {
                let _ = job.events.send(Event::Failed(e));
            }
        }
    }
}
