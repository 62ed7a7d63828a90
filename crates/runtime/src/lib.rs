//! Local inference: open models served in-process, the "Workers AI" half of Switchyard.
//!
//! # Layout
//! - [`task`]: validated work ([`Task`]), its output ([`Event`]) and the [`Backend`] trait
//!   (`schedule(task) -> stream`) every engine implements.
//! - [`llm`]: text generation on llama.cpp (GGUF), one batching actor per model.
//! - [`embed`]: sentence embeddings on candle (BERT family).
//! - [`classify`]: reranking and text classification on cross-encoders (BERT family).
//! - [`image`]: text-to-image on Stable Diffusion (diffusers folders).
//! - [`runtime`]: [`Runtime`], the models by name, loaded lazily and unloaded when idle.
//! - [`openai`]: OpenAI request bodies in, OpenAI answers out — how the gateway calls a model.
//! - `queue`: a model's bounded job queue (429 when full; idle exit without losing a job).
//! - [`settings`]: one model's settings; [`error`]: [`RuntimeError`] and its HTTP status.
//! - [`hub`]: `models pull` from the Hugging Face hub; [`meter`]: compute units per request.
//! - [`audio`]: audio files → 16 kHz mono samples (decoded in Rust, resampled).
//! - [`whisper`]: Whisper speech-to-text (Hugging Face and CTranslate2 checkpoints); not served
//!   through the runtime's tasks yet.

pub mod audio;
pub mod classify;
pub mod embed;
pub mod error;
pub mod hub;
pub mod image;
pub mod llm;
mod matmul;
pub mod meter;
pub mod openai;
mod queue;
pub mod runtime;
pub mod settings;
pub mod task;
pub mod whisper;

pub use error::{ErrorKind, RuntimeError};
pub use openai::{LocalApi, LocalBody, LocalReply};
pub use runtime::{ModelStatus, Runtime};
pub use settings::ModelSettings;
pub use task::{Backend, Event, EventStream, Task, TaskKind};
