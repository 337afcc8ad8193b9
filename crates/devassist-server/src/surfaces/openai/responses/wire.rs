//! The Responses API's request body (`POST /v1/responses`) as serde types. `input`, `tools`
//! and `tool_choice` stay JSON values here: `convert.rs` reads them item by item, so a bad
//! item is reported by its index (`input[3]`) rather than as "no variant matched".

use serde::Deserialize;
use serde_json::Value;

/// The request body. Fields devassist accepts but does not act on are listed so that a
/// wrong type is still a 400 naming the field.
#[derive(Debug, Default, Deserialize)]
pub struct ResponsesBody {
    pub model: Option<String>,
    /// A string (one user message) or a list of input items.
    pub input: Option<Value>,
    pub instructions: Option<String>,
    pub tools: Option<Vec<Value>>,
    pub tool_choice: Option<Value>,
    pub parallel_tool_calls: Option<bool>,
    pub max_output_tokens: Option<u64>,
    pub max_tool_calls: Option<u64>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_logprobs: Option<u32>,
    pub reasoning: Option<ReasoningParam>,
    pub text: Option<TextParam>,
    pub metadata: Option<serde_json::Map<String, Value>>,
    pub user: Option<String>,
    pub prompt_cache_key: Option<String>,
    pub prompt_cache_retention: Option<String>,
    pub safety_identifier: Option<String>,
    pub service_tier: Option<String>,
    /// Extra output OpenAI can add (`reasoning.encrypted_content`…): devassist has none.
    #[expect(
        dead_code,
        reason = "accepted and type-checked; there is nothing to include"
    )]
    pub include: Option<Vec<String>>,
    pub stream: Option<bool>,
    #[expect(
        dead_code,
        reason = "accepted and checked for unknown options; none applies"
    )]
    pub stream_options: Option<StreamOptions>,
    /// Accepted either way: nothing is stored.
    #[expect(dead_code, reason = "accepted either way; nothing is stored")]
    pub store: Option<bool>,
    /// Refused: responses are not stored (`convert::refuse_state`).
    pub previous_response_id: Option<String>,
    pub conversation: Option<Value>,
    pub background: Option<bool>,
    pub truncation: Option<Truncation>,
    /// A stored prompt template: refused, nothing is stored.
    pub prompt: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ReasoningParam {
    pub effort: Option<String>,
    pub summary: Option<String>,
    /// The deprecated spelling of `summary`.
    pub generate_summary: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct TextParam {
    pub format: Option<Value>,
    pub verbosity: Option<String>,
}

/// `stream_options`: only OpenAI's one option; anything else is a 400 naming it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
    /// Random padding against length side channels: devassist sends none.
    #[expect(dead_code, reason = "accepted and type-checked; no padding is sent")]
    pub include_obfuscation: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Truncation {
    Auto,
    Disabled,
}

/// A `message` input item (`type` may be left out, as in OpenAI's "easy" input message).
#[derive(Debug, Deserialize)]
pub struct MessageItem {
    pub role: String,
    pub content: MessageContent,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum MessageContent {
    Text(String),
    Parts(Vec<Value>),
}

/// One content part of a message or of a tool's output.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    InputText {
        text: String,
    },
    OutputText {
        text: String,
    },
    Refusal {
        refusal: String,
    },
    InputImage {
        image_url: Option<String>,
        file_id: Option<String>,
    },
    InputFile {},
    InputAudio {},
}

/// A `function_call` item: a call the model made in an earlier turn.
#[derive(Debug, Deserialize)]
pub struct FunctionCallItem {
    pub call_id: String,
    pub name: String,
    /// A JSON text, as OpenAI sends it.
    pub arguments: String,
}

/// A `custom_tool_call` item: a free-form tool call from an earlier turn.
#[derive(Debug, Deserialize)]
pub struct CustomToolCallItem {
    pub call_id: String,
    pub name: String,
    pub input: String,
}

/// A `function_call_output` or `custom_tool_call_output` item.
#[derive(Debug, Deserialize)]
pub struct CallOutputItem {
    pub call_id: String,
    pub output: MessageContent,
}

/// A `function` tool.
#[derive(Debug, Deserialize)]
pub struct FunctionTool {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Option<Value>,
}

/// A `custom` (free-form) tool, such as Codex's `apply_patch`.
#[derive(Debug, Deserialize)]
pub struct CustomTool {
    pub name: String,
    pub description: Option<String>,
    pub format: Option<CustomFormat>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CustomFormat {
    Text,
    Grammar {
        syntax: GrammarSyntax,
        definition: String,
    },
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GrammarSyntax {
    Lark,
    Regex,
}

impl GrammarSyntax {
    pub fn as_str(self) -> &'static str {
        match self {
            GrammarSyntax::Lark => "Lark",
            GrammarSyntax::Regex => "regular-expression",
        }
    }
}
