//! Which model serves a GitLab request, and with which prompt family.
//!
//! GitLab self-managed names the self-hosted model in every request (`model_endpoint`,
//! `model_identifier`, `model_api_key`, `model_name`). The endpoint is used only when the
//! admin allow-listed it in `[gitlab] allowed_endpoints`; otherwise the model configured for
//! the feature serves the request. Clients for allow-listed endpoints are built once per
//! endpoint and key and kept, never per request.

use crate::config::gitlab::{AllowedEndpoint, GitLabSettings, endpoint_key};
use crate::router::ModelEntry;
use crate::state::{AppState, Started};
use devassist_backends::{OpenAiBackend, OpenAiConfig};
use devassist_core::prompt::{FimFormat, PromptFamily, PromptProfile, detect};
use devassist_core::{Backend, CallContext, Feature, GatewayError, GenerateRequest};
use futures::StreamExt;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use super::wire::ModelFields;

/// Distinct (endpoint, key) clients kept at most; the oldest goes first. Bounded so that
/// clients sending many keys cannot grow it without limit.
const MAX_CLIENTS: usize = 64;

/// The surface's shared state: the `[gitlab]` settings and the endpoint clients.
pub struct GitLabState {
    pub settings: GitLabSettings,
    clients: Mutex<Clients>,
}

#[derive(Default)]
struct Clients {
    by_key: HashMap<(String, Option<String>), Arc<dyn Backend>>,
    order: VecDeque<(String, Option<String>)>,
}

impl GitLabState {
    pub fn new(settings: GitLabSettings) -> Self {
        Self {
            settings,
            clients: Mutex::new(Clients::default()),
        }
    }

    /// The client for an allow-listed endpoint and API key, built on first use.
    fn client(
        &self,
        endpoint: &AllowedEndpoint,
        api_key: Option<&str>,
    ) -> Result<Arc<dyn Backend>, GatewayError> {
        let key = (endpoint.key.clone(), api_key.map(str::to_owned));
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| GatewayError::internal("gitlab endpoint clients lock poisoned"))?;
        if let Some(c) = clients.by_key.get(&key) {
            return Ok(c.clone());
        }
        let backend: Arc<dyn Backend> = Arc::new(OpenAiBackend::new(OpenAiConfig {
            base_url: endpoint.base_url.clone(),
            api_key: key.1.clone(),
            connect_timeout: self.settings.endpoint_connect_timeout,
            request_timeout: self.settings.endpoint_timeout,
            idle_timeout: self.settings.endpoint_timeout,
            extra_headers: Default::default(),
        })?);
        if clients.order.len() >= MAX_CLIENTS
            && let Some(oldest) = clients.order.pop_front()
        {
            clients.by_key.remove(&oldest);
        }
        clients.order.push_back(key.clone());
        clients.by_key.insert(key, backend.clone());
        tracing::info!(endpoint = %endpoint.base_url, "Client for allow-listed GitLab model endpoint");
        Ok(backend)
    }

    #[cfg(test)]
    pub(crate) fn client_count(&self) -> usize {
        self.clients.lock().map(|c| c.by_key.len()).unwrap_or(0)
    }
}

/// Where the request goes.
pub enum Via {
    /// A model from `[[models]]`, through the pool.
    Configured(Arc<ModelEntry>),
    /// An allow-listed endpoint, with the model named by the request.
    Endpoint {
        backend: Arc<dyn Backend>,
        model: String,
    },
}

/// The chosen model and how to prompt it.
pub struct Target {
    pub via: Via,
    pub feature: Feature,
    pub profile: PromptProfile,
    /// Context window in tokens, for trimming prompts.
    pub context_tokens: usize,
    /// The model's name as the gateway knows it (for response metadata).
    pub label: String,
}

impl Target {
    /// Starts the generation; errors before the first event come back as `Err`.
    pub async fn start(
        &self,
        st: &AppState,
        req: GenerateRequest,
        ctx: &CallContext,
    ) -> Result<Started, GatewayError> {
        match &self.via {
            Via::Configured(route) => st.generate(route, self.feature, req, ctx).await,
            Via::Endpoint { backend, model } => {
                let mut req = req;
                req.model = model.clone();
                // The feature's time limit applies as it does for configured models.
                let deadline = st
                    .features
                    .get(self.feature)
                    .timeout
                    .map(|t| tokio::time::Instant::now() + t);
                let work = async {
                    let mut stream = backend.generate(req, ctx).await?;
                    if let Some(at) = deadline {
                        stream = crate::deadline::limit(stream, at, self.feature);
                    }
                    match stream.next().await {
                        Some(Ok(first)) => Ok(Started {
                            first,
                            rest: stream,
                        }),
                        Some(Err(e)) => Err(e),
                        None => Err(GatewayError::backend_error("the backend sent no response")),
                    }
                };
                match deadline {
                    None => work.await,
                    Some(at) => tokio::time::timeout_at(at, work)
                        .await
                        .unwrap_or_else(|_| Err(crate::deadline::exceeded(self.feature))),
                }
            }
        }
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
        match st.gitlab.settings.allowed(raw) {
            Some(endpoint) => {
                st.check_feature(feature)?;
                if let Some(model) = requested_model {
                    let backend = st
                        .gitlab
                        .client(endpoint, m.api_key.as_deref().filter(|k| !k.is_empty()))?;
                    let family =
                        gitlab_family(m.name.as_deref()).unwrap_or_else(|| detect(model, None));
                    return Ok(Target {
                        via: Via::Endpoint {
                            backend,
                            model: model.to_owned(),
                        },
                        feature,
                        profile: PromptProfile::for_family(family),
                        context_tokens: st.gitlab.settings.endpoint_context_length as usize,
                        label: model.to_owned(),
                    });
                }
                tracing::info!(endpoint = %endpoint.base_url, "Request names no model for the endpoint: using the configured model");
            }
            None => {
                // Never echo credentials: the key has none, and unparseable URLs are not shown.
                let shown = endpoint_key(raw).unwrap_or_else(|| "<not an allowed URL>".to_owned());
                tracing::warn!(endpoint = %shown, "model_endpoint is not in [gitlab] allowed_endpoints: using the configured model");
            }
        }
    }
    let entry = st.route_feature(feature, requested_model)?;
    Ok(Target {
        profile: configured_profile(&entry, m.name.as_deref()),
        context_tokens: entry.settings.context_length as usize,
        label: entry.name().to_owned(),
        via: Via::Configured(entry),
        feature,
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

    #[test]
    fn clients_are_cached_per_endpoint_and_key_and_bounded() {
        let state = GitLabState::new(GitLabSettings::default());
        let ep = |port: u16| AllowedEndpoint {
            base_url: format!("http://127.0.0.1:{port}/v1"),
            key: format!("http://127.0.0.1:{port}/v1"),
        };
        let a = state.client(&ep(1), Some("k")).ok();
        let b = state.client(&ep(1), Some("k")).ok();
        assert!(matches!((&a, &b), (Some(a), Some(b)) if Arc::ptr_eq(a, b)));
        assert!(state.client(&ep(1), None).is_ok());
        assert_eq!(state.client_count(), 2);
        for port in 2..=(MAX_CLIENTS as u16 + 4) {
            assert!(state.client(&ep(port), None).is_ok());
        }
        assert_eq!(state.client_count(), MAX_CLIENTS);
    }
}
