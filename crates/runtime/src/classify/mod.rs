//! Reranking and text classification on a cross-encoder ([`CrossEncoder`]): a query scored
//! against each document, or each text given its class probabilities. One thread per model;
//! queued requests run together, in batches of `max_batch` pairs.

mod cross_encoder;

use tokio::sync::mpsc;

use crate::queue::{JobQueue, Jobs};
use crate::settings::ModelSettings;
use crate::task::{Backend, Counts, Event, EventStream, Finish, Task};
use crate::RuntimeError;

pub use cross_encoder::{relevance, softmax, CrossEncoder};

/// What one job asks.
enum Work {
    Rerank {
        query: String,
        documents: Vec<String>,
    },
    Classify(Vec<String>),
}

struct Job {
    work: Work,
    events: mpsc::UnboundedSender<Event>,
}

impl Job {
    /// How many texts (or pairs) it runs.
    fn len(&self) -> usize {
        match &self.work {
            Work::Rerank { documents, .. } => documents.len(),
            Work::Classify(texts) => texts.len(),
        }
    }

    /// The (text, pair) inputs it runs.
    fn inputs(&self) -> Vec<(&str, Option<&str>)> {
        match &self.work {
            Work::Rerank { query, documents } => documents
                .iter()
                .map(|d| (query.as_str(), Some(d.as_str())))
                .collect(),
            Work::Classify(texts) => texts.iter().map(|t| (t.as_str(), None)).collect(),
        }
    }
}

/// The handle to one loaded cross-encoder.
pub struct ClassifyEngine {
    queue: JobQueue<Job>,
}

impl ClassifyEngine {
    /// Loads the model and starts its thread. Blocking.
    pub fn load(settings: &ModelSettings) -> Result<Self, RuntimeError> {
        if !settings.path.join("config.json").is_file() {
            return Err(
                settings.missing("model folder (config.json, model.safetensors, tokenizer.json)")
            );
        }
        let model = CrossEncoder::load(&settings.path)?;
        let (queue, jobs) = crate::queue::bounded(settings.queue, settings.idle_unload);
        let batch = settings.max_batch.max(1) as usize;
        let name = settings.name.clone();
        std::thread::Builder::new()
            .name(format!("classify-{name}"))
            .spawn(move || {
                run(&model, &jobs, batch);
                tracing::info!(model = %name, "local model unloaded after its idle period");
            })
            .map_err(|e| RuntimeError::load(format!("cannot start the model thread: {e}")))?;
        Ok(ClassifyEngine { queue })
    }
}

impl Backend for ClassifyEngine {
    fn schedule(&self, task: Task) -> Result<EventStream, RuntimeError> {
        let work = match task {
            Task::Rerank(r) if r.documents.is_empty() => {
                return Err(RuntimeError::invalid(
                    "documents",
                    "`documents` must not be empty",
                ))
            }
            Task::Rerank(r) => Work::Rerank {
                query: r.query,
                documents: r.documents,
            },
            Task::Classify(c) if c.inputs.is_empty() => {
                return Err(RuntimeError::invalid("text", "`text` must not be empty"))
            }
            Task::Classify(c) => Work::Classify(c.inputs),
            _ => {
                return Err(RuntimeError::invalid(
                    "model",
                    "this model reranks and classifies text; it does not generate or embed",
                ))
            }
        };
        let (events, stream) = mpsc::unbounded_channel();
        self.queue.send(Job { work, events })?;
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

fn run(model: &CrossEncoder, jobs: &Jobs<Job>, batch: usize) {
    while let Some(first) = jobs.wait() {
        let mut group = vec![first];
        while let Ok(j) = jobs.ready() {
            group.push(j);
        }
        group.retain(|j| !j.events.is_closed());
        let inputs: Vec<(&str, Option<&str>)> = group.iter().flat_map(Job::inputs).collect();
        let (logits, tokens) = match model.logits(&inputs, batch) {
            Ok(out) => out,
            Err(e) => {
                for job in &group {
                    let _ = job.events.send(Event::Failed(e.clone()));
                }
                continue;
            }
        };
        let (mut logits, mut tokens) = (logits.into_iter(), tokens.into_iter());
        for job in &group {
            let n = job.len();
            let mine: Vec<Vec<f32>> = logits.by_ref().take(n).collect();
            let input: u64 = tokens.by_ref().take(n).sum();
            let event = match job.work {
                Work::Rerank { .. } => Event::Scores(mine.iter().map(|l| relevance(l)).collect()),
                Work::Classify(_) => Event::Classes(
                    mine.iter()
                        .map(|l| ranked(model.labels(), &softmax(l)))
                        .collect(),
                ),
            };
            let _ = job.events.send(event);
            let _ = job.events.send(Event::Done {
                finish: Finish::Stop,
                counts: Counts { input, output: 0 },
            });
        }
    }
}

/// Labels with their probabilities, likeliest first.
fn ranked(labels: &[String], probs: &[f32]) -> Vec<(String, f32)> {
    let mut out: Vec<(String, f32)> = labels.iter().cloned().zip(probs.iter().copied()).collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1));
    out
}
