//! Raw configuration as written in `devassist.toml`. Every field is documented here and in
//! `docs/configuration.md`; `validate` turns these into runtime types.
//!
//! Unknown keys are collected with `serde_ignored` instead of `deny_unknown_fields`, so
//! `devassist config check` can report every unknown key at once, not only the first.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Default, Deserialize)]
pub struct RawConfig {
    /// HTTP listener and limits.
    #[serde(default)]
    pub server: RawServer,
    /// Logging.
    #[serde(default)]
    pub log: RawLog,
    /// Where models run.
    #[serde(default)]
    pub backends: Vec<RawBackend>,
    /// What clients ask for.
    #[serde(default)]
    pub models: Vec<RawModel>,
    /// The embedded engine that serves local GGUF models.
    #[serde(default)]
    pub engine: RawEngine,
    /// Which model serves each feature, and per-feature defaults.
    #[serde(default)]
    pub features: super::features::RawFeatures,
    /// The GitLab AI Gateway surface: allow-listed model endpoints.
    #[serde(default)]
    pub gitlab: super::gitlab::RawGitLab,
    /// Offline documentation indexes for search and grounded chat.
    #[serde(default)]
    pub docs: super::docs::RawDocs,
    /// Where `/metrics` is served.
    #[serde(default)]
    pub metrics: super::telemetry::RawMetrics,
    /// Per-request usage records.
    #[serde(default)]
    pub usage: super::telemetry::RawUsage,
    /// More names or glob patterns (`claude-sonnet-*`) → the model they name.
    #[serde(default)]
    pub aliases: BTreeMap<String, String>,
    /// Keeping backends' prefix caches: volatile system-prompt lines to remove.
    #[serde(default)]
    pub prompt_cache: super::prompt_cache::RawPromptCache,
    /// Who may call the gateway: API keys, anonymous callers.
    #[serde(default)]
    pub auth: super::auth::RawAuth,
    /// The Ollama surface: model management.
    #[serde(default)]
    pub ollama: super::auth::RawOllama,
    /// Where per-key limits are counted: in memory or in a Redis shared by replicas.
    #[serde(default)]
    pub limits: super::limits::RawLimits,
    /// Secrets replaced by placeholders before a prompt leaves for a backend.
    #[serde(default)]
    pub redaction: super::redaction::RawRedaction,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawEngine {
    /// Offer every `*.gguf` in the models directory as a model. Default true.
    pub enabled: Option<bool>,
    /// Stop an engine after this long without requests (Ollama's keep_alive). Default `5m`.
    pub idle_timeout: Option<String>,
    /// Longest a request waits for an engine to load its model. Default `10m`.
    pub wake_timeout: Option<String>,
    /// Context size per parallel slot, in tokens. Default 4096.
    pub ctx: Option<u32>,
    /// Requests one engine generates together. Default 4.
    pub parallel: Option<u32>,
    /// CPU threads per engine. Default: all cores.
    pub threads: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawServer {
    /// Address to listen on. Default `127.0.0.1:11434`, the port Ollama clients expect.
    pub listen: Option<String>,
    /// Largest accepted request body in bytes. Default 16 MiB.
    pub max_body_bytes: Option<u64>,
    /// How long in-flight requests may run after SIGTERM/SIGINT. Default `30s`.
    pub shutdown_grace: Option<String>,
    /// Directory scanned for `*.gguf` files when no models are configured.
    pub models_dir: Option<String>,
    /// Threads that serve requests. Default: one per core. One is cheaper per request on
    /// small machines where the engine or other services need the other cores.
    pub worker_threads: Option<usize>,
    /// Most client connections open at once. Beyond it new connections wait in the
    /// listen backlog until one closes. Default: from the open-file limit,
    /// (limit − 256) / 2, between 64 and 16384.
    pub max_connections: Option<u64>,
    /// Most requests in progress at once, streams included. Beyond it a request is
    /// answered at once with 503 and `Retry-After: 1`, in its API's dialect; health
    /// endpoints and `/status` are exempt. Default: 1024 per core, at most half of
    /// `max_connections`.
    pub max_in_flight: Option<u64>,
    /// Longest time a request body may take to arrive after the request head. A client
    /// slower than that is answered 400 and disconnected. Default `30s`.
    pub body_timeout: Option<String>,
    /// Where devassist keeps what it writes (usage records, the API key store). Default
    /// `devassist` under `$XDG_DATA_HOME` (`~/.local/share/devassist`).
    pub data_dir: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawLog {
    /// `error`, `warn`, `info`, `debug`, `trace`, or a tracing filter directive. Default `info`.
    pub level: Option<String>,
    /// `human` (default) or `json`.
    pub format: Option<String>,
    /// Expanded logging: full prompts and answers, secrets redacted, as JSON lines in
    /// `expanded_file`. `false` (default), `true` (every generation) or `"gitlab_flag"`
    /// (requests whose `X-Gitlab-Enabled-Feature-Flags` has `expanded_ai_logging`).
    pub expanded: Option<super::logging::RawExpanded>,
    /// Where expanded logs are appended. Default `expanded.jsonl` under `server.data_dir`.
    pub expanded_file: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawBackend {
    /// Unique name that models refer to.
    pub name: Option<String>,
    /// `openai`, `ollama` or `mock`.
    pub kind: Option<String>,
    /// Base URL. For `openai` include the version prefix (`http://vllm:8000/v1`); for
    /// `ollama` the server root (`http://gpu-box:11434`).
    pub url: Option<String>,
    /// API key sent as a bearer token: `env:NAME` or `file:PATH`.
    pub api_key: Option<String>,
    /// Time allowed to open a connection. Default `5s`.
    pub connect_timeout: Option<String>,
    /// Time allowed for the response head (its first byte) after the request is sent.
    /// Default `2m`.
    pub head_timeout: Option<String>,
    /// Time allowed for a whole request, streaming included. Default `10m`.
    pub request_timeout: Option<String>,
    /// Longest silence allowed between two chunks of a stream. Default `60s`.
    pub idle_timeout: Option<String>,
    /// Extra headers sent upstream with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Forward proxy: `http://host:port`, `env:NAME` / `file:PATH` for a URL with a
    /// password, or `none`. Default: `HTTP_PROXY` / `HTTPS_PROXY` / `NO_PROXY`.
    pub proxy: Option<String>,
    /// PEM bundle of extra CA certificates trusted for an `https` url.
    pub ca_file: Option<String>,
    /// PEM client certificate shown to an `https` upstream that asks for one (mTLS).
    pub client_cert: Option<String>,
    /// PEM private key of `client_cert`.
    pub client_key: Option<String>,
    /// Settings of the `mock` backend.
    pub mock: Option<RawMock>,
    /// How the backend runs (always on, a process, operator hooks) and its limits.
    pub lifecycle: Option<super::lifecycle::RawLifecycle>,
    /// Replace secrets in prompts by placeholders before they reach this backend. Default:
    /// `[redaction] mode` (`auto`: only for backends that are not local).
    pub redact_secrets: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawMock {
    /// `echo` (repeat the prompt) or `fixed` (repeat `text`). Default `echo`.
    pub mode: Option<String>,
    /// The text `fixed` mode repeats.
    pub text: Option<String>,
    /// Tokens to emit at most. Default 16.
    pub tokens: Option<u32>,
    /// Delay before the first token. Default `0s`.
    pub ttft: Option<String>,
    /// Delay between tokens. Default `0s`.
    pub token_delay: Option<String>,
    /// Length of mock embedding vectors. Default 16.
    pub embedding_dims: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawModel {
    /// The name clients ask for (`codestral:22b`). A name without a tag also answers to
    /// `name:latest`. Matching is case-insensitive.
    pub name: Option<String>,
    /// The backend that serves it.
    pub backend: Option<String>,
    /// Several backends that serve it (replicas), instead of `backend`.
    pub backends: Option<Vec<String>>,
    /// The model name sent upstream. Default: `name`.
    pub upstream: Option<String>,
    /// Other names clients may use; one with `*`, `?` or `[` is a glob pattern
    /// (`claude-sonnet-*`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// What the model can do: `completion`, `insert` (FIM), `tools`, `vision`,
    /// `embedding`, `thinking`. Default `["completion"]`.
    pub capabilities: Option<Vec<String>>,
    /// Context window in tokens, reported to clients and used to trim prompts. Default 8192.
    pub context_length: Option<u32>,
    /// Prompt family, custom FIM template, stop words and post-processing for this model.
    pub prompt: Option<devassist_core::prompt::PromptConfig>,
}
