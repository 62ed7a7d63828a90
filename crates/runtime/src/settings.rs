//! What the runtime needs to know about one local model (built from `[[models]]` by the caller).

use std::path::PathBuf;
use std::time::Duration;

use crate::task::TaskKind;

#[derive(Debug, Clone, PartialEq)]
pub struct ModelSettings {
    pub name: String,
    pub task: TaskKind,
    /// The GGUF file (text generation) or the model folder (embeddings).
    pub path: PathBuf,
    /// Threads for this model (0 = every core). More threads than cores makes llama.cpp slower.
    pub threads: u32,
    /// Tokens per sequence (default: the model's training context, capped at 4096).
    pub context_size: Option<u32>,
    /// Sequences decoded together (text generation) or texts per forward pass (embeddings).
    pub max_batch: u32,
    /// Requests waiting beyond the running batch; more get `429`.
    pub queue: usize,
    /// Unload after this long without requests (`None` = keep loaded).
    pub idle_unload: Option<Duration>,
    /// `max_tokens` when a request gives none (bounded by the room left in the context).
    pub default_max_tokens: u32,
    /// Said when the weights are missing (e.g. the `models pull` command that fetches them).
    pub missing_hint: Option<String>,
    /// Image models: denoising steps and guidance when a request gives none (else the model's
    /// own: 1 step unguided for SD-Turbo, 20 at 7.5 otherwise).
    pub image_steps: Option<u32>,
    pub image_guidance: Option<f32>,
}

impl ModelSettings {
    /// The error for weights that are not where the settings say.
    pub fn missing(&self, what: &str) -> crate::RuntimeError {
        let hint = self
            .missing_hint
            .as_deref()
            .map(|h| format!("; {h}"))
            .unwrap_or_default();
        crate::RuntimeError::load(format!(
            "model `{}`: no {what} at {}{hint}",
            self.name,
            self.path.display()
        ))
    }

    /// Defaults for a model at `path`.
    pub fn new(name: &str, task: TaskKind, path: PathBuf) -> Self {
        ModelSettings {
            name: name.to_owned(),
            task,
            path,
            threads: 0,
            context_size: None,
            max_batch: match task {
                TaskKind::TextGeneration => 4,
                TaskKind::Embeddings => 32,
                TaskKind::SpeechRecognition => 1,
                TaskKind::Rerank | TaskKind::TextClassification => 16,
                TaskKind::TextToImage => 1,
            },
            queue: 64,
            idle_unload: Some(Duration::from_secs(15 * 60)),
            default_max_tokens: 512,
            missing_hint: None,
            image_steps: None,
            image_guidance: None,
        }
    }
}
