//! Who may call what: gateway API keys and the admin token. (Rate limits, budgets and the rest
//! of the control plane slot in here.)
//!
//! # Layout
//! - [`keys`]: [`Keys`] — creating, checking (cached in memory) and managing gateway keys.
//! - [`vault`]: [`Vault`] — stored provider keys, sealed with AES-256-GCM (BYOK).
//! - [`limits`]: [`Limiter`] — rate limits and budgets, admitted before and settled after.

pub mod keys;
pub mod limits;
pub mod vault;

pub use keys::{ApiKey, Keys, NewKey};
pub use limits::{Admission, Limiter, Ticket};
pub use vault::Vault;

/// Compares secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
