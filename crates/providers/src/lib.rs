//! Upstream providers: who they are, how to address them, and the HTTP client that reaches them.
//!
//! # Layout
//! - [`secret`]: [`Secret`], a string that never shows itself in logs, errors or serialised config.
//! - [`kind`]: [`ProviderKind`], the closed set of provider kinds, with presets (base URL, key env var)
//!   for the OpenAI-compatible vendors so `kind = "groq"` needs nothing else.
//! - [`spec`]: [`ProviderSpec`], a provider's validated settings (the config crate builds these).
//! - [`provider`]: [`Provider`], a spec turned into ready-made paths and headers; builds and sends
//!   upstream requests (retrying once on a fresh connection if a pooled one had gone stale).
//! - `pool`: keep-alive HTTP/1.1 connections (`TCP_NODELAY`), each driven by the task using it.
//! - [`body`]: [`UpstreamBody`], a response body that returns its connection to the pool when read
//!   (or, for a provider answered in-process — local models, a test's fake — a stream of chunks).
//! - [`aws`]: SigV4 request signing (with the `aws-sigv4` crate) for Bedrock.
//! - [`google`]: service-account JWT → OAuth token, minted and cached (Vertex AI).
//! - [`error`]: [`UpstreamError`], which says which provider failed and how (connect, timeout, …).
//!
//! Wire formats live in the `protocol` crate (one module per dialect, the canonical model between
//! them, and `protocol::dialect`'s `Upstream`/`Client` traits over them); the gateway's `translate`
//! module goes through those traits. A provider of kind `local` is never reached over HTTP: the
//! gateway answers it in-process (its `in_process` seam).

pub mod aws;
pub mod body;
pub mod error;
pub mod google;
pub mod kind;
mod pool;
pub mod provider;
pub mod secret;
pub mod spec;

pub use body::UpstreamBody;
pub use error::{UpstreamError, UpstreamErrorKind};
pub use kind::{Preset, ProviderKind};
pub use provider::{native_path_problem, Endpoint, Provider, UpstreamRequest};
pub use secret::Secret;
pub use spec::{AwsSpec, AzureSpec, ProviderSpec, ResponsesApi, Timeouts};
