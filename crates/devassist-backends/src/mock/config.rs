//! Settings for the deterministic mock backend.

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What the mock says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MockMode {
    /// Repeats the last user (or tool) message, or the prompt (the prefix for FIM).
    #[default]
    Echo,
    /// Cycles through the words of `MockConfig::text`.
    Fixed,
}

/// A plain struct: the gateway builds it from its TOML config.
#[derive(Debug, Clone, PartialEq)]
pub struct MockConfig {
    pub mode: MockMode,
    /// The text `Fixed` mode cycles through.
    pub text: String,
    /// Most tokens one answer has (a token is a word with its leading whitespace).
    pub tokens: u32,
    /// Delay before the first token.
    pub ttft: Duration,
    /// Delay between two tokens.
    pub token_delay: Duration,
    /// Length of the embedding vectors (when the request names no `dimensions`).
    pub embedding_dims: usize,
}

impl Default for MockConfig {
    fn default() -> Self {
        Self {
            mode: MockMode::Echo,
            text: "The quick brown fox jumps over the lazy dog.".to_owned(),
            tokens: 256,
            ttft: Duration::ZERO,
            token_delay: Duration::ZERO,
            embedding_dims: 384,
        }
    }
}
