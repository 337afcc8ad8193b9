//! The product features a request can belong to; the router maps each to a model.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A coding-assistant feature. Closed set, parsed at config load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    CodeCompletion,
    CodeGeneration,
    Chat,
    Embeddings,
    DocsSearch,
}

impl Feature {
    pub const ALL: [Feature; 5] = [
        Feature::CodeCompletion,
        Feature::CodeGeneration,
        Feature::Chat,
        Feature::Embeddings,
        Feature::DocsSearch,
    ];

    /// The feature named as in configuration (`code_completion`, `chat`…).
    pub fn parse(name: &str) -> Option<Feature> {
        Feature::ALL.into_iter().find(|f| f.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Feature::CodeCompletion => "code_completion",
            Feature::CodeGeneration => "code_generation",
            Feature::Chat => "chat",
            Feature::Embeddings => "embeddings",
            Feature::DocsSearch => "docs_search",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
