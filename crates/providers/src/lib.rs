//! Upstream providers: who they are, how to address them, and the HTTP client that reaches them.
//!
//! # Layout
//! - [`secret`]: [`Secret`], a string that never shows itself in logs, errors or serialised config.
//! - [`kind`]: [`ProviderKind`], the closed set of provider kinds, with presets (base URL, key env var)
//!   for the OpenAI-compatible vendors so `kind = "groq"` needs nothing else.
//! - [`spec`]: [`ProviderSpec`], a provider's validated settings (the config crate builds these).
//! - [`provider`]: [`Provider`], a spec turned into ready-made URIs and headers plus its own pooled,
//!   keep-alive, `TCP_NODELAY` client; builds and sends upstream requests.
//! - [`error`]: [`UpstreamError`], which says which provider failed and how (connect, timeout, …).
//!
//! Translation between dialects lands here too (one module per provider family), keeping the gateway
//! crate free of wire formats.

pub mod error;
pub mod kind;
pub mod provider;
pub mod secret;
pub mod spec;

pub use error::{UpstreamError, UpstreamErrorKind};
pub use kind::{Preset, ProviderKind};
pub use provider::{Endpoint, Provider, UpstreamBody};
pub use secret::Secret;
pub use spec::{AzureSpec, ProviderSpec, Timeouts};
