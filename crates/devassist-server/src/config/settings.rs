//! Validated runtime configuration. Built only by `validate`; everything here is checked.

use super::secret::Secret;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub log: LogSettings,
    pub backends: Vec<BackendSettings>,
    pub models: Vec<ModelSettings>,
    pub engine: EngineSettings,
    pub features: super::Features,
    pub gitlab: super::gitlab::GitLabSettings,
    pub docs: super::DocsSettings,
    pub metrics: super::telemetry::MetricsSettings,
    pub usage: super::telemetry::UsageSettings,
    /// `[aliases]`: name or pattern → model name, checked against the models at build.
    pub aliases: Vec<(String, String)>,
    pub prompt_cache: super::PromptCacheSettings,
    pub auth: super::auth::AuthSettings,
    /// `[limits]`: where per-key limits are counted.
    pub limits: super::limits::LimitsSettings,
    pub redaction: super::redaction::RedactionSettings,
}

#[derive(Debug, Clone)]
pub struct EngineSettings {
    pub enabled: bool,
    /// `None` keeps engines loaded forever.
    pub idle_timeout: Option<Duration>,
    pub wake_timeout: Duration,
    pub ctx: u32,
    pub parallel: u32,
    pub threads: Option<u32>,
}

impl Default for EngineSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            idle_timeout: Some(Duration::from_secs(300)),
            wake_timeout: Duration::from_secs(600),
            ctx: 4096,
            parallel: 4,
            threads: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub shutdown_grace: Duration,
    pub models_dir: Option<PathBuf>,
    /// `None`: one per core.
    pub worker_threads: Option<usize>,
    /// `None`: sized from the open-file limit at start-up (`crate::limits`).
    pub max_connections: Option<usize>,
    /// `None`: sized from the cores and `max_connections` at start-up.
    pub max_in_flight: Option<usize>,
    pub body_timeout: Duration,
    /// Where usage records and the API key store are written (`server.data_dir`, else
    /// `devassist` under `$XDG_DATA_HOME`).
    pub data_dir: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Clone)]
pub struct LogSettings {
    pub level: String,
    pub format: LogFormat,
    /// Full prompts and answers, redacted, in a file of their own.
    pub expanded: super::logging::ExpandedLogSettings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    OpenAi,
    Ollama,
    Mock,
}

impl BackendKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BackendKind::OpenAi => "openai",
            BackendKind::Ollama => "ollama",
            BackendKind::Mock => "mock",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MockMode {
    Echo,
    Fixed,
}

#[derive(Debug, Clone)]
pub struct MockSettings {
    pub mode: MockMode,
    pub text: String,
    pub tokens: u32,
    pub ttft: Duration,
    pub token_delay: Duration,
    pub embedding_dims: usize,
}

impl Default for MockSettings {
    fn default() -> Self {
        Self {
            mode: MockMode::Echo,
            text: "hello from the devassist mock backend".into(),
            tokens: 16,
            ttft: Duration::ZERO,
            token_delay: Duration::ZERO,
            embedding_dims: 16,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BackendSettings {
    pub name: String,
    pub kind: BackendKind,
    /// Present for every kind but `mock`.
    pub url: Option<String>,
    pub api_key: Option<Secret>,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub idle_timeout: Duration,
    pub headers: BTreeMap<String, String>,
    /// Head timeout, proxy, CA bundle and client certificate.
    pub transport: super::transport::TransportSettings,
    pub mock: MockSettings,
    /// `None`: always on, no limits.
    pub lifecycle: Option<super::lifecycle::BackendLifecycle>,
    /// `redact_secrets`: `None` follows `[redaction] mode`.
    pub redact_secrets: Option<bool>,
}

/// What a model can do, as Ollama's `/api/show` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Capability {
    Completion,
    Insert,
    Tools,
    Vision,
    Embedding,
    Thinking,
}

impl Capability {
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Completion => "completion",
            Capability::Insert => "insert",
            Capability::Tools => "tools",
            Capability::Vision => "vision",
            Capability::Embedding => "embedding",
            Capability::Thinking => "thinking",
        }
    }

    pub fn parse(s: &str) -> Option<Capability> {
        Some(match s {
            "completion" => Capability::Completion,
            "insert" => Capability::Insert,
            "tools" => Capability::Tools,
            "vision" => Capability::Vision,
            "embedding" => Capability::Embedding,
            "thinking" => Capability::Thinking,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct ModelSettings {
    pub name: String,
    /// The first of `backends`.
    pub backend: String,
    /// Every backend that serves the model (replicas), `backend` first.
    pub backends: Vec<String>,
    pub upstream: String,
    pub aliases: Vec<String>,
    pub capabilities: Vec<Capability>,
    pub context_length: u32,
    /// How prompts for this model are built: family, FIM layout, stops, post-processing.
    pub prompt: devassist_core::prompt::PromptProfile,
}
