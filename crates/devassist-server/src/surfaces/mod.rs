//! Surfaces: one module per wire dialect. A surface only translates — wire JSON to neutral
//! requests, neutral events to wire frames, errors to its dialect's body.

pub mod dialect;
pub mod docs;
pub mod extract;
pub mod gitlab;
pub mod ollama;
pub mod openai;
pub mod stream;

pub use dialect::{Dialect, OllamaDialect, OpenAiDialect};
pub use extract::WireJson;

#[cfg(test)]
mod fuzz_tests;
