//! Handlers, one module per dialect.

pub mod admin;
pub mod anthropic;
mod call;
pub mod health;
pub mod keys;
pub mod logs;
pub mod native;
pub mod openai;
pub mod responses;
pub mod secrets;
pub mod workers_ai;
mod workers_speech;
