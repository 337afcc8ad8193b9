//! Local GGUF models: every `*.gguf` in the models directory becomes a model served by
//! `devassist engine` as a managed process backend — started by the first request, stopped
//! after the idle timeout, listed in `/api/ps` while loaded.

use crate::config::{Capability, EngineSettings, ModelSettings};
use crate::model_info::{ModelInfo, template_for};
use crate::pool::process::ProcessSpec;
use crate::pool::provider::ProcessProvider;
use crate::pool::{Driver, Lifecycle, LifecycleSettings, Slot};
use crate::router::ModelEntry;
use devassist_backends::{OpenAiBackend, OpenAiConfig};
use devassist_core::Backend;
use devassist_gguf::{LocalModel, ModelMeta};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// How to run the engine: the devassist binary itself, with `engine` as the subcommand.
#[derive(Debug, Clone)]
pub struct EngineCommand {
    pub program: PathBuf,
}

/// What a local model can do. Every chat model the engine serves takes tools: in the format
/// its template teaches, or else in the engine's generic format (docs/engine.md, "Tool
/// calls"). Ollama's order: `completion`, `tools`, `insert`.
pub fn capabilities(meta: &ModelMeta) -> Vec<Capability> {
    if meta.is_embedding {
        return vec![Capability::Embedding];
    }
    let mut caps = vec![Capability::Completion, Capability::Tools];
    if meta.fim.is_some() {
        caps.push(Capability::Insert);
    }
    caps
}

fn info(local: &LocalModel, ctx: u32) -> ModelInfo {
    let m = &local.meta;
    let modified = m
        .modified
        .map(chrono::DateTime::<chrono::Utc>::from)
        .unwrap_or_else(chrono::Utc::now);
    let context = m
        .context_length
        .map(|c| c.min(u64::from(ctx)) as u32)
        .unwrap_or(ctx);
    let stop = [&m.eos_token, &m.eot_token]
        .into_iter()
        .flatten()
        .map(|t| t.text.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    ModelInfo {
        architecture: m.architecture.clone(),
        family: m.architecture.clone(),
        format: "gguf".into(),
        parameter_size: devassist_gguf::human_parameter_count(m.parameter_count),
        quantization_level: m.quantization.clone(),
        size: m.file_size,
        // Hashing a multi-GB file at start-up would delay every start: the digest identifies
        // the file by path, size and time, and `devassist_gguf::digest` gives the real one.
        digest: crate::model_info::digest_of(&format!(
            "{}\0{}\0{:?}",
            local.path.display(),
            m.file_size,
            m.modified
        )),
        modified_at: modified,
        context_length: context,
        embedding_length: m.embedding_length.map(|e| e as u32),
        template: template_for(m.fim.is_some()),
        stop,
    }
}

/// One slot and one model per local GGUF file.
pub fn discover(
    dir: &Path,
    engine: &EngineSettings,
    cmd: &EngineCommand,
    tasks: &TaskTracker,
    cancel: &CancellationToken,
) -> (Vec<Slot>, Vec<(ModelSettings, ModelInfo)>) {
    let found = match devassist_gguf::discover(dir) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "Cannot list the models directory");
            return (Vec::new(), Vec::new());
        }
    };
    for e in &found.errors {
        tracing::warn!(error = %e, "Skipping a model file that is not a readable GGUF");
    }
    let mut slots = Vec::new();
    let mut models = Vec::new();
    for local in found.models {
        let backend_name = format!("engine:{}", local.name);
        let mut args = vec![
            "engine".to_string(),
            "--model".into(),
            local.path.display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
            "--ctx".into(),
            engine.ctx.to_string(),
            "--parallel".into(),
            engine.parallel.to_string(),
            "--alias".into(),
            local.name.clone(),
        ];
        if let Some(t) = engine.threads {
            args.extend(["--threads".into(), t.to_string()]);
        }
        let spec = ProcessSpec {
            program: cmd.program.clone(),
            args,
            env: Vec::new(),
            cwd: None,
            ready_line: Some("devassist-engine listening on ".into()),
            ready_url: None,
            ready_interval: Duration::from_millis(25),
            url: None,
            api_path: "/v1".into(),
            start_timeout: engine.wake_timeout,
        };
        let lifecycle = Lifecycle::new(
            backend_name.clone(),
            LifecycleSettings {
                idle_timeout: engine.idle_timeout,
                wake_timeout: engine.wake_timeout,
                stop_grace: Duration::from_secs(5),
                on_cold: crate::pool::OnCold::Hold,
            },
            Arc::new(ProcessProvider {
                name: backend_name.clone(),
                spec,
                kind: crate::pool::ProviderKind::Engine,
            }),
            Box::new(|url| {
                let backend = OpenAiBackend::new(OpenAiConfig {
                    base_url: url.to_string(),
                    ..OpenAiConfig::default()
                })?;
                Ok(Arc::new(backend) as Arc<dyn Backend>)
            }),
            tasks.clone(),
            cancel.clone(),
        );
        slots.push(Slot::new(
            &backend_name,
            crate::pool::Protocol::Engine,
            Driver::Managed(lifecycle),
        ));
        let settings = ModelSettings {
            name: local.name.clone(),
            backend: backend_name.clone(),
            backends: vec![backend_name],
            upstream: local.name.clone(),
            aliases: Vec::new(),
            capabilities: capabilities(&local.meta),
            context_length: engine.ctx,
            prompt: devassist_core::prompt::PromptProfile::for_family(
                devassist_core::prompt::detect(&local.name, Some(&local.meta.architecture)),
            ),
        };
        models.push((settings, info(&local, engine.ctx)));
    }
    (slots, models)
}

/// Adds local models to a set of configured ones; configured names win.
pub fn merge(
    models: &mut Vec<ModelEntry>,
    slots: &mut Vec<Slot>,
    local_slots: Vec<Slot>,
    local_models: Vec<(ModelSettings, ModelInfo)>,
) {
    let taken: std::collections::HashSet<String> = models
        .iter()
        .flat_map(|m| std::iter::once(&m.settings.name).chain(&m.settings.aliases))
        .map(|n| crate::router::normalize(n))
        .collect();
    for (slot, (settings, info)) in local_slots.into_iter().zip(local_models) {
        if taken.contains(&crate::router::normalize(&settings.name)) {
            tracing::info!(model = %settings.name, "A configured model shadows the local file");
            continue;
        }
        slots.push(slot);
        models.push(ModelEntry {
            settings,
            info,
            backends: vec![slots.len() - 1],
        });
    }
}
