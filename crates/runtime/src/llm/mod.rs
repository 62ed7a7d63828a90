//! Text generation on llama.cpp: [`LlamaEngine`] is the cheap handle; [`actor`] is the thread
//! that owns the context and batches every running sequence into one decode per step.
//!
//! - [`template`]: chat templates (minijinja).
//! - [`sampler`]: sampler chains and grammars (JSON mode, schemas, tool calls).
//! - [`text`]: token pieces → client text (UTF-8, stop sequences).

mod actor;
pub mod sampler;
pub mod template;
pub mod text;

use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};

use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::mpsc;

use crate::queue::JobQueue;
use crate::settings::ModelSettings;
use crate::task::{Backend, Event, EventStream, Generate, Prompt, Task};
use crate::RuntimeError;

/// llama.cpp's process-wide state: initialised once, never torn down.
fn backend() -> Result<&'static LlamaBackend, RuntimeError> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let mut b = LlamaBackend::init().map_err(|e| e.to_string())?;
            b.void_logs();
            Ok(b)
        })
        .as_ref()
        .map_err(|e| RuntimeError::load(format!("llama.cpp did not start: {e}")))
}

/// A queued generation: the prompt's tokens and the request's own sampler.
pub(crate) struct Job {
    tokens: Vec<LlamaToken>,
    sampler: llama_cpp_2::sampling::LlamaSampler,
    max_tokens: u32,
    stop: Vec<String>,
    logprobs: bool,
    events: mpsc::UnboundedSender<Event>,
}

/// The handle to one loaded GGUF model.
pub struct LlamaEngine {
    model: Arc<LlamaModel>,
    template: template::ChatTemplate,
    /// Tokens per sequence.
    n_ctx: u32,
    default_max_tokens: u32,
    queue: JobQueue<Job>,
    running: Arc<std::sync::atomic::AtomicUsize>,
}

impl LlamaEngine {
    /// Loads the weights (memory-mapped) and starts the actor thread. Blocking: call it off the
    /// async runtime.
    pub fn load(settings: &ModelSettings) -> Result<Self, RuntimeError> {
        let backend = backend()?;
        if !settings.path.is_file() {
            return Err(settings.missing("GGUF file"));
        }
        let params = LlamaModelParams::default().with_use_mmap(true);
        // a CUDA build offloads every layer it can to the GPU
        #[cfg(feature = "cuda")]
        let params = params.with_n_gpu_layers(u32::MAX);
        let model = LlamaModel::load_from_file(backend, &settings.path, &params).map_err(|e| {
            RuntimeError::load(format!(
                "model `{}`: llama.cpp cannot load {}: {e}",
                settings.name,
                settings.path.display()
            ))
        })?;
        let model = Arc::new(model);
        let n_ctx = match settings.context_size {
            Some(n) => n.min(model.n_ctx_train().max(1)),
            None => model.n_ctx_train().clamp(1, 4096),
        };
        let vocab = model.vocab();
        let piece = |t: LlamaToken| {
            String::from_utf8_lossy(&vocab.token_to_piece(t, true, None)).into_owned()
        };
        let template = template::ChatTemplate::new(
            model.meta_val_str("tokenizer.chat_template").ok(),
            piece(vocab.bos()),
            piece(vocab.eos()),
        )?;
        let (queue, jobs) = crate::queue::bounded(settings.queue, settings.idle_unload);
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let setup = actor::Setup {
            running: Arc::clone(&running),
            model: Arc::clone(&model),
            n_ctx_per_seq: n_ctx,
            max_batch: settings.max_batch.max(1),
            threads: settings.threads,
            name: settings.name.clone(),
        };
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name(format!("llm-{}", settings.name))
            .spawn(move || actor::run(backend, setup, jobs, ready_tx))
            .map_err(|e| RuntimeError::load(format!("cannot start the model thread: {e}")))?;
        ready_rx
            .recv()
            .map_err(|_| RuntimeError::load("the model thread ended while starting"))??;
        Ok(LlamaEngine {
            model,
            template,
            n_ctx,
            default_max_tokens: settings.default_max_tokens,
            queue,
            running,
        })
    }

    /// The prompt as text: the chat template applied, or the raw text.
    fn prompt_text(&self, prompt: &Prompt) -> Result<String, RuntimeError> {
        match prompt {
            Prompt::Text(t) => Ok(t.clone()),
            Prompt::Chat { messages, tools } => self.template.render(messages, tools),
        }
    }

    fn tokenize(&self, prompt: &Prompt) -> Result<Vec<LlamaToken>, RuntimeError> {
        let text = self.prompt_text(prompt)?;
        // no token stands for more than this many bytes: a longer prompt cannot fit the
        // context, and is refused before the (linear, but not free) tokenizing
        const MAX_BYTES_PER_TOKEN: usize = 256;
        let most = self.n_ctx as usize * MAX_BYTES_PER_TOKEN;
        if text.len() > most {
            return Err(RuntimeError::invalid(
                "messages",
                format!(
                    "the prompt is {} bytes; this model's {}-token context holds at most {most}",
                    text.len(),
                    self.n_ctx
                ),
            ));
        }
        // chat templates print the BOS token themselves when the model wants one
        let add_special = matches!(prompt, Prompt::Text(_));
        let tokens = self
            .model
            .vocab()
            .tokenize(text.as_bytes(), add_special, true);
        if tokens.is_empty() {
            return Err(RuntimeError::invalid("messages", "the prompt is empty"));
        }
        Ok(tokens)
    }

    fn job(&self, g: Generate) -> Result<(Job, EventStream), RuntimeError> {
        let tokens = self.tokenize(&g.prompt)?;
        let prompt_len = tokens.len() as u64;
        let room = u64::from(self.n_ctx).saturating_sub(prompt_len);
        if room == 0 {
            return Err(RuntimeError::invalid(
                "messages",
                format!(
                    "the prompt is {prompt_len} tokens; this model's context is {} tokens",
                    self.n_ctx
                ),
            ));
        }
        let max_tokens = match g.max_tokens {
            Some(m) if u64::from(m) > room => {
                return Err(RuntimeError::invalid(
                    "max_tokens",
                    format!(
                        "max_tokens is {m}, but the prompt ({prompt_len} tokens) leaves {room} of this model's {}-token context",
                        self.n_ctx
                    ),
                ))
            }
            Some(m) => m,
            None => (self.default_max_tokens as u64).min(room) as u32,
        };
        let sampler = sampler::build(&self.model, &g.sampling, &g.constraint, g.ignore_eos)?;
        let (events, stream) = mpsc::unbounded_channel();
        Ok((
            Job {
                tokens,
                sampler,
                max_tokens,
                stop: g.stop,
                logprobs: g.logprobs,
                events,
            },
            stream,
        ))
    }
}

impl Backend for LlamaEngine {
    fn schedule(&self, task: Task) -> Result<EventStream, RuntimeError> {
        let Task::Generate(g) = task else {
            return Err(RuntimeError::invalid(
                "model",
                "this model generates text; it does not make embeddings",
            ));
        };
        let (job, stream) = self.job(g)?;
        self.queue.send(job)?;
        Ok(stream)
    }

    fn context_length(&self) -> u32 {
        self.n_ctx
    }

    fn is_alive(&self) -> bool {
        self.queue.is_alive()
    }

    fn running(&self) -> usize {
        self.running.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn render(&self, prompt: &Prompt) -> Result<String, RuntimeError> {
        self.prompt_text(prompt)
    }
}

/// Checked on the model's own thread count (0 = all cores, capped).
pub(crate) fn thread_count(requested: u32) -> i32 {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let n = if requested == 0 {
        cores
    } else {
        (requested as usize).min(cores)
    };
    i32::try_from(n).unwrap_or(1)
}

pub(crate) fn nonzero(n: u32) -> Option<NonZeroU32> {
    NonZeroU32::new(n)
}
