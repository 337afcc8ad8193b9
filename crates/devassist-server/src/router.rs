//! The router: maps a requested model name (and, later, a feature) to a route — the model's
//! settings and the backend that serves it. Names are matched the way Ollama matches them:
//! case-insensitively, with a missing tag meaning `:latest`. An alias with a glob character
//! (`*`, `?`, `[`) is a pattern: `claude-sonnet-*` answers to every name it matches, so the
//! names a client such as Claude Code sends map to a local model. Exact names always win;
//! among matching patterns the one with the most literal characters wins (then the first).

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

/// Whether an alias is a glob pattern rather than a name.
pub fn is_pattern(alias: &str) -> bool {
    alias.contains(['*', '?', '['])
}

/// Compiles an alias pattern: case-insensitive, `*` also matching `/` and `:`.
pub fn compile_pattern(pattern: &str) -> Result<globset::GlobMatcher, String> {
    globset::GlobBuilder::new(pattern.trim())
        .case_insensitive(true)
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| e.to_string())
}

/// One alias pattern and the model it names.
#[derive(Debug)]
struct Pattern {
    matcher: globset::GlobMatcher,
    /// Characters that are not wildcards: the more, the more specific.
    literal: usize,
    model: usize,
}

impl Pattern {
    fn new(text: &str, model: usize) -> Result<Self, GatewayError> {
        let matcher = compile_pattern(text).map_err(|e| {
            GatewayError::internal(format!("alias pattern `{text}` does not compile: {e}"))
        })?;
        let literal = text.chars().filter(|c| !"*?[]".contains(*c)).count();
        Ok(Self {
            matcher,
            literal,
            model,
        })
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
    patterns: Vec<Pattern>,
    /// Exact aliases from the top-level `[aliases]` table, by model.
    extra: Vec<(String, usize)>,
}

impl Router {
    /// The router over `models`, by their names and aliases. An alias pattern that does not
    /// compile (config validation rejects those) is skipped with a warning.
    pub fn new(models: Vec<ModelEntry>) -> Self {
        let mut by_name = HashMap::new();
        let mut patterns = Vec::new();
        let models: Vec<Arc<ModelEntry>> = models.into_iter().map(Arc::new).collect();
        for (i, m) in models.iter().enumerate() {
            for n in std::iter::once(&m.settings.name).chain(&m.settings.aliases) {
                if is_pattern(n) && n != &m.settings.name {
                    match Pattern::new(n, i) {
                        Ok(p) => patterns.push(p),
                        Err(e) => tracing::warn!(error = %e, "Alias pattern skipped"),
                    }
                } else {
                    by_name.entry(normalize(n)).or_insert(i);
                }
            }
        }
        Self {
            models,
            by_name,
            patterns,
            extra: Vec::new(),
        }
    }

    /// The router with the top-level `[aliases]` table too: each name or pattern there
    /// answers for the model it names (configured or found in the models directory).
    pub fn with_aliases(
        models: Vec<ModelEntry>,
        aliases: &[(String, String)],
    ) -> Result<Self, GatewayError> {
        let mut router = Self::new(models);
        for (alias, target) in aliases {
            let model = router
                .by_name
                .get(&normalize(target))
                .copied()
                .ok_or_else(|| {
                    GatewayError::internal(format!(
                        "aliases: `{alias}` names `{target}`, which is not a model"
                    ))
                })?;
            if is_pattern(alias) {
                router.patterns.push(Pattern::new(alias, model)?);
            } else {
                router.by_name.entry(normalize(alias)).or_insert(model);
                router.extra.push((alias.clone(), model));
            }
        }
        Ok(router)
    }

    /// The model a pattern gives `requested`: the most specific match, then the first.
    fn by_pattern(&self, requested: &str) -> Option<usize> {
        let name = requested.trim();
        let normal = normalize(name);
        let mut best: Option<&Pattern> = None;
        for p in &self.patterns {
            if (p.matcher.is_match(name) || p.matcher.is_match(&normal))
                && best.is_none_or(|b| p.literal > b.literal)
            {
                best = Some(p);
            }
        }
        best.map(|p| p.model)
    }

    /// Resolves a requested name; unknown names get Ollama's exact 404 text.
    pub fn resolve(&self, requested: &str) -> Result<Arc<ModelEntry>, GatewayError> {
        if requested.trim().is_empty() {
            return Err(GatewayError::bad_request("model is required").with_param("model"));
        }
        self.by_name
            .get(&normalize(requested))
            .copied()
            .or_else(|| self.by_pattern(requested))
            .and_then(|i| self.models.get(i).cloned())
            .ok_or_else(|| GatewayError::model_not_found(requested))
    }

    pub fn models(&self) -> &[Arc<ModelEntry>] {
        &self.models
    }

    /// Every exact (not pattern) alias of the model at `index` in [`Router::models`]: its
    /// own, then those of the `[aliases]` table.
    pub fn exact_aliases(&self, index: usize) -> Vec<&str> {
        let own = self
            .models
            .get(index)
            .into_iter()
            .flat_map(|m| &m.settings.aliases)
            .filter(|a| !is_pattern(a))
            .map(String::as_str);
        let extra = self
            .extra
            .iter()
            .filter(move |(_, i)| *i == index)
            .map(|(a, _)| a.as_str());
        own.chain(extra).collect()
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
    fn alias_patterns_map_client_names_to_local_models() {
        let r = Router::new(vec![
            entry("big", &["claude-sonnet-*", "claude-opus-4-1"]),
            entry("small", &["claude-*haiku*"]),
            entry("any", &["claude-*"]),
        ]);
        let name = |n: &str| r.resolve(n).map(|m| m.name().to_owned());
        assert_eq!(name("claude-sonnet-4-5-20250929").unwrap(), "big");
        assert_eq!(name("CLAUDE-Sonnet-4-5").unwrap(), "big");
        assert_eq!(name("claude-opus-4-1").unwrap(), "big");
        assert_eq!(name("claude-haiku-4-5-20251001").unwrap(), "small");
        assert_eq!(name("claude-3-5-haiku-latest").unwrap(), "small");
        // The most specific pattern wins, whatever the order.
        assert_eq!(name("claude-opus-4-5").unwrap(), "any");
        assert_eq!(
            name("gpt-4o").unwrap_err().message,
            "model 'gpt-4o' not found"
        );
    }

    #[test]
    fn exact_names_win_over_patterns() {
        let r = Router::new(vec![entry("wild", &["claude-*"]), entry("claude-x", &[])]);
        assert_eq!(r.resolve("claude-x").unwrap().name(), "claude-x");
        assert_eq!(r.resolve("claude-y").unwrap().name(), "wild");
    }

    #[test]
    fn top_level_aliases_name_models_and_patterns() {
        let aliases = vec![
            ("claude-haiku-*".to_owned(), "small".to_owned()),
            ("sonnet".to_owned(), "BIG".to_owned()),
        ];
        let r =
            Router::with_aliases(vec![entry("big", &[]), entry("small", &[])], &aliases).unwrap();
        assert_eq!(r.resolve("claude-haiku-4-5").unwrap().name(), "small");
        assert_eq!(r.resolve("Sonnet").unwrap().name(), "big");
        let bad = vec![("x-*".to_owned(), "nowhere".to_owned())];
        let err = Router::with_aliases(vec![entry("big", &[])], &bad).unwrap_err();
        assert!(
            err.detail
                .unwrap_or_default()
                .contains("`nowhere`, which is not a model")
        );
    }

    #[test]
    fn namespaced_names_keep_their_path() {
        assert_eq!(normalize("library/llama3"), "library/llama3:latest");
        assert_eq!(normalize("host:5000/ns/m"), "host:5000/ns/m:latest");
        assert_eq!(normalize("ns/m:7b"), "ns/m:7b");
    }
}
