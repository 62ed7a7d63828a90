//! Sentence embeddings on candle: BERT-family encoders (MiniLM, BGE, E5, GTE) from a folder with
//! `model.safetensors`, `config.json`, `tokenizer.json` and the sentence-transformers pooling
//! config; vectors pooled (mean or CLS) and L2-normalised. One thread per model batches queued
//! requests together.

mod bert;
pub(crate) mod cpu_bert;
mod static_vectors;

use tokio::sync::mpsc;

use crate::queue::{JobQueue, Jobs};
use crate::settings::ModelSettings;
use crate::task::{Backend, Counts, Event, EventStream, Finish, Task};
use crate::RuntimeError;

pub(crate) use bert::encode_padded;
pub use bert::{Encoder, Pooling};
pub use static_vectors::StaticEmbedder;

struct Job {
    inputs: Vec<String>,
    events: mpsc::UnboundedSender<Event>,
}

/// The handle to one loaded embedding model.
pub struct EmbedEngine {
    queue: JobQueue<Job>,
    max_tokens: u32,
    tokenizer: tokenizers::Tokenizer,
}

impl EmbedEngine {
    /// Loads the model and starts its thread. Blocking.
    pub fn load(settings: &ModelSettings) -> Result<Self, RuntimeError> {
        if !settings.path.join("config.json").is_file() {
            return Err(
                settings.missing("model folder (config.json, model.safetensors, tokenizer.json)")
            );
        }
        let encoder = Encoder::load(&settings.path)?;
        let max_tokens = encoder.max_tokens();
        let tokenizer = encoder.tokenizer().clone();
        let (queue, jobs) = crate::queue::bounded(settings.queue, settings.idle_unload);
        let batch = settings.max_batch.max(1) as usize;
        let name = settings.name.clone();
        // `threads` caps the model's matmul and kernel threads (0: one per core, rayon's default)
        let pool = match settings.threads {
            0 => None,
            n => Some(
                rayon::ThreadPoolBuilder::new()
                    .num_threads(n as usize)
                    .thread_name(move |i| format!("embed-{i}"))
                    .build()
                    .map_err(|e| {
                        RuntimeError::load(format!("cannot start the model's threads: {e}"))
                    })?,
            ),
        };
        std::thread::Builder::new()
            .name(format!("embed-{name}"))
            .spawn(move || {
                run(&encoder, pool.as_ref(), &jobs, batch);
                tracing::info!(model = %name, "local model unloaded after its idle period");
            })
            .map_err(|e| RuntimeError::load(format!("cannot start the model thread: {e}")))?;
        Ok(EmbedEngine {
            queue,
            max_tokens,
            tokenizer,
        })
    }

    /// Input tokens per text (for the 400 on too-long inputs, and usage); with `truncate`,
    /// over-long texts are cut at the last token that fits.
    fn count(&self, inputs: &mut [String], truncate: bool) -> Result<u64, RuntimeError> {
        let mut total = 0u64;
        for (i, text) in inputs.iter_mut().enumerate() {
            let enc = self.tokenizer.encode(text.as_str(), true).map_err(|e| {
                RuntimeError::invalid("input", format!("cannot tokenize input {i}: {e}"))
            })?;
            let n = enc.get_ids().len() as u32;
            if n > self.max_tokens && truncate {
                // the last content token that fits, leaving room for [CLS] and [SEP]
                let keep = (self.max_tokens as usize).saturating_sub(2).max(1);
                let end = enc.get_offsets().get(keep).map_or(text.len(), |o| o.1);
                let mut end = end.min(text.len());
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
                total += u64::from(self.max_tokens);
                continue;
            }
            if n > self.max_tokens {
                return Err(RuntimeError::invalid(
                    "input",
                    format!(
                        "input {i} is {n} tokens; this model takes at most {}",
                        self.max_tokens
                    ),
                ));
            }
            total += u64::from(n);
        }
        Ok(total)
    }
}

impl Backend for EmbedEngine {
    fn schedule(&self, task: Task) -> Result<EventStream, RuntimeError> {
        let Task::Embed(e) = task else {
            return Err(RuntimeError::invalid(
                "model",
                "this model makes embeddings; it does not generate text",
            ));
        };
        if e.inputs.is_empty() {
            return Err(RuntimeError::invalid("input", "`input` must not be empty"));
        }
        let mut e = e;
        self.count(&mut e.inputs, e.truncate)?;
        let (events, stream) = mpsc::unbounded_channel();
        self.queue.send(Job {
            inputs: e.inputs,
            events,
        })?;
        Ok(stream)
    }

    fn context_length(&self) -> u32 {
        self.max_tokens
    }

    fn is_alive(&self) -> bool {
        self.queue.is_alive()
    }

    fn running(&self) -> usize {
        0
    }
}

fn run(encoder: &Encoder, pool: Option<&rayon::ThreadPool>, jobs: &Jobs<Job>, batch: usize) {
    while let Some(first) = jobs.wait() {
        // everything queued now runs together, in batches of `batch` texts
        let mut group = vec![first];
        while let Ok(j) = jobs.ready() {
            group.push(j);
        }
        group.retain(|j| !j.events.is_closed());
        let texts: Vec<&str> = group
            .iter()
            .flat_map(|j| j.inputs.iter().map(String::as_str))
            .collect();
        let embedded = match pool {
            Some(pool) => pool.install(|| encoder.embed(&texts, batch)),
            None => encoder.embed(&texts, batch),
        };
        match embedded {
            Ok((vectors, tokens)) => {
                let mut vectors = vectors.into_iter();
                let mut tokens = tokens.into_iter();
                for job in group {
                    let n = job.inputs.len();
                    let mine: Vec<Vec<f32>> = vectors.by_ref().take(n).collect();
                    let input: u64 = tokens.by_ref().take(n).sum();
                    let _ = job.events.send(Event::Vectors(mine));
                    let _ = job.events.send(Event::Done {
                        finish: Finish::Stop,
                        counts: Counts { input, output: 0 },
                    });
                }
            }
            Err(e) => {
                for job in group {
                    let _ = job.events.send(Event::Failed(e.clone()));
                }
            }
        }
    }
}
