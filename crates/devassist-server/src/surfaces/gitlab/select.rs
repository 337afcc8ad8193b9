//! Which model serves a GitLab request, and with which prompt family.
//!
//! GitLab self-managed names the self-hosted model in every request (`model_endpoint`,
//! `model_identifier`, `model_api_key`, `model_name`). The endpoint is used only when the
//! admin allow-listed it in `[gitlab] allowed_endpoints`; otherwise the pipeline's routing
//! rule picks the model (GitLab's names are hints). An allow-listed endpoint is a pool slot
//! (`crate::endpoints`), so requests to it take the same pipeline as every other.

use crate::config::gitlab::{GitLabSettings, endpoint_key};
use crate::pipeline::{Requested, Started};
use crate::router::ModelEntry;
use crate::state::AppState;
use devassist_core::prompt::{FimFormat, PromptFamily, PromptProfile, detect};
use devassist_core::{CallContext, Feature, GatewayError, GenerateRequest, UpstreamKey};
use std::sync::Arc;

use super::wire::ModelFields;

/// The surface's shared state: the `[gitlab]` settings and the pool slot of each
/// allow-listed endpoint (`crate::endpoints`), in the allow-list's order.
pub struct GitLabState {
    pub settings: GitLabSettings,
    pub endpoint_slots: Vec<usize>,
}

impl GitLabState {
    pub fn new(settings: GitLabSettings) -> Self {
        Self {
            settings,
            endpoint_slots: Vec::new(),
        }
    }
}

/// The chosen model and how to prompt it.
pub struct Target {
    /// A configured model, or an allow-listed endpoint's slot serving the named model.
    pub route: Arc<ModelEntry>,
    pub feature: Feature,
    pub profile: PromptProfile,
    /// Context window in tokens, for trimming prompts.
    pub context_tokens: usize,
    /// The model's name as the gateway knows it (for response metadata).
    pub label: String,
    /// `model_api_key`, for an allow-listed endpoint.
    upstream_key: Option<UpstreamKey>,
}

impl Target {
    /// Starts the generation through the pipeline; errors before the first event come
    /// back as `Err`.
    pub async fn start(
        &self,
        st: &AppState,
        req: GenerateRequest,
        ctx: &CallContext,
    ) -> Result<Started, GatewayError> {
        let mut ctx = ctx.clone();
        ctx.upstream_key.clone_from(&self.upstream_key);
        st.generate(&self.route, self.feature, req, &ctx).await
    }
}

/// The model part of a `model_identifier`: after the first `/` (`custom_openai/Codestral-22B`
/// → `Codestral-22B`, `custom_openai/mistralai/Mistral-7B` → `mistralai/Mistral-7B`), as
/// GitLab splits it.
pub fn identifier_model(identifier: Option<&str>) -> Option<&str> {
    let id = identifier.map(str::trim).filter(|s| !s.is_empty())?;
    let model = id.split_once('/').map_or(id, |(_, model)| model).trim();
    (!model.is_empty()).then_some(model)
}

/// The prompt family a GitLab `model_name` stands for: GitLab's self-hosted model names
/// first, then our own family names.
pub fn gitlab_family(model_name: Option<&str>) -> Option<PromptFamily> {
    let name = model_name?.trim().to_ascii_lowercase();
    Some(match name.as_str() {
        "" => return None,
        "codestral" => PromptFamily::Codestral,
        "codegemma" => PromptFamily::CodeGemma,
        "codellama" => PromptFamily::CodeLlama,
        "deepseekcoder" => PromptFamily::DeepSeekCoder,
        "mistral" | "mixtral" => PromptFamily::MistralInstruct,
        "llama3" => PromptFamily::Llama3,
        "qwen2p5-coder-7b" | "qwen" => PromptFamily::QwenCoder,
        "gpt" | "claude_3" | "claude_3.5" | "general" | "gemini" => PromptFamily::GenericChat,
        other => return other.parse().ok(),
    })
}

/// A configured model's profile. The admin's settings win: `model_name` only decides when
/// the model's family could not be told (the generic chat fallback), because GitLab's list of
/// names is short and an admin may have picked the nearest one for a model it lacks.
fn configured_profile(entry: &ModelEntry, model_name: Option<&str>) -> PromptProfile {
    let mut profile = entry.settings.prompt.clone();
    if profile.format == FimFormat::Family(PromptFamily::GenericChat)
        && let Some(family) = gitlab_family(model_name)
    {
        profile.family = family;
        profile.format = FimFormat::Family(family);
    }
    profile
}

/// Picks the model for a request of `feature` with the client's model fields.
pub fn select(st: &AppState, feature: Feature, m: &ModelFields) -> Result<Target, GatewayError> {
    let requested_model = identifier_model(m.identifier.as_deref()).or(m.name.as_deref());
    if let Some(raw) = m.endpoint.as_deref().filter(|e| !e.trim().is_empty()) {
        match st.gitlab.settings.position(raw) {
            Some(i) => {
                if let Some(model) = requested_model {
                    let family =
                        gitlab_family(m.name.as_deref()).unwrap_or_else(|| detect(model, None));
                    let profile = PromptProfile::for_family(family);
                    return Ok(Target {
                        route: st.endpoint_route(i, model, &profile)?,
                        feature,
                        profile,
                        context_tokens: st.gitlab.settings.endpoint_context_length as usize,
                        label: model.to_owned(),
                        upstream_key: m
                            .api_key
                            .as_deref()
                            .filter(|k| !k.is_empty())
                            .map(|k| UpstreamKey(k.to_owned())),
                    });
                }
                tracing::info!(endpoint = %raw, "Request names no model for the endpoint: using the configured model");
            }
            None => {
                // Never echo credentials: the key has none, and unparseable URLs are not shown.
                let shown = endpoint_key(raw).unwrap_or_else(|| "<not an allowed URL>".to_owned());
                tracing::warn!(endpoint = %shown, "model_endpoint is not in [gitlab] allowed_endpoints: using the configured model");
            }
        }
    }
    let requested = requested_model.map_or(Requested::Nothing, Requested::Hint);
    let mut entry = st.route(feature, requested)?;
    let profile = configured_profile(&entry, m.name.as_deref());
    if profile != entry.settings.prompt {
        // The prompt stage renders with the route's profile: this request's, here.
        let mut adjusted = (*entry).clone();
        adjusted.settings.prompt = profile.clone();
        entry = Arc::new(adjusted);
    }
    Ok(Target {
        profile,
        context_tokens: entry.settings.context_length as usize,
        label: entry.name().to_owned(),
        route: entry,
        feature,
        upstream_key: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_split_on_the_first_slash() {
        assert_eq!(
            identifier_model(Some("custom_openai/Codestral-22B")),
            Some("Codestral-22B")
        );
        assert_eq!(
            identifier_model(Some("custom_openai/mistralai/Mistral-7B-Instruct-v0.3")),
            Some("mistralai/Mistral-7B-Instruct-v0.3")
        );
        assert_eq!(
            identifier_model(Some("Codestral-22B")),
            Some("Codestral-22B")
        );
        assert_eq!(identifier_model(Some("")), None);
        assert_eq!(identifier_model(Some("custom_openai/")), None);
        assert_eq!(identifier_model(None), None);
    }

    #[test]
    fn gitlab_model_names_map_to_families() {
        assert_eq!(
            gitlab_family(Some("codestral")),
            Some(PromptFamily::Codestral)
        );
        assert_eq!(
            gitlab_family(Some("deepseekcoder")),
            Some(PromptFamily::DeepSeekCoder)
        );
        assert_eq!(
            gitlab_family(Some("mixtral")),
            Some(PromptFamily::MistralInstruct)
        );
        assert_eq!(gitlab_family(Some("gpt")), Some(PromptFamily::GenericChat));
        assert_eq!(
            gitlab_family(Some("qwen2.5-coder")),
            Some(PromptFamily::QwenCoder)
        );
        assert_eq!(gitlab_family(Some("something-else")), None);
        assert_eq!(gitlab_family(None), None);
    }
}
