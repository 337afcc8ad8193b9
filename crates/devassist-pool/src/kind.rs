//! The closed sets a slot is described by, decided when the gateway is built: which
//! protocol its backend speaks and which lifecycle provider runs it. The request path
//! matches on these enums; a new kind that forgets a decision does not compile.

/// The protocol a slot's backend speaks, and what follows from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Any OpenAI-compatible server (vLLM, llama.cpp, TGI, LM Studio).
    OpenAi,
    /// An Ollama server.
    Ollama,
    /// The deterministic in-process mock.
    Mock,
    /// devassist's embedded engine: OpenAI-compatible, and it reads FIM tokens from the GGUF.
    Engine,
}

impl Protocol {
    /// Name in `/status`.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::OpenAi => "openai",
            Protocol::Ollama => "ollama",
            Protocol::Mock => "mock",
            Protocol::Engine => "engine",
        }
    }

    /// Whether the backend renders fill-in-the-middle from `prompt` + `suffix` itself (from
    /// the model's own template and tokens). Otherwise the gateway renders the family's
    /// layout and sends a raw prompt (vLLM's `/v1/completions` has no `suffix`).
    pub fn renders_fim(self) -> bool {
        match self {
            Protocol::Ollama | Protocol::Engine => true,
            Protocol::OpenAi | Protocol::Mock => false,
        }
    }

    /// Whether Ollama's model management (`/api/pull`, `/api/delete`…) can pass through.
    pub fn manages_models(self) -> bool {
        match self {
            Protocol::Ollama => true,
            Protocol::OpenAi | Protocol::Mock | Protocol::Engine => false,
        }
    }
}

/// How a slot's backend is brought up and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// Always there; the pool never starts or stops it.
    AlwaysOn,
    /// A child process the pool starts and stops.
    Process,
    /// The embedded engine, a child process for one local GGUF model.
    Engine,
    /// Operator hooks (`start`/`stop` commands).
    Command,
    /// Started by an external scaler (KEDA) on the gateway's demand; the pool only waits.
    External,
}

impl ProviderKind {
    /// Name in `/status`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::AlwaysOn => "always_on",
            ProviderKind::Process => "process",
            ProviderKind::Engine => "engine",
            ProviderKind::Command => "command",
            ProviderKind::External => "external",
        }
    }
}
