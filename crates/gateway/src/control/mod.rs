//! Who may call what: gateway API keys and the admin token. (Rate limits, budgets and the rest
//! of the control plane slot in here.)
//!
//! # Layout
//! - [`keys`]: [`Keys`] — creating, checking (cached in memory) and managing gateway keys.
//! - [`vault`]: [`Vault`] — stored provider keys, sealed with AES-256-GCM (BYOK).
//! - `limits`: [`Limiter`] — rate limits and budgets, admitted before and settled after;
//!   `ticket`: what one request took, settled with its real cost; `estimate`: what a
//!   request may cost, reserved against its budgets at admission.

mod estimate;
pub mod keys;
pub(crate) mod limits;
mod ticket;
pub mod vault;

pub use keys::{ApiKey, Keys, NewKey};
pub use limits::{Admission, Limiter};
pub use ticket::Ticket;
pub use vault::Vault;

/// Compares secrets in time independent of where they differ and of their lengths: the SHA-256
/// digests (always 32 bytes) are compared, every byte of them.
pub fn same_secret(a: &str, b: &str) -> bool {
    let digest = |s: &str| ring::digest::digest(&ring::digest::SHA256, s.as_bytes());
    let (a, b) = (digest(a), digest(b));
    a.as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_compare_by_content_only() {
        use super::same_secret;
        assert!(same_secret("admin-token-123456", "admin-token-123456"));
        assert!(!same_secret("admin-token-123456", "admin-token-123457"));
        assert!(!same_secret("admin-token-123456", "admin-token-12345"));
        assert!(!same_secret("", "x"));
        assert!(same_secret("", ""));
    }
}
