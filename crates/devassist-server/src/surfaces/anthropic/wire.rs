//! Anthropic Messages request bodies as serde types (`POST /v1/messages` and
//! `/v1/messages/count_tokens`). Unknown fields are refused, as Anthropic's API refuses
//! them, except the ones its clients send that the gateway accepts and ignores (listed on
//! each type); conversion to neutral requests is in `convert.rs`.

#![expect(
    dead_code,
    reason = "fields Anthropic's schema defines are accepted and ignored: serde reads them, nothing else"
)]

use serde::Deserialize;
use serde_json::Value;

/// The body of `POST /v1/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessagesBody {
    pub model: Option<String>,
    pub messages: Option<Vec<WireMessage>>,
    /// A string or a list of text blocks (`convert.rs` reads it).
    pub system: Option<Value>,
    /// Required by Anthropic; checked in `convert.rs` with Anthropic's words.
    pub max_tokens: Option<i64>,
    pub stop_sequences: Option<Vec<String>>,
    pub stream: Option<bool>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub top_k: Option<i64>,
    pub tools: Option<Vec<WireTool>>,
    pub tool_choice: Option<ToolChoice>,
    pub metadata: Option<Metadata>,
    /// Extended thinking: accepted, not acted on (docs/anthropic.md).
    pub thinking: Option<Value>,
    // Accepted and ignored: server-side features the gateway does not have.
    pub service_tier: Option<Value>,
    pub container: Option<Value>,
    pub context_management: Option<Value>,
    pub mcp_servers: Option<Value>,
    pub output_config: Option<Value>,
    pub cache_control: Option<Value>,
    pub diagnostics: Option<Value>,
    pub inference_geo: Option<Value>,
    pub speed: Option<Value>,
    pub user_profile_id: Option<Value>,
    pub workspace_id: Option<Value>,
}

/// The body of `POST /v1/messages/count_tokens`: the same prompt, no sampling.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CountBody {
    pub model: Option<String>,
    pub messages: Option<Vec<WireMessage>>,
    pub system: Option<Value>,
    pub tools: Option<Vec<WireTool>>,
    pub tool_choice: Option<ToolChoice>,
    pub thinking: Option<Value>,
    pub context_management: Option<Value>,
    pub mcp_servers: Option<Value>,
    pub output_config: Option<Value>,
    pub output_format: Option<Value>,
    pub cache_control: Option<Value>,
    pub speed: Option<Value>,
    pub user_profile_id: Option<Value>,
    pub workspace_id: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    pub user_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TextBlock {
    Text {
        text: String,
        cache_control: Option<Value>,
        citations: Option<Value>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireMessage {
    pub role: WireRole,
    /// A string or a list of [`Block`]s, read block by block in `convert.rs` so that an
    /// error names the block.
    pub content: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WireRole {
    User,
    Assistant,
    /// A system message inside the conversation (Anthropic's
    /// `mid-conversation-system-2026-04-07`): text only.
    System,
}

/// One content block of a message.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Block {
    Text {
        text: String,
        cache_control: Option<Value>,
        citations: Option<Value>,
    },
    Image {
        source: ImageSource,
        cache_control: Option<Value>,
        transformations: Option<Value>,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
        cache_control: Option<Value>,
        caller: Option<Value>,
        toolset_name: Option<Value>,
    },
    ToolResult {
        tool_use_id: String,
        /// A string or text and image blocks.
        #[serde(default)]
        content: Option<Value>,
        is_error: Option<bool>,
        cache_control: Option<Value>,
        toolset_name: Option<Value>,
    },
    /// Earlier thinking, sent back by clients that had it on: kept as the turn's thinking.
    Thinking {
        thinking: String,
        signature: Option<String>,
    },
    RedactedThinking {
        data: String,
    },
    /// PDFs and plain-text documents.
    Document {
        source: Value,
        title: Option<String>,
        context: Option<String>,
        citations: Option<Value>,
        cache_control: Option<Value>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ImageSource {
    Base64 { media_type: String, data: String },
    Url { url: String },
    File { file_id: String },
}

/// A tool definition. Client tools carry `input_schema`; Anthropic's own tool types
/// (`bash_20250124`, `web_search_20250305`, …) have a `type` and no schema.
#[derive(Debug, Deserialize)]
pub struct WireTool {
    pub name: Option<String>,
    pub description: Option<String>,
    pub input_schema: Option<Value>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub cache_control: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ToolChoice {
    Auto {
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: String,
        disable_parallel_tool_use: Option<bool>,
    },
    None,
}
