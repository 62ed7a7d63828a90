//! The commented example config written by `switchyard init`. It is validated by a test, so the
//! example can never drift from what the loader accepts.

/// The example file's text.
pub const EXAMPLE: &str = include_str!("../switchyard.example.toml");
