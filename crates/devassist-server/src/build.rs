//! Settings → gateway state: one backend client per `[[backends]]` entry, one route per
//! `[[models]]` entry.

use crate::config::{BackendKind, BackendSettings, MockMode, Settings};
use crate::model_info::ModelInfo;
use crate::pool::{Driver, Pool, Slot};
use crate::router::{ModelEntry, Router};
use crate::state::{AppState, Gateway};
use devassist_backends::{
    MockBackend, MockConfig, OllamaBackend, OllamaConfig, OpenAiBackend, OpenAiConfig,
};
use devassist_core::{Backend, GatewayError};
use std::sync::Arc;

pub fn backend(b: &BackendSettings) -> Result<Arc<dyn Backend>, GatewayError> {
    let url = b.url.clone().unwrap_or_default();
    let api_key = b.api_key.as_ref().map(|k| k.expose().to_string());
    Ok(match b.kind {
        BackendKind::OpenAi => Arc::new(OpenAiBackend::new(OpenAiConfig {
            base_url: url,
            api_key,
            connect_timeout: b.connect_timeout,
            request_timeout: b.request_timeout,
            idle_timeout: b.idle_timeout,
            extra_headers: b.headers.clone(),
        })?),
        BackendKind::Ollama => Arc::new(OllamaBackend::new(OllamaConfig {
            base_url: url,
            api_key,
            connect_timeout: b.connect_timeout,
            request_timeout: b.request_timeout,
            idle_timeout: b.idle_timeout,
            extra_headers: b.headers.clone(),
        })?),
        BackendKind::Mock => Arc::new(MockBackend::new(MockConfig {
            mode: match b.mock.mode {
                MockMode::Echo => devassist_backends::MockMode::Echo,
                MockMode::Fixed => devassist_backends::MockMode::Fixed,
            },
            text: b.mock.text.clone(),
            tokens: b.mock.tokens,
            ttft: b.mock.ttft,
            token_delay: b.mock.token_delay,
            embedding_dims: b.mock.embedding_dims,
        })),
    })
}

/// Builds the gateway state from validated settings. With `engine`, local GGUF models in
/// `models_dir` are offered too, each run by the engine on demand.
pub fn build(
    settings: &Settings,
    engine: Option<&crate::local::EngineCommand>,
) -> Result<AppState, GatewayError> {
    let tasks = tokio_util::task::TaskTracker::new();
    let cancel = tokio_util::sync::CancellationToken::new();
    let mut slots = Vec::with_capacity(settings.backends.len());
    for b in &settings.backends {
        slots.push(Slot::new(
            &b.name,
            b.kind.as_str(),
            Driver::AlwaysOn(backend(b)?),
        ));
    }
    let now = chrono::Utc::now();
    let mut models = Vec::with_capacity(settings.models.len());
    for m in &settings.models {
        let index = settings
            .backends
            .iter()
            .position(|b| b.name == m.backend)
            .ok_or_else(|| GatewayError::internal(format!("unknown backend {}", m.backend)))?;
        models.push(ModelEntry {
            info: ModelInfo::configured(m, now),
            settings: m.clone(),
            backend: index,
        });
    }
    if let (Some(cmd), true) = (engine, settings.engine.enabled) {
        let dir = devassist_gguf::models_dir(settings.server.models_dir.as_deref());
        let (local_slots, local_models) =
            crate::local::discover(&dir, &settings.engine, cmd, &tasks, &cancel);
        tracing::info!(dir = %dir.display(), models = local_models.len(), "Local models");
        crate::local::merge(&mut models, &mut slots, local_slots, local_models);
    }
    Ok(AppState(Arc::new(Gateway::new(
        settings,
        Router::new(models),
        Pool::new(slots, tasks, cancel),
    ))))
}
