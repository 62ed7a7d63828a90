//! Handlers, one module per dialect.

pub mod health;
pub mod openai;
