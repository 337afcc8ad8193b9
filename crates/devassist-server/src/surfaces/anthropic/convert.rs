//! Anthropic Messages → neutral request: the system prompt (a string or text blocks),
//! messages with their content blocks (text, image, `tool_use`, `tool_result`, earlier
//! `thinking`), tools and `tool_choice`, and sampling. Every refusal is a 400 naming the
//! field, in Anthropic's words where it has them.

use super::wire::{Block, ImageSource, TextBlock, ToolChoice, WireMessage, WireRole, WireTool};
use devassist_core::{GatewayError, Message, Role, Sampling, ToolCall};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The largest `max_tokens` accepted (0 asks only to fill the prompt cache): beyond any model's context, so larger values are a
/// client mistake. Values up to it that exceed the model's context run until the context
/// is full and stop with `max_tokens`.
pub const MAX_TOKENS_LIMIT: i64 = 1 << 20;

/// Media types Anthropic accepts for base64 images.
const IMAGE_TYPES: [&str; 4] = ["image/jpeg", "image/png", "image/gif", "image/webp"];

/// Reads one JSON value as `T`, naming `at` and the path inside it on failure.
fn read<T: DeserializeOwned>(v: Value, at: &str) -> Result<T, GatewayError> {
    serde_path_to_error::deserialize(v).map_err(|e| {
        let path = e.path().to_string();
        let loc = if path == "." {
            at.to_owned()
        } else {
            format!("{at}.{path}")
        };
        GatewayError::bad_request(format!("{loc}: {}", e.into_inner())).with_param(loc)
    })
}

fn bad(at: impl Into<String>, what: impl std::fmt::Display) -> GatewayError {
    let at = at.into();
    GatewayError::bad_request(format!("{at}: {what}")).with_param(at)
}

/// `system` as one text: a string, or its text blocks joined by blank lines.
pub fn system(v: Option<Value>) -> Result<Option<String>, GatewayError> {
    let text = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s,
        Some(Value::Array(items)) => {
            let mut parts = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                let TextBlock::Text { text, .. } = read(item, &format!("system[{i}]"))?;
                parts.push(text);
            }
            parts.join("\n\n")
        }
        Some(_) => return Err(bad("system", "must be a string or a list of text blocks")),
    };
    Ok(Some(text).filter(|t| !t.is_empty()))
}

/// Block types that only Anthropic's servers produce or understand (their tools' calls and
/// results, search results, container uploads).
const SERVER_BLOCKS: [&str; 9] = [
    "search_result",
    "server_tool_use",
    "web_search_tool_result",
    "web_fetch_tool_result",
    "code_execution_tool_result",
    "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result",
    "tool_search_tool_result",
    "container_upload",
];

/// A message's content as blocks (a string is one text block).
fn blocks(content: Value, at: &str) -> Result<Vec<Block>, GatewayError> {
    match content {
        Value::String(text) => Ok(vec![Block::Text {
            text,
            cache_control: None,
            citations: None,
        }]),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(j, item)| {
                let at = format!("{at}[{j}]");
                match item.get("type").and_then(Value::as_str) {
                    Some(kind) if SERVER_BLOCKS.contains(&kind) => Err(bad(
                        format!("{at}.type"),
                        format!("`{kind}` blocks come from Anthropic's server tools, which this gateway does not run"),
                    )),
                    _ => read(item, &at),
                }
            })
            .collect(),
        _ => Err(bad(at, "must be a string or a list of content blocks")),
    }
}

/// Base64 image data, without a `data:` prefix.
fn image(source: ImageSource, at: &str) -> Result<String, GatewayError> {
    match source {
        ImageSource::Base64 { media_type, data } => {
            if !IMAGE_TYPES.contains(&media_type.as_str()) {
                return Err(bad(
                    format!("{at}.source.media_type"),
                    format!("`{media_type}` is not one of {}", IMAGE_TYPES.join(", ")),
                ));
            }
            Ok(data)
        }
        ImageSource::Url { .. } | ImageSource::File { .. } => Err(bad(
            format!("{at}.source"),
            "only base64 image sources are supported by this gateway",
        )),
    }
}

/// The conversation: the system prompt first, then each message. A user message's
/// `tool_result` blocks become tool messages (in order, around its text), each answering
/// a `tool_use` of the assistant message just before it.
pub fn messages(
    system: Option<String>,
    wire: Vec<WireMessage>,
) -> Result<Vec<Message>, GatewayError> {
    if wire.is_empty() {
        return Err(bad("messages", "at least one message is required"));
    }
    let mut out = Vec::with_capacity(wire.len() + 1);
    if let Some(s) = system {
        out.push(Message::new(Role::System, s));
    }
    // The tool_use ids (and names) of the previous assistant message.
    let mut open_calls: HashMap<String, String> = HashMap::new();
    for (i, m) in wire.into_iter().enumerate() {
        let at = format!("messages[{i}].content");
        let content = blocks(m.content, &at)?;
        match m.role {
            WireRole::Assistant => {
                let (msg, calls) = assistant(content, &at)?;
                open_calls = calls;
                out.push(msg);
            }
            WireRole::User => {
                user(content, &at, &open_calls, &mut out)?;
                open_calls.clear();
            }
            // Between turns: tool results after it still answer the turn before it.
            WireRole::System => out.push(system_message(content, &at)?),
        }
    }
    Ok(out)
}

/// A system message inside the conversation: text blocks only.
fn system_message(content: Vec<Block>, at: &str) -> Result<Message, GatewayError> {
    let mut parts = Vec::with_capacity(content.len());
    for (j, block) in content.into_iter().enumerate() {
        match block {
            Block::Text { text, .. } => parts.push(text),
            _ => {
                return Err(bad(
                    format!("{at}[{j}]"),
                    "system messages may only hold text blocks",
                ));
            }
        }
    }
    Ok(Message::new(Role::System, parts.join("\n\n")))
}

fn assistant(
    content: Vec<Block>,
    at: &str,
) -> Result<(Message, HashMap<String, String>), GatewayError> {
    let mut msg = Message::new(Role::Assistant, String::new());
    let mut calls = HashMap::new();
    for (j, block) in content.into_iter().enumerate() {
        let at = format!("{at}[{j}]");
        match block {
            Block::Text { text, .. } => msg.content.push_str(&text),
            Block::ToolUse {
                id, name, input, ..
            } => {
                if !input.is_object() {
                    return Err(bad(format!("{at}.input"), "must be an object"));
                }
                if id.is_empty() || name.is_empty() {
                    return Err(bad(at, "a tool_use block needs an `id` and a `name`"));
                }
                calls.insert(id.clone(), name.clone());
                msg.tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments: input,
                });
            }
            Block::Thinking { thinking, .. } => {
                msg.thinking
                    .get_or_insert_with(String::new)
                    .push_str(&thinking);
            }
            Block::RedactedThinking { .. } => {}
            Block::Image { .. } | Block::ToolResult { .. } | Block::Document { .. } => {
                return Err(bad(
                    at,
                    "assistant messages may only hold text, tool_use and thinking blocks",
                ));
            }
        }
    }
    Ok((msg, calls))
}

fn user(
    content: Vec<Block>,
    at: &str,
    open_calls: &HashMap<String, String>,
    out: &mut Vec<Message>,
) -> Result<(), GatewayError> {
    let mut current = Message::new(Role::User, String::new());
    let flush = |current: &mut Message, out: &mut Vec<Message>| {
        if !current.content.is_empty() || !current.images.is_empty() {
            out.push(std::mem::replace(
                current,
                Message::new(Role::User, String::new()),
            ));
        }
    };
    for (j, block) in content.into_iter().enumerate() {
        let at = format!("{at}[{j}]");
        match block {
            Block::Text { text, .. } => {
                if !current.content.is_empty() {
                    current.content.push('\n');
                }
                current.content.push_str(&text);
            }
            Block::Image { source, .. } => current.images.push(image(source, &at)?),
            Block::ToolResult {
                tool_use_id,
                content,
                is_error,
                ..
            } => {
                let Some(name) = open_calls.get(&tool_use_id) else {
                    return Err(bad(
                        format!("{at}.tool_use_id"),
                        format!(
                            "unexpected `tool_use_id` found in `tool_result` blocks: {tool_use_id}. \
                             Each `tool_result` block must have a corresponding `tool_use` block in \
                             the previous message."
                        ),
                    ));
                };
                flush(&mut current, out);
                let mut msg = tool_result(content, &at)?;
                if is_error == Some(true) {
                    msg.content = format!("Error: {}", msg.content);
                }
                msg.tool_call_id = Some(tool_use_id);
                msg.tool_name = Some(name.clone());
                out.push(msg);
            }
            Block::Document { .. } => {
                return Err(bad(at, "document blocks are not supported by this gateway"));
            }
            Block::ToolUse { .. } | Block::Thinking { .. } | Block::RedactedThinking { .. } => {
                return Err(bad(
                    at,
                    "user messages may only hold text, image and tool_result blocks",
                ));
            }
        }
    }
    flush(&mut current, out);
    Ok(())
}

/// A tool result's content (a string, or text and image blocks) as a tool message.
fn tool_result(content: Option<Value>, at: &str) -> Result<Message, GatewayError> {
    let mut msg = Message::new(Role::Tool, String::new());
    let Some(content) = content.filter(|c| !c.is_null()) else {
        return Ok(msg);
    };
    for (k, block) in blocks(content, &format!("{at}.content"))?
        .into_iter()
        .enumerate()
    {
        let at = format!("{at}.content[{k}]");
        match block {
            Block::Text { text, .. } => {
                if !msg.content.is_empty() {
                    msg.content.push('\n');
                }
                msg.content.push_str(&text);
            }
            Block::Image { source, .. } => msg.images.push(image(source, &at)?),
            _ => return Err(bad(at, "a tool result may only hold text and image blocks")),
        }
    }
    Ok(msg)
}

/// Tool definitions in the neutral (OpenAI function) shape, narrowed by `tool_choice`:
/// `none` offers no tools, `{"type":"tool","name":…}` only that one; `auto` and `any` offer
/// them all; [`neutral_choice`] tells backends that can force a call (docs/anthropic.md).
pub fn tools(
    wire: Option<Vec<WireTool>>,
    choice: Option<ToolChoice>,
) -> Result<Vec<Value>, GatewayError> {
    let mut out = Vec::new();
    let mut names = Vec::new();
    for (i, t) in wire.unwrap_or_default().into_iter().enumerate() {
        let at = format!("tools[{i}]");
        if let Some(kind) = t.kind.as_deref().filter(|k| *k != "custom") {
            return Err(bad(
                format!("{at}.type"),
                format!(
                    "tool type `{kind}` runs on Anthropic's servers and is not supported by this \
                     gateway; define a client tool with `name` and `input_schema`"
                ),
            ));
        }
        let name = t
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad(format!("{at}.name"), "Field required"))?;
        let schema = t
            .input_schema
            .ok_or_else(|| bad(format!("{at}.input_schema"), "Field required"))?;
        if !schema.is_object() {
            return Err(bad(
                format!("{at}.input_schema"),
                "must be a JSON schema object",
            ));
        }
        let mut function = json!({"name": name, "parameters": schema});
        if let Some(d) = t.description {
            function["description"] = Value::String(d);
        }
        names.push(name);
        out.push(json!({"type": "function", "function": function}));
    }
    match choice {
        None | Some(ToolChoice::Auto { .. } | ToolChoice::Any { .. }) => Ok(out),
        Some(ToolChoice::None) => Ok(Vec::new()),
        Some(ToolChoice::Tool { name, .. }) => {
            let Some(i) = names.iter().position(|n| *n == name) else {
                return Err(bad(
                    "tool_choice.name",
                    format!("tool `{name}` is not in `tools`"),
                ));
            };
            Ok(vec![out.swap_remove(i)])
        }
    }
}

/// `tool_choice` in neutral terms, for backends that can make the model call (the engine's
/// grammar): `any` → a call to some tool, `tool` → that tool; and whether several calls may
/// come in one answer (`disable_parallel_tool_use`).
pub fn neutral_choice(choice: Option<&ToolChoice>) -> (devassist_core::ToolChoice, Option<bool>) {
    use devassist_core::ToolChoice as N;
    let parallel = |d: &Option<bool>| d.map(|disabled| !disabled);
    match choice {
        None => (N::Auto, None),
        Some(ToolChoice::Auto {
            disable_parallel_tool_use: d,
        }) => (N::Auto, parallel(d)),
        Some(ToolChoice::Any {
            disable_parallel_tool_use: d,
        }) => (N::Required, parallel(d)),
        Some(ToolChoice::Tool {
            name,
            disable_parallel_tool_use: d,
        }) => (N::Function(name.clone()), parallel(d)),
        Some(ToolChoice::None) => (N::None, None),
    }
}

/// Sampling from the request's fields. Stop sequences are not sent upstream: the surface
/// cuts at them itself so that it can say which one stopped the answer.
pub fn sampling(
    max_tokens: Option<i64>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    top_k: Option<i64>,
) -> Result<Sampling, GatewayError> {
    let max = max_tokens.ok_or_else(|| bad("max_tokens", "Field required"))?;
    if max < 0 {
        return Err(bad("max_tokens", "must be 0 or more"));
    }
    if max > MAX_TOKENS_LIMIT {
        return Err(bad(
            "max_tokens",
            format!("{max} > {MAX_TOKENS_LIMIT}, the largest value this gateway accepts"),
        ));
    }
    for (name, value) in [("temperature", temperature), ("top_p", top_p)] {
        if let Some(v) = value
            && !(0.0..=1.0).contains(&v)
        {
            return Err(bad(name, format!("must be between 0 and 1, got {v}")));
        }
    }
    if let Some(k) = top_k
        && k < 0
    {
        return Err(bad("top_k", format!("must be 0 or more, got {k}")));
    }
    Ok(Sampling {
        temperature,
        top_p,
        top_k: top_k.filter(|k| *k > 0),
        // 0 only fills the prompt cache: one token is generated and not shown.
        max_tokens: u32::try_from(max.max(1)).ok(),
        ..Sampling::default()
    })
}

/// Stop sequences: non-empty strings.
pub fn stop_sequences(v: Option<Vec<String>>) -> Result<Vec<String>, GatewayError> {
    let v = v.unwrap_or_default();
    if let Some(i) = v.iter().position(|s| s.trim().is_empty()) {
        return Err(bad(
            format!("stop_sequences[{i}]"),
            "each stop sequence must contain non-whitespace",
        ));
    }
    Ok(v)
}
