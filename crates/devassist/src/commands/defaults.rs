//! What `devassist serve` offers when the configuration names no models.
//!
//! When there is no configured model and no local GGUF model either (or the binary was
//! built without the engine), that is the deterministic mock backend, and the log says so
//! plainly: it does not run a real model.

use devassist_server::config::{
    BackendKind, BackendSettings, Capability, MockSettings, ModelSettings, Settings,
};
use std::time::Duration;

pub fn add_default_models(settings: &mut Settings) {
    tracing::warn!(
        "No models configured and none in the models directory: serving the built-in `mock` model, which echoes prompts and runs no real inference (run scripts/fetch-default-model.sh)"
    );
    settings.backends.push(BackendSettings {
        name: "mock".into(),
        kind: BackendKind::Mock,
        url: None,
        api_key: None,
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(600),
        idle_timeout: Duration::from_secs(60),
        headers: Default::default(),
        transport: Default::default(),
        mock: MockSettings::default(),
        lifecycle: None,
        redact_secrets: None,
    });
    settings.models.push(ModelSettings {
        name: "mock".into(),
        backend: "mock".into(),
        backends: vec!["mock".into()],
        upstream: "mock".into(),
        aliases: Vec::new(),
        capabilities: vec![
            Capability::Completion,
            Capability::Insert,
            Capability::Tools,
            Capability::Embedding,
        ],
        context_length: 8192,
        prompt: devassist_core::prompt::PromptProfile::for_family(
            devassist_core::prompt::PromptFamily::QwenCoder,
        ),
    });
}
