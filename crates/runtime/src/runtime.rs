//! [`Runtime`]: the local models by name, each loaded on first use (off the async threads) and
//! reloaded after its engine unloaded itself for idleness.

use std::collections::HashMap;
use std::sync::Arc;

use crate::embed::EmbedEngine;
use crate::llm::LlamaEngine;
use crate::settings::ModelSettings;
use crate::task::{Backend, EventStream, Task, TaskKind};
use crate::whisper::WhisperEngine;
use crate::{ErrorKind, RuntimeError};

struct Slot {
    settings: ModelSettings,
    engine: tokio::sync::Mutex<Option<Arc<dyn Backend>>>,
}

/// Every configured local model.
#[derive(Default)]
pub struct Runtime {
    slots: HashMap<String, Arc<Slot>>,
}

/// A model's state, for listings.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelStatus {
    pub name: String,
    pub task: TaskKind,
    pub loaded: bool,
}

impl Runtime {
    pub fn new(models: Vec<ModelSettings>) -> Self {
        let slots = models
            .into_iter()
            .map(|settings| {
                (
                    settings.name.clone(),
                    Arc::new(Slot {
                        settings,
                        engine: tokio::sync::Mutex::new(None),
                    }),
                )
            })
            .collect();
        Runtime { slots }
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    pub fn settings(&self, name: &str) -> Result<&ModelSettings, RuntimeError> {
        self.slots.get(name).map(|s| &s.settings).ok_or_else(|| {
            RuntimeError::new(
                ErrorKind::UnknownModel,
                format!("no local model is named `{name}`"),
            )
        })
    }

    pub fn status(&self) -> Vec<ModelStatus> {
        let mut out: Vec<ModelStatus> = self
            .slots
            .values()
            .map(|s| ModelStatus {
                name: s.settings.name.clone(),
                task: s.settings.task,
                loaded: s
                    .engine
                    .try_lock()
                    .map(|e| e.as_ref().is_some_and(|b| b.is_alive()))
                    .unwrap_or(true),
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }

    /// Queues `task` on model `name`, loading the model first if it is not loaded.
    pub async fn schedule(&self, name: &str, task: Task) -> Result<EventStream, RuntimeError> {
        let slot = self.slots.get(name).ok_or_else(|| {
            RuntimeError::new(
                ErrorKind::UnknownModel,
                format!("no local model is named `{name}`"),
            )
        })?;
        // twice: the engine may unload itself between our look and our send
        for _ in 0..2 {
            let engine = Self::engine(slot).await?;
            // templating, tokenizing and grammar building are CPU work: off the async workers
            let job = task.clone();
            let scheduled = {
                let engine = engine.clone();
                tokio::task::spawn_blocking(move || engine.schedule(job))
                    .await
                    .map_err(|e| RuntimeError::load(format!("scheduling failed: {e}")))?
            };
            match scheduled {
                Err(e) if e.kind == ErrorKind::Load && !engine.is_alive() => continue,
                other => return other,
            }
        }
        Err(RuntimeError::load(format!(
            "model `{name}` could not be kept loaded"
        )))
    }

    /// Requests running on model `name` now (0 when it is not loaded).
    pub fn running(&self, name: &str) -> usize {
        self.slots
            .get(name)
            .and_then(|s| {
                s.engine
                    .try_lock()
                    .ok()
                    .and_then(|e| e.as_ref().map(|b| b.running()))
            })
            .unwrap_or(0)
    }

    /// The prompt text model `name` would see for `prompt` (its chat template applied).
    pub async fn render(
        &self,
        name: &str,
        prompt: &crate::task::Prompt,
    ) -> Result<String, RuntimeError> {
        let slot = self.slots.get(name).ok_or_else(|| {
            RuntimeError::new(
                ErrorKind::UnknownModel,
                format!("no local model is named `{name}`"),
            )
        })?;
        Self::engine(slot).await?.render(prompt)
    }

    /// Loads the model now (`switchyard run`, warm-up, load-time benchmarks).
    pub async fn load(&self, name: &str) -> Result<(), RuntimeError> {
        let slot = self.slots.get(name).ok_or_else(|| {
            RuntimeError::new(
                ErrorKind::UnknownModel,
                format!("no local model is named `{name}`"),
            )
        })?;
        Self::engine(slot).await.map(|_| ())
    }

    async fn engine(slot: &Arc<Slot>) -> Result<Arc<dyn Backend>, RuntimeError> {
        let mut guard = slot.engine.lock().await;
        if let Some(e) = guard.as_ref().filter(|e| e.is_alive()) {
            return Ok(Arc::clone(e));
        }
        *guard = None;
        let settings = slot.settings.clone();
        let started = std::time::Instant::now();
        let engine =
            tokio::task::spawn_blocking(move || -> Result<Arc<dyn Backend>, RuntimeError> {
                Ok(match settings.task {
                    TaskKind::TextGeneration => Arc::new(LlamaEngine::load(&settings)?),
                    TaskKind::Embeddings => Arc::new(EmbedEngine::load(&settings)?),
                    TaskKind::SpeechRecognition => Arc::new(WhisperEngine::load(&settings)?),
                    TaskKind::Rerank | TaskKind::TextClassification => {
                        Arc::new(crate::classify::ClassifyEngine::load(&settings)?)
                    }
                    TaskKind::TextToImage => Arc::new(crate::image::ImageEngine::load(&settings)?),
                })
            })
            .await
            .map_err(|e| RuntimeError::load(format!("loading failed: {e}")))??;
        tracing::info!(model = %slot.settings.name, took_ms = started.elapsed().as_millis() as u64, "local model loaded");
        *guard = Some(Arc::clone(&engine));
        Ok(engine)
    }
}
