//! The router: maps a requested model name (and, later, a feature) to a route — the model's
//! settings and the backend that serves it. Names are matched the way Ollama matches them:
//! case-insensitively, with a missing tag meaning `:latest`.

use crate::config::{Capability, ModelSettings};
use devassist_core::GatewayError;
use std::collections::HashMap;
use std::sync::Arc;

/// Canonical form of a model name: lower-case, with `:latest` when no tag is given.
pub fn normalize(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    let last = lower.rsplit('/').next().unwrap_or(&lower);
    if last.contains(':') {
        lower
    } else {
        format!("{lower}:latest")
    }
}

/// A model clients can ask for.
#[derive(Debug, Clone)]
pub struct ModelEntry {
    pub settings: ModelSettings,
    pub info: crate::model_info::ModelInfo,
    /// Indexes of the backends (replicas) in the gateway's backend list; never empty.
    pub backends: Vec<usize>,
}

impl ModelEntry {
    pub fn name(&self) -> &str {
        &self.settings.name
    }

    /// The first configured backend: the one model management (`/api/pull`) talks to.
    pub fn primary(&self) -> usize {
        self.backends.first().copied().unwrap_or(usize::MAX)
    }

    pub fn has(&self, cap: Capability) -> bool {
        self.settings.capabilities.contains(&cap)
    }
}

/// All configured models by every name they answer to.
#[derive(Debug, Default)]
pub struct Router {
    models: Vec<Arc<ModelEntry>>,
    by_name: HashMap<String, usize>,
}

impl Router {
    pub fn new(models: Vec<ModelEntry>) -> Self {
        let mut by_name = HashMap::new();
        let models: Vec<Arc<ModelEntry>> = models.into_iter().map(Arc::new).collect();
        for (i, m) in models.iter().enumerate() {
            for n in std::iter::once(&m.settings.name).chain(&m.settings.aliases) {
                by_name.entry(normalize(n)).or_insert(i);
            }
        }
        Self { models, by_name }
    }

    /// Resolves a requested name; unknown names get Ollama's exact 404 text.
    pub fn resolve(&self, requested: &str) -> Result<Arc<ModelEntry>, GatewayError> {
        if requested.trim().is_empty() {
            return Err(GatewayError::bad_request("model is required").with_param("model"));
        }
        self.by_name
            .get(&normalize(requested))
            .map(|&i| self.models[i].clone())
            .ok_or_else(|| GatewayError::model_not_found(requested))
    }

    pub fn models(&self) -> &[Arc<ModelEntry>] {
        &self.models
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, aliases: &[&str]) -> ModelEntry {
        let settings = ModelSettings {
            name: name.into(),
            backend: "b".into(),
            backends: vec!["b".into()],
            upstream: name.into(),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            capabilities: vec![Capability::Completion],
            context_length: 8192,
            prompt: devassist_core::prompt::PromptProfile::for_family(
                devassist_core::prompt::PromptFamily::GenericChat,
            ),
        };
        ModelEntry {
            info: crate::model_info::ModelInfo::configured(&settings, chrono::Utc::now()),
            settings,
            backends: vec![0],
        }
    }

    #[test]
    fn matches_like_ollama() {
        let r = Router::new(vec![entry("Codestral", &["cs:22b"]), entry("qwen:7b", &[])]);
        assert_eq!(r.resolve("codestral:latest").unwrap().name(), "Codestral");
        assert_eq!(r.resolve("CODESTRAL").unwrap().name(), "Codestral");
        assert_eq!(r.resolve("cs:22b").unwrap().name(), "Codestral");
        assert_eq!(r.resolve("qwen:7b").unwrap().name(), "qwen:7b");
        let err = r.resolve("qwen").unwrap_err();
        assert_eq!(err.message, "model 'qwen' not found");
        assert_eq!(r.resolve("").unwrap_err().message, "model is required");
    }

    #[test]
    fn namespaced_names_keep_their_path() {
        assert_eq!(normalize("library/llama3"), "library/llama3:latest");
        assert_eq!(normalize("host:5000/ns/m"), "host:5000/ns/m:latest");
        assert_eq!(normalize("ns/m:7b"), "ns/m:7b");
    }
}
