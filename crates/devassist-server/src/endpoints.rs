//! GitLab's allow-listed model endpoints as pool slots.
//!
//! GitLab self-managed names the self-hosted model's URL in every request
//! (`model_endpoint`). Each URL the admin allow-listed in `[gitlab] allowed_endpoints`
//! becomes one pool slot when the gateway is built, named `gitlab:<url>`: the pool's
//! limits, statistics, `/status`, health tracking and the pipeline's deadline apply to it
//! like to any configured backend. The request's model and API key travel with the request
//! (`model_identifier`, `model_api_key`), so the slot's backend keeps one upstream client
//! per key, bounded.

use crate::config::gitlab::{AllowedEndpoint, GitLabSettings};
use crate::config::{Capability, ModelSettings};
use crate::pool::{Driver, Limits, Protocol, Slot};
use crate::router::ModelEntry;
use crate::state::Gateway;
use devassist_backends::{OpenAiBackend, OpenAiConfig};
use devassist_core::prompt::PromptProfile;
use devassist_core::{
    Backend, CallContext, EmbedRequest, EmbedResponse, EventStream, GatewayError, GenerateRequest,
    UpstreamKey,
};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Distinct API keys an endpoint keeps clients for; the least recently added goes first.
/// Bounded so that clients sending many keys cannot grow it without limit.
const MAX_CLIENTS: usize = 64;

/// The slot name of an allow-listed endpoint.
pub fn slot_name(endpoint: &AllowedEndpoint) -> String {
    format!("gitlab:{}", endpoint.key)
}

/// One pool slot per allow-listed endpoint, in the order of the allow-list.
pub fn slots(settings: &GitLabSettings) -> Vec<Slot> {
    settings
        .allowed_endpoints
        .iter()
        .map(|endpoint| {
            let backend = EndpointBackend {
                config: OpenAiConfig {
                    base_url: endpoint.base_url.clone(),
                    api_key: None,
                    connect_timeout: settings.endpoint_connect_timeout,
                    request_timeout: settings.endpoint_timeout,
                    idle_timeout: settings.endpoint_timeout,
                    ..OpenAiConfig::default()
                },
                clients: Mutex::new(Clients::default()),
            };
            Slot::new(
                slot_name(endpoint),
                Protocol::OpenAi,
                Driver::AlwaysOn(Arc::new(backend)),
            )
            .with_limits(Limits {
                max_concurrent: settings.endpoint_max_concurrent,
                max_queue: settings.endpoint_max_queue,
            })
        })
        .collect()
}

impl Gateway {
    /// The route of `model` on the `i`th allow-listed endpoint's slot, prompted as
    /// `profile` says (GitLab's `model_name`).
    pub fn endpoint_route(
        &self,
        i: usize,
        model: &str,
        profile: &PromptProfile,
    ) -> Result<Arc<ModelEntry>, GatewayError> {
        let slot = self
            .gitlab
            .endpoint_slots
            .get(i)
            .and_then(|&index| Some((index, self.pool.slots().get(index)?)));
        let Some((index, slot)) = slot else {
            return Err(GatewayError::internal(
                "allow-listed endpoint without a slot",
            ));
        };
        let settings = ModelSettings {
            name: model.to_owned(),
            backend: slot.name.clone(),
            backends: vec![slot.name.clone()],
            upstream: model.to_owned(),
            aliases: Vec::new(),
            capabilities: vec![Capability::Completion],
            context_length: self.gitlab.settings.endpoint_context_length,
            prompt: profile.clone(),
        };
        Ok(Arc::new(ModelEntry {
            info: crate::model_info::ModelInfo::configured(&settings, chrono::Utc::now()),
            settings,
            backends: vec![index],
        }))
    }
}

/// An OpenAI-compatible endpoint called with the API key each request brings.
struct EndpointBackend {
    config: OpenAiConfig,
    clients: Mutex<Clients>,
}

#[derive(Default)]
struct Clients {
    by_key: HashMap<Option<UpstreamKey>, Arc<OpenAiBackend>>,
    order: VecDeque<Option<UpstreamKey>>,
}

impl EndpointBackend {
    /// The client for the request's key, built on first use.
    fn client(&self, ctx: &CallContext) -> Result<Arc<OpenAiBackend>, GatewayError> {
        let key = ctx.upstream_key.clone().filter(|k| !k.0.is_empty());
        let mut clients = self
            .clients
            .lock()
            .map_err(|_| GatewayError::internal("endpoint clients lock poisoned"))?;
        if let Some(c) = clients.by_key.get(&key) {
            return Ok(c.clone());
        }
        let client = Arc::new(OpenAiBackend::new(OpenAiConfig {
            api_key: key.as_ref().map(|k| k.0.clone()),
            ..self.config.clone()
        })?);
        if clients.order.len() >= MAX_CLIENTS
            && let Some(oldest) = clients.order.pop_front()
        {
            clients.by_key.remove(&oldest);
        }
        clients.order.push_back(key.clone());
        clients.by_key.insert(key, client.clone());
        Ok(client)
    }

    #[cfg(test)]
    fn client_count(&self) -> usize {
        self.clients.lock().map(|c| c.by_key.len()).unwrap_or(0)
    }
}

#[async_trait::async_trait]
impl Backend for EndpointBackend {
    async fn generate(
        &self,
        req: GenerateRequest,
        ctx: &CallContext,
    ) -> Result<EventStream, GatewayError> {
        self.client(ctx)?.generate(req, ctx).await
    }

    async fn embed(
        &self,
        req: EmbedRequest,
        ctx: &CallContext,
    ) -> Result<EmbedResponse, GatewayError> {
        self.client(ctx)?.embed(req, ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_are_kept_per_key_and_bounded() {
        let backend = EndpointBackend {
            config: OpenAiConfig {
                base_url: "http://127.0.0.1:1/v1".into(),
                ..OpenAiConfig::default()
            },
            clients: Mutex::new(Clients::default()),
        };
        let ctx = |key: Option<&str>| {
            let mut ctx = CallContext::new("id");
            ctx.upstream_key = key.map(|k| UpstreamKey(k.into()));
            ctx
        };
        let a = backend.client(&ctx(Some("k"))).ok();
        let b = backend.client(&ctx(Some("k"))).ok();
        assert!(matches!((&a, &b), (Some(a), Some(b)) if Arc::ptr_eq(a, b)));
        assert!(backend.client(&ctx(None)).is_ok());
        assert!(
            backend.client(&ctx(Some(""))).is_ok(),
            "an empty key is no key"
        );
        assert_eq!(backend.client_count(), 2);
        for n in 0..MAX_CLIENTS + 4 {
            assert!(backend.client(&ctx(Some(&format!("key-{n}")))).is_ok());
        }
        assert_eq!(backend.client_count(), MAX_CLIENTS);
    }
}
