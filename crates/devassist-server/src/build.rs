//! Settings → gateway state: one pool slot per `[[backends]]` entry (a client, or a
//! lifecycle that starts the backend on demand), one route per `[[models]]` entry.

use crate::config::lifecycle::ProviderSettings;
use crate::config::{BackendKind, BackendSettings, MockMode, Settings};
use crate::model_info::ModelInfo;
use crate::pool::command::CommandProvider;
use crate::pool::external::ExternalProvider;
use crate::pool::lifecycle::MakeBackend;
use crate::pool::provider::{ProcessProvider, Provider};
use crate::pool::{Driver, Lifecycle, LifecycleSettings, Pool, Protocol, ProviderKind, Slot};
use crate::router::{ModelEntry, Router};
use crate::state::{AppState, Gateway};
use devassist_backends::{HttpConfig, MockBackend, MockConfig, OllamaBackend, OpenAiBackend};
use devassist_core::{Backend, GatewayError};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub fn backend(b: &BackendSettings) -> Result<Arc<dyn Backend>, GatewayError> {
    let url = b.url.clone().unwrap_or_default();
    let api_key = b.api_key.as_ref().map(|k| k.expose().to_string());
    Ok(match b.kind {
        BackendKind::OpenAi => Arc::new(OpenAiBackend::new(http_config(b, url, api_key))?),
        BackendKind::Ollama => Arc::new(OllamaBackend::new(http_config(b, url, api_key))?),
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

/// The slot protocol of a configured backend kind.
fn protocol(kind: BackendKind) -> Protocol {
    match kind {
        BackendKind::OpenAi => Protocol::OpenAi,
        BackendKind::Ollama => Protocol::Ollama,
        BackendKind::Mock => Protocol::Mock,
    }
}

/// How to reach an `openai` or `ollama` backend.
fn http_config(b: &BackendSettings, url: String, api_key: Option<String>) -> HttpConfig {
    let t = &b.transport;
    HttpConfig {
        base_url: url,
        api_key,
        connect_timeout: b.connect_timeout,
        head_timeout: t.head_timeout,
        request_timeout: b.request_timeout,
        idle_timeout: b.idle_timeout,
        extra_headers: b.headers.clone(),
        proxy: t.proxy.clone(),
        ca_file: t.ca_file.clone(),
        client_cert: t.client_cert.clone(),
        client_key: t.client_key.clone(),
    }
}

/// One pool slot: an always-on client, or a lifecycle that starts the backend on demand
/// (`[backends.lifecycle]`), with the backend's limits.
fn slot(
    b: &BackendSettings,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
) -> Result<Slot, GatewayError> {
    let Some(l) = &b.lifecycle else {
        return Ok(Slot::new(
            &b.name,
            protocol(b.kind),
            Driver::AlwaysOn(backend(b)?),
        ));
    };
    let provider: Arc<dyn Provider> = match &l.provider {
        ProviderSettings::AlwaysOn => {
            let driver = Driver::AlwaysOn(backend(b)?);
            return Ok(Slot::new(&b.name, protocol(b.kind), driver).with_limits(l.limits));
        }
        ProviderSettings::Process(spec) => Arc::new(ProcessProvider {
            name: b.name.clone(),
            spec: spec.clone(),
            kind: ProviderKind::Process,
        }),
        ProviderSettings::Command(spec) => Arc::new(CommandProvider {
            name: b.name.clone(),
            spec: Arc::new(spec.clone()),
        }),
        ProviderSettings::External(spec) => Arc::new(ExternalProvider::new(
            b.name.clone(),
            spec.clone(),
            b.api_key.as_ref().map(|k| k.expose().to_string()),
        )),
    };
    // The client is made for each start, with the URL the backend reported.
    let template = b.clone();
    let make_backend: MakeBackend = Box::new(move |url: &str| {
        backend(&BackendSettings {
            url: Some(url.to_string()),
            ..template.clone()
        })
    });
    let lifecycle = Lifecycle::new(
        b.name.clone(),
        LifecycleSettings {
            idle_timeout: l.idle_timeout,
            wake_timeout: l.wake_timeout,
            stop_grace: l.stop_grace,
            on_cold: l.on_cold,
        },
        provider,
        make_backend,
        tasks.clone(),
        cancel.clone(),
    );
    Ok(Slot::new(&b.name, protocol(b.kind), Driver::Managed(lifecycle)).with_limits(l.limits))
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
        slots.push(slot(b, &tasks, &cancel)?);
    }
    let now = chrono::Utc::now();
    let mut models = Vec::with_capacity(settings.models.len());
    for m in &settings.models {
        let mut backends = Vec::with_capacity(m.backends.len());
        for name in &m.backends {
            let index = settings
                .backends
                .iter()
                .position(|b| &b.name == name)
                .ok_or_else(|| GatewayError::internal(format!("unknown backend {name}")))?;
            backends.push(index);
        }
        models.push(ModelEntry {
            info: ModelInfo::configured(m, now),
            settings: m.clone(),
            backends,
        });
    }
    if let (Some(cmd), true) = (engine, settings.engine.enabled) {
        let dir = devassist_gguf::models_dir(settings.server.models_dir.as_deref());
        let (local_slots, local_models) =
            crate::local::discover(&dir, &settings.engine, cmd, &tasks, &cancel);
        tracing::info!(dir = %dir.display(), models = local_models.len(), "Local models");
        crate::local::merge(&mut models, &mut slots, local_slots, local_models);
    }
    // GitLab's allow-listed endpoints come last, so configured indexes stay as they are.
    let first_endpoint = slots.len();
    slots.extend(crate::endpoints::slots(&settings.gitlab));
    let auth = crate::auth::Auth::new(&settings.auth, &settings.server.data_dir, &tasks, &cancel)
        .map_err(|e| GatewayError::internal(format!("auth: {e}")))?;
    let (limit_tasks, limit_cancel) = (tasks.clone(), cancel.clone());
    let redaction = redaction(settings, slots.len(), first_endpoint);
    let mut gateway = Gateway::new(
        settings,
        Router::with_aliases(models, &settings.aliases)?,
        Pool::new(slots, tasks, cancel),
    );
    gateway.auth = auth;
    gateway.auth.limiters = crate::auth::limits::Limiters::new(
        &settings.limits,
        gateway.telemetry.metrics.limit_store(),
        &limit_tasks,
        &limit_cancel,
    )
    .map_err(GatewayError::internal)?;
    gateway.redaction = redaction;
    gateway.gitlab.endpoint_slots = (first_endpoint..)
        .take(settings.gitlab.allowed_endpoints.len())
        .collect();
    gateway.docs = Arc::new(load_docs(&settings.docs)?);
    Ok(AppState(Arc::new(gateway)))
}

/// Which slots get redacted prompts: configured backends as their settings say, the
/// engine's local models never (unless `mode = "always"`), GitLab's allow-listed endpoints
/// by their URL's host. Slots are in that order (configured, local, endpoints).
fn redaction(
    settings: &Settings,
    slots: usize,
    first_endpoint: usize,
) -> crate::pipeline::Redaction {
    let policy = &settings.redaction;
    let per_slot = (0..slots)
        .map(|i| match settings.backends.get(i) {
            Some(b) => policy.for_backend(b),
            None if i < first_endpoint => policy.decide(None, true),
            None => settings
                .gitlab
                .allowed_endpoints
                .get(i - first_endpoint)
                .is_none_or(|e| policy.for_url(&e.base_url)),
        })
        .collect::<Vec<_>>();
    let redacted: Vec<&str> = settings
        .backends
        .iter()
        .zip(&per_slot)
        .filter_map(|(b, on)| on.then_some(b.name.as_str()))
        .collect();
    if !redacted.is_empty() {
        tracing::info!(backends = %redacted.join(","), "Secrets in prompts to these backends are replaced by placeholders");
    }
    crate::pipeline::Redaction::new(per_slot)
}

/// Opens the configured docs indexes; a missing or corrupt file stops start-up with an
/// error naming it, and `chat_index` must name a loaded index.
fn load_docs(
    docs: &crate::config::DocsSettings,
) -> Result<devassist_search::api::DocsIndexes, GatewayError> {
    let set = devassist_search::api::DocsIndexes::open_all(&docs.indexes)
        .map_err(|e| GatewayError::internal(format!("docs.indexes: {e}")))?;
    if let Some(name) = &docs.chat_index
        && set.get(Some(name)).is_err()
    {
        let names: Vec<String> = set.infos().into_iter().map(|i| i.name).collect();
        return Err(GatewayError::internal(format!(
            "docs.chat_index: no loaded index is named `{name}` (loaded: {})",
            names.join(", ")
        )));
    }
    for info in set.infos() {
        tracing::info!(index = %info.name, "Docs index loaded");
    }
    Ok(set)
}
