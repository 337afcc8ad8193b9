//! The route stage: which model serves a request, by one rule for every surface, and
//! whether that model can do what the request asks.
//!
//! The rule (docs/features.md, "Routing"):
//! 1. a name the configuration knows (a model's name or alias) → that model;
//! 2. otherwise the model the admin mapped to the feature (`[features.<f>] model`);
//! 3. otherwise, when the client named no model of ours (no name, or only a hint such as
//!    GitLab's family name `codestral`), the first model that can serve the feature;
//! 4. otherwise Ollama's exact 404, `model 'x' not found`.

use crate::config::Capability;
use crate::router::ModelEntry;
use crate::state::Gateway;
use devassist_core::{
    ErrorKind, Feature, GatewayError, GenerateRequest, Origin, Prompt, ToolChoice,
};
use std::sync::Arc;

/// What the client said about the model it wants.
#[derive(Debug, Clone, Copy)]
pub enum Requested<'a> {
    /// A model name the client chose (Ollama's and OpenAI's `model`).
    Name(&'a str),
    /// A description that may match a configured name but is not a choice among ours
    /// (GitLab's `model_name`/`model_identifier`): unknown hints fall through to rule 3.
    Hint(&'a str),
    /// Nothing.
    Nothing,
}

impl<'a> Requested<'a> {
    fn text(self) -> Option<&'a str> {
        match self {
            Requested::Name(n) | Requested::Hint(n) => Some(n).filter(|n| !n.trim().is_empty()),
            Requested::Nothing => None,
        }
    }
}

/// The capability a feature needs from any model that serves it.
fn needed(feature: Feature) -> Capability {
    match feature {
        Feature::Embeddings => Capability::Embedding,
        Feature::CodeCompletion | Feature::CodeGeneration | Feature::Chat | Feature::DocsSearch => {
            Capability::Completion
        }
    }
}

impl Gateway {
    /// The model for a request of `feature`, by the rule above.
    pub fn route(
        &self,
        feature: Feature,
        requested: Requested<'_>,
    ) -> Result<Arc<ModelEntry>, GatewayError> {
        let name = requested.text();
        let unknown = match name.map(|n| self.router.resolve(n)) {
            Some(Ok(route)) => return Ok(route),
            Some(Err(e)) => Some(e),
            None => None,
        };
        if let Some(model) = &self.features.get(feature).model {
            return self.router.resolve(model);
        }
        match (unknown, requested) {
            (Some(e), Requested::Name(_)) => return Err(e),
            (None, Requested::Name(_)) => {
                return Err(GatewayError::bad_request("model is required").with_param("model"));
            }
            _ => {}
        }
        let need = needed(feature);
        self.router
            .models()
            .iter()
            .find(|m| m.has(need))
            .cloned()
            .ok_or_else(|| {
                GatewayError::new(
                    ErrorKind::NotFound,
                    Origin::Gateway,
                    format!("no model is configured for the {feature} feature"),
                )
            })
    }
}

/// The one capability check: what the request needs of the model, in Ollama's words
/// (`"m" does not support chat`, `m does not support insert`), which every surface shows.
/// `shown` is the model name as the client wrote it.
pub fn check_capabilities(
    route: &ModelEntry,
    shown: &str,
    req: &GenerateRequest,
) -> Result<(), GatewayError> {
    let (what, suffix, tools) = match &req.prompt {
        Prompt::Completion { suffix, .. } => (
            "generate",
            suffix.as_deref().is_some_and(|s| !s.is_empty()),
            false,
        ),
        // Tools the request forbids calling need no tool support.
        Prompt::Chat { tools, .. } => (
            "chat",
            false,
            !tools.is_empty() && req.tool_choice != ToolChoice::None,
        ),
    };
    if !route.has(Capability::Completion) {
        return Err(GatewayError::bad_request(format!(
            "\"{shown}\" does not support {what}"
        )));
    }
    if suffix && !route.has(Capability::Insert) {
        return Err(
            GatewayError::bad_request(format!("{shown} does not support insert"))
                .with_param("suffix"),
        );
    }
    if tools && !route.has(Capability::Tools) {
        return Err(
            GatewayError::bad_request(format!("\"{shown}\" does not support tools"))
                .with_param("tools"),
        );
    }
    Ok(())
}

/// The embeddings capability check, in the same words.
pub fn check_embedding(route: &ModelEntry, shown: &str) -> Result<(), GatewayError> {
    if route.has(Capability::Embedding) {
        Ok(())
    } else {
        Err(
            GatewayError::bad_request(format!("\"{shown}\" does not support embeddings"))
                .with_param("model"),
        )
    }
}
