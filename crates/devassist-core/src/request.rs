//! Neutral requests: what a surface decodes a client's call into, and what a backend turns
//! into an upstream call. Field names follow neither dialect on purpose.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => "tool",
        }
    }

    /// Parses a role case-insensitively (Ollama lower-cases roles on decode).
    pub fn parse(s: &str) -> Option<Role> {
        match s.to_ascii_lowercase().as_str() {
            "system" | "developer" => Some(Role::System),
            "user" => Some(Role::User),
            "assistant" => Some(Role::Assistant),
            "tool" | "function" => Some(Role::Tool),
            _ => None,
        }
    }
}

/// A tool call made by the model. `arguments` is always a JSON value (an object for
/// well-formed calls); surfaces that need a string (OpenAI) serialise it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: Value,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// Base64-encoded images, without a `data:` prefix.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// For `role: tool`: the call this message answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    /// For `role: tool`: the name of the tool that produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<String>,
}

impl Message {
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            images: Vec::new(),
            tool_calls: Vec::new(),
            tool_call_id: None,
            tool_name: None,
            thinking: None,
        }
    }
}

/// What the model is asked to continue.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// A conversation, rendered with the model's chat template.
    Chat {
        messages: Vec<Message>,
        /// Tool definitions in the shared OpenAI/Ollama shape
        /// (`{"type":"function","function":{...}}`), passed through untouched.
        tools: Vec<Value>,
    },
    /// A text completion. With `suffix`, a fill-in-the-middle request.
    Completion {
        prompt: String,
        /// `None` and `Some("")` both mean "no FIM" (Ollama's rule); `"\n"` is FIM.
        suffix: Option<String>,
        system: Option<String>,
        /// The prompt is already fully templated: send it untouched.
        raw: bool,
        /// Ollama's per-request template override (`{{ .Prompt }}` from Tabby).
        template: Option<String>,
        images: Vec<String>,
    },
}

impl Prompt {
    /// The FIM suffix when this is a fill-in-the-middle request.
    pub fn fim_suffix(&self) -> Option<&str> {
        match self {
            Prompt::Completion {
                suffix: Some(s), ..
            } if !s.is_empty() => Some(s),
            _ => None,
        }
    }
}

/// Sampling and runtime options. `None` means "the upstream's default".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<i64>,
    pub min_p: Option<f64>,
    pub typical_p: Option<f64>,
    pub repeat_penalty: Option<f64>,
    pub repeat_last_n: Option<i64>,
    pub presence_penalty: Option<f64>,
    pub frequency_penalty: Option<f64>,
    pub seed: Option<i64>,
    /// Maximum tokens to generate; `None` is unlimited (Ollama's `num_predict: -1`).
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    /// Context window to load the model with (Ollama `num_ctx`).
    pub num_ctx: Option<u32>,
    /// Other Ollama options (`num_gpu`, `mirostat`, ...) passed through to Ollama upstreams.
    pub extra: Map<String, Value>,
}

/// Structured-output request.
#[derive(Debug, Clone, PartialEq)]
pub enum ResponseFormat {
    Json,
    JsonSchema(Value),
}

/// Which of the offered tools the model may or must call: OpenAI's `tool_choice` (Anthropic's
/// `auto`/`any`/`tool`/`none` map onto it). Backends that cannot force a call send `Auto`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides (every API's default).
    #[default]
    Auto,
    /// No call: the tools are context only (backends may leave them out).
    None,
    /// At least one call, to any offered tool.
    Required,
    /// A call to the tool of this name.
    Function(String),
}

/// How long a backend should keep the model loaded after this request (Ollama `keep_alive`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepAlive {
    Forever,
    For(Duration),
}

impl KeepAlive {
    /// Seconds as Ollama writes them back (`-1` for forever).
    pub fn as_secs_i64(self) -> i64 {
        match self {
            KeepAlive::Forever => -1,
            KeepAlive::For(d) => d.as_secs() as i64,
        }
    }

    pub fn is_zero(self) -> bool {
        matches!(self, KeepAlive::For(d) if d.is_zero())
    }
}

/// A generation request in neutral form.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateRequest {
    /// The model name: as requested by the client before routing, the upstream model name
    /// after it.
    pub model: String,
    pub prompt: Prompt,
    pub sampling: Sampling,
    pub format: Option<ResponseFormat>,
    pub keep_alive: Option<KeepAlive>,
    /// Ollama's `think` (bool or level), passed through to upstreams that understand it.
    pub think: Option<Value>,
    /// Ollama's deprecated `context` token memory.
    pub context: Option<Vec<i64>>,
    /// Whether the client wants a stream. Backends may use it to pick a non-streaming
    /// upstream call; they always answer with an event stream.
    pub stream: bool,
    /// What the gateway's prompt stage does before the request leaves (backends ignore it).
    pub task: Task,
    /// Which tools a chat's answer may or must call.
    pub tool_choice: ToolChoice,
    /// `Some(false)`: at most one call per answer; `None`: the upstream's default.
    pub parallel_tool_calls: Option<bool>,
}

/// What the gateway makes of a request's prompt before sending it, and how it cleans the
/// answer. Surfaces say what the client asked for; the pipeline's prompt stage renders it
/// in the model family's layout, one way for every surface.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Task {
    /// The prompt goes as the client wrote it. A completion prompt with a `suffix` is
    /// fill-in-the-middle of only prefix and suffix: rendered by the gateway unless the
    /// backend renders FIM itself.
    #[default]
    AsIs,
    /// Fill in the middle with this input (file, language, snippets): always rendered by
    /// the gateway in the family's layout and trimmed to the context; the answer is cleaned
    /// against the suffix.
    Fill(crate::prompt::FimInput),
    /// The client templated a fill-in-the-middle prompt itself (text or messages in
    /// `prompt`): the family's stop words apply and the answer is cleaned against `suffix`.
    Templated { suffix: String },
    /// Write code at the cursor in `input`: with an `instruction`, the family's generation
    /// prompt around it; without one, the client's own prompt as it is. Fences and chatter
    /// are removed from the answer.
    Generate {
        instruction: Option<String>,
        input: crate::prompt::FimInput,
    },
}

impl GenerateRequest {
    pub fn new(model: impl Into<String>, prompt: Prompt) -> Self {
        Self {
            model: model.into(),
            prompt,
            sampling: Sampling::default(),
            format: None,
            keep_alive: None,
            think: None,
            context: None,
            stream: true,
            task: Task::AsIs,
            tool_choice: ToolChoice::Auto,
            parallel_tool_calls: None,
        }
    }
}

/// An embeddings request.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedRequest {
    pub model: String,
    pub input: Vec<String>,
    pub dimensions: Option<u32>,
    /// Truncate inputs longer than the context (Ollama default true).
    pub truncate: bool,
    pub keep_alive: Option<KeepAlive>,
    pub options: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EmbedResponse {
    pub embeddings: Vec<Vec<f32>>,
    pub prompt_tokens: u32,
}
