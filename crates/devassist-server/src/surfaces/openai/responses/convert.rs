//! Responses input → neutral chat: `instructions` and input items become messages, `tools`
//! become function definitions (custom tools as a function with one string parameter
//! `input`), `tool_choice`, `reasoning.effort` and `text.format` become what the neutral
//! request can carry. Every refusal is a 400 naming the item (`input[3].call_id`).
//!
//! What is dropped, on purpose (docs/responses.md): `reasoning` items (their text is the
//! model's own scratchpad, often encrypted, and chat templates drop earlier turns' thinking
//! anyway); hosted tool declarations (`web_search`…), reported back as a warning header.

use super::wire::{
    CallOutputItem, ContentPart, CustomFormat, CustomTool, CustomToolCallItem, FunctionCallItem,
    FunctionTool, MessageContent, MessageItem, ResponsesBody,
};
use devassist_core::{GatewayError, Message, ResponseFormat, Role, ToolCall};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

/// The one parameter a custom tool is presented to the model with.
pub const CUSTOM_INPUT: &str = "input";

/// What an input item is. Parsed once from its `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    Message,
    FunctionCall,
    FunctionCallOutput,
    CustomToolCall,
    CustomToolCallOutput,
    Reasoning,
    /// A reference to a stored item: nothing is stored.
    Reference,
    /// Items of hosted tools and stored state devassist never produces.
    Unsupported,
    Unknown,
}

impl ItemKind {
    fn parse(t: &str) -> ItemKind {
        match t {
            "message" => ItemKind::Message,
            "function_call" => ItemKind::FunctionCall,
            "function_call_output" => ItemKind::FunctionCallOutput,
            "custom_tool_call" => ItemKind::CustomToolCall,
            "custom_tool_call_output" => ItemKind::CustomToolCallOutput,
            "reasoning" => ItemKind::Reasoning,
            "item_reference" => ItemKind::Reference,
            "web_search_call"
            | "file_search_call"
            | "computer_call"
            | "computer_call_output"
            | "code_interpreter_call"
            | "image_generation_call"
            | "local_shell_call"
            | "local_shell_call_output"
            | "shell_call"
            | "shell_call_output"
            | "apply_patch_call"
            | "apply_patch_call_output"
            | "mcp_call"
            | "mcp_list_tools"
            | "mcp_approval_request"
            | "mcp_approval_response"
            | "compaction" => ItemKind::Unsupported,
            _ => ItemKind::Unknown,
        }
    }
}

fn bad(message: impl Into<String>, param: impl Into<String>) -> GatewayError {
    GatewayError::bad_request(message).with_param(param)
}

/// Deserialises one element, naming it in the error.
fn typed<T: DeserializeOwned>(v: Value, at: &str) -> Result<T, GatewayError> {
    serde_json::from_value(v).map_err(|e| bad(format!("invalid value for `{at}`: {e}"), at))
}

/// State the gateway would need to keep: refused with a 400 saying what to send instead.
pub fn refuse_state(b: &ResponsesBody) -> Result<(), GatewayError> {
    let stateless = "devassist does not store responses: send the whole conversation in `input` on every turn (`store` is accepted, but nothing is stored)";
    if b.previous_response_id.is_some() {
        return Err(bad(
            format!("`previous_response_id` is not supported: {stateless}"),
            "previous_response_id",
        ));
    }
    if b.conversation.as_ref().is_some_and(|c| !c.is_null()) {
        return Err(bad(
            format!("`conversation` is not supported: {stateless}"),
            "conversation",
        ));
    }
    if b.prompt.as_ref().is_some_and(|p| !p.is_null()) {
        return Err(bad(
            "stored prompt templates (`prompt`) are not supported: send `instructions` and `input`",
            "prompt",
        ));
    }
    if b.background == Some(true) {
        return Err(bad(
            "`background` responses are not supported: devassist stores no responses to poll",
            "background",
        ));
    }
    Ok(())
}

/// `instructions` and `input` as chat messages.
pub fn messages(
    instructions: Option<String>,
    input: Option<Value>,
) -> Result<Vec<Message>, GatewayError> {
    let mut out = Vec::new();
    if let Some(text) = instructions.filter(|s| !s.is_empty()) {
        out.push(Message::new(Role::System, text));
    }
    let items = match input {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text)) => {
            out.push(Message::new(Role::User, text));
            Vec::new()
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(bad(
                "`input` must be a string or a list of input items",
                "input",
            ));
        }
    };
    // Call ids seen so far, with their tool's name: an output must answer one of them.
    let mut calls: HashMap<String, String> = HashMap::new();
    for (i, item) in items.into_iter().enumerate() {
        let at = format!("input[{i}]");
        let kind = match item.get("type") {
            Some(Value::String(t)) => ItemKind::parse(t),
            None if item.get("role").is_some() => ItemKind::Message,
            None if !item.is_object() => {
                return Err(bad(format!("`{at}` must be an object"), at));
            }
            _ => {
                return Err(bad(
                    format!("`{at}.type` must be a string naming the item type"),
                    format!("{at}.type"),
                ));
            }
        };
        match kind {
            ItemKind::Message => out.push(message(typed(item, &at)?, &at)?),
            ItemKind::FunctionCall => {
                let call: FunctionCallItem = typed(item, &at)?;
                let arguments =
                    serde_json::from_str(&call.arguments).unwrap_or(Value::String(call.arguments));
                calls.insert(call.call_id.clone(), call.name.clone());
                push_call(&mut out, call.call_id, call.name, arguments);
            }
            ItemKind::CustomToolCall => {
                let call: CustomToolCallItem = typed(item, &at)?;
                calls.insert(call.call_id.clone(), call.name.clone());
                push_call(
                    &mut out,
                    call.call_id,
                    call.name,
                    json!({ CUSTOM_INPUT: call.input }),
                );
            }
            ItemKind::FunctionCallOutput | ItemKind::CustomToolCallOutput => {
                let result: CallOutputItem = typed(item, &at)?;
                let Some(name) = calls.get(&result.call_id) else {
                    return Err(bad(
                        format!(
                            "No tool call found for output with call_id `{}` in `{at}`: the \
                             call (a `function_call` or `custom_tool_call` item) must come \
                             earlier in `input`",
                            result.call_id
                        ),
                        format!("{at}.call_id"),
                    ));
                };
                let (content, images) = content(result.output, &format!("{at}.output"))?;
                let mut msg = Message::new(Role::Tool, content);
                msg.images = images;
                msg.tool_name = Some(name.clone());
                msg.tool_call_id = Some(result.call_id);
                out.push(msg);
            }
            ItemKind::Reasoning => {}
            ItemKind::Reference => {
                return Err(bad(
                    format!(
                        "`{at}` is an `item_reference`: devassist stores no items, so send the item itself"
                    ),
                    format!("{at}.type"),
                ));
            }
            ItemKind::Unsupported => {
                let t = item.get("type").and_then(Value::as_str).unwrap_or_default();
                return Err(bad(
                    format!(
                        "`{at}` is a `{t}` item, which devassist does not take: it runs no hosted tools and stores no state"
                    ),
                    format!("{at}.type"),
                ));
            }
            ItemKind::Unknown => {
                let t = item.get("type").and_then(Value::as_str).unwrap_or_default();
                return Err(bad(
                    format!(
                        "unknown input item type `{t}` in `{at}`: expected `message`, `function_call`, `function_call_output`, `custom_tool_call`, `custom_tool_call_output` or `reasoning`"
                    ),
                    format!("{at}.type"),
                ));
            }
        }
    }
    if out.is_empty() {
        return Err(bad("`input` is required", "input"));
    }
    Ok(out)
}

/// A call joins the assistant message right before it (text, or earlier parallel calls).
fn push_call(out: &mut Vec<Message>, id: String, name: String, arguments: Value) {
    let call = ToolCall {
        id,
        name,
        arguments,
    };
    match out.last_mut() {
        Some(last) if last.role == Role::Assistant => last.tool_calls.push(call),
        _ => {
            let mut msg = Message::new(Role::Assistant, String::new());
            msg.tool_calls.push(call);
            out.push(msg);
        }
    }
}

fn message(m: MessageItem, at: &str) -> Result<Message, GatewayError> {
    let role = match m.role.as_str() {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        "system" | "developer" => Role::System,
        other => {
            return Err(bad(
                format!(
                    "invalid role `{other}` in `{at}`: expected `user`, `assistant`, `system` or `developer`"
                ),
                format!("{at}.role"),
            ));
        }
    };
    let (text, images) = content(m.content, &format!("{at}.content"))?;
    let mut msg = Message::new(role, text);
    msg.images = images;
    Ok(msg)
}

/// Text parts joined by newlines, and images as bare base64.
fn content(c: MessageContent, at: &str) -> Result<(String, Vec<String>), GatewayError> {
    let parts = match c {
        MessageContent::Text(t) => return Ok((t, Vec::new())),
        MessageContent::Parts(parts) => parts,
    };
    let mut texts: Vec<String> = Vec::new();
    let mut images = Vec::new();
    for (j, part) in parts.into_iter().enumerate() {
        let at = format!("{at}[{j}]");
        match typed::<ContentPart>(part, &at)? {
            ContentPart::InputText { text } | ContentPart::OutputText { text } => texts.push(text),
            ContentPart::Refusal { refusal } => texts.push(refusal),
            ContentPart::InputImage {
                image_url: Some(url),
                ..
            } => images.push(data_url(&url).ok_or_else(|| {
                bad(
                    "image URLs are not currently supported, please use base64 encoded data instead",
                    format!("{at}.image_url"),
                )
            })?),
            ContentPart::InputImage { file_id, .. } => {
                let why = if file_id.is_some() {
                    "`file_id` images are not supported (devassist stores no files): send the image as a base64 data URL in `image_url`"
                } else {
                    "`input_image` needs `image_url` (a base64 data URL)"
                };
                return Err(bad(why, at));
            }
            ContentPart::InputFile {} | ContentPart::InputAudio {} => {
                return Err(bad(
                    format!("`{at}`: file and audio inputs are not supported"),
                    format!("{at}.type"),
                ));
            }
        }
    }
    Ok((texts.join("\n"), images))
}

/// The base64 payload of an image data URL, as the chat surface accepts them.
fn data_url(url: &str) -> Option<String> {
    let (mime, b64) = url.strip_prefix("data:")?.split_once(";base64,")?;
    matches!(
        mime,
        "" | "image/jpeg" | "image/jpg" | "image/png" | "image/webp" | "image/gif"
    )
    .then(|| b64.to_owned())
}

/// The tools as the model sees them, and what the answer's calls map back to.
#[derive(Debug, Default)]
pub struct Tools {
    /// Function definitions in the neutral (`{"type":"function","function":{…}}`) shape.
    pub offered: Vec<Value>,
    /// Names of custom tools: a call of one is answered as a `custom_tool_call`.
    pub custom: BTreeSet<String>,
    /// Tool types the gateway cannot run, left out (the warning header names them).
    pub ignored: Vec<String>,
}

pub fn tools(list: Vec<Value>, choice: Option<&Value>) -> Result<Tools, GatewayError> {
    let mut out = Tools::default();
    let mut names: Vec<String> = Vec::new();
    for (i, tool) in list.into_iter().enumerate() {
        let at = format!("tools[{i}]");
        let Some(t) = tool.get("type").and_then(Value::as_str).map(str::to_owned) else {
            return Err(bad(
                format!("`{at}` must be an object with a string `type`"),
                format!("{at}.type"),
            ));
        };
        let (name, offered) = match t.as_str() {
            "function" => {
                let f: FunctionTool = typed(tool, &at)?;
                let parameters = f
                    .parameters
                    .filter(|p| !p.is_null())
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
                let mut function = json!({"name": f.name, "parameters": parameters});
                if let Some(d) = f.description {
                    function["description"] = Value::String(d);
                }
                (f.name, function)
            }
            "custom" => {
                let c: CustomTool = typed(tool, &at)?;
                let function = custom_as_function(&c);
                out.custom.insert(c.name.clone());
                (c.name, function)
            }
            _ => {
                out.ignored.push(t);
                continue;
            }
        };
        if name.is_empty() {
            return Err(bad(
                format!("`{at}.name` must not be empty"),
                format!("{at}.name"),
            ));
        }
        if names.contains(&name) {
            return Err(bad(
                format!("two tools are named `{name}`: tool names must be unique"),
                format!("{at}.name"),
            ));
        }
        names.push(name);
        out.offered
            .push(json!({"type": "function", "function": offered}));
    }
    apply_choice(&mut out, choice)?;
    Ok(out)
}

/// A custom tool as a function taking its free-form text in one string parameter.
fn custom_as_function(c: &CustomTool) -> Value {
    let mut description = c.description.clone().unwrap_or_default();
    let how = match &c.format {
        Some(CustomFormat::Grammar { syntax, definition }) => format!(
            "Put the tool's whole input, as plain text (not JSON), in `{CUSTOM_INPUT}`. It must follow this {} grammar:\n{definition}",
            syntax.as_str()
        ),
        Some(CustomFormat::Text) | None => {
            format!("Put the tool's whole input, as plain text (not JSON), in `{CUSTOM_INPUT}`.")
        }
    };
    if !description.is_empty() {
        description.push_str("\n\n");
    }
    description.push_str(&how);
    json!({
        "name": c.name,
        "description": description,
        "parameters": {
            "type": "object",
            "properties": {CUSTOM_INPUT: {"type": "string", "description": "The tool's free-form input."}},
            "required": [CUSTOM_INPUT],
            "additionalProperties": false,
        },
    })
}

/// `tool_choice` in neutral terms, for backends that can make the model call (the engine's
/// grammar). Read after [`tools`] accepted it; a hosted or unknown choice is `Auto`.
pub fn neutral_choice(choice: Option<&Value>) -> devassist_core::ToolChoice {
    use devassist_core::ToolChoice as N;
    match choice {
        Some(Value::String(s)) if s == "required" => N::Required,
        Some(Value::String(s)) if s == "none" => N::None,
        Some(Value::Object(o)) => match o.get("type").and_then(Value::as_str) {
            Some("function" | "custom") => o
                .get("name")
                .and_then(Value::as_str)
                .map_or(N::Auto, |n| N::Function(n.to_owned())),
            Some("allowed_tools") if o.get("mode").and_then(Value::as_str) == Some("required") => {
                N::Required
            }
            _ => N::Auto,
        },
        _ => N::Auto,
    }
}

/// `tool_choice`: `none` offers no tools; a named tool (or an `allowed_tools` list) offers
/// only those; `auto` and `required` offer all (nothing can force a call on every backend).
fn apply_choice(tools: &mut Tools, choice: Option<&Value>) -> Result<(), GatewayError> {
    let keep_only = |tools: &mut Tools, wanted: &[&str]| -> Result<(), GatewayError> {
        for w in wanted {
            if !tools.offered.iter().any(|t| tool_name(t) == Some(*w)) {
                return Err(bad(
                    format!("`tool_choice` names the tool `{w}`, which is not in `tools`"),
                    "tool_choice",
                ));
            }
        }
        tools
            .offered
            .retain(|t| tool_name(t).is_some_and(|n| wanted.contains(&n)));
        Ok(())
    };
    match choice {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(s)) => match s.as_str() {
            "auto" | "required" => Ok(()),
            "none" => {
                tools.offered.clear();
                Ok(())
            }
            other => Err(bad(
                format!(
                    "invalid `tool_choice` `{other}`: expected `auto`, `none`, `required` or an object"
                ),
                "tool_choice",
            )),
        },
        Some(Value::Object(o)) => match o.get("type").and_then(Value::as_str) {
            Some("function" | "custom") => {
                let name = o
                    .get("name")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("`tool_choice.name` is required", "tool_choice.name"))?;
                keep_only(tools, &[name])
            }
            Some("allowed_tools") => {
                let listed = o.get("tools").and_then(Value::as_array).ok_or_else(|| {
                    bad(
                        "`tool_choice.tools` must be a list of tools",
                        "tool_choice.tools",
                    )
                })?;
                let names: Vec<&str> = listed
                    .iter()
                    .filter(|t| {
                        matches!(
                            t.get("type").and_then(Value::as_str),
                            Some("function" | "custom")
                        )
                    })
                    .filter_map(|t| t.get("name").and_then(Value::as_str))
                    .collect();
                keep_only(tools, &names)
            }
            Some(hosted) => {
                tools.ignored.push(format!("tool_choice {hosted}"));
                Ok(())
            }
            None => Err(bad(
                "`tool_choice.type` must be a string",
                "tool_choice.type",
            )),
        },
        Some(_) => Err(bad(
            "`tool_choice` must be a string or an object",
            "tool_choice",
        )),
    }
}

fn tool_name(neutral: &Value) -> Option<&str> {
    neutral.get("function")?.get("name")?.as_str()
}

/// `reasoning.effort` as the neutral `think` value, sent only to models with the
/// `thinking` capability (others would refuse it; Codex always sends an effort).
pub fn think(effort: Option<&str>, can_think: bool) -> Result<Option<Value>, GatewayError> {
    let Some(effort) = effort else {
        return Ok(None);
    };
    let value = match effort {
        "none" => Value::Bool(false),
        "minimal" | "low" => "low".into(),
        "medium" => "medium".into(),
        "high" => "high".into(),
        "xhigh" => "max".into(),
        other => {
            return Err(bad(
                format!(
                    "invalid `reasoning.effort` `{other}`: expected `none`, `minimal`, `low`, `medium`, `high` or `xhigh`"
                ),
                "reasoning.effort",
            ));
        }
    };
    Ok(can_think.then_some(value))
}

/// `text.format` as a structured-output request.
pub fn text_format(format: Option<Value>) -> Result<Option<ResponseFormat>, GatewayError> {
    let Some(f) = format.filter(|f| !f.is_null()) else {
        return Ok(None);
    };
    match f.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(ResponseFormat::Json)),
        Some("json_schema") => f
            .get("schema")
            .filter(|s| s.is_object())
            .cloned()
            .map(|s| Some(ResponseFormat::JsonSchema(s)))
            .ok_or_else(|| {
                bad(
                    "`text.format.schema` is required for `json_schema` and must be an object",
                    "text.format.schema",
                )
            }),
        _ => Err(bad(
            "`text.format.type` must be one of `text`, `json_object`, `json_schema`",
            "text.format.type",
        )),
    }
}

/// Sampling bounds OpenAI enforces, and `max_output_tokens` within the model's context.
pub fn check_sampling(b: &ResponsesBody, context_length: u32) -> Result<(), GatewayError> {
    if let Some(t) = b.temperature.filter(|t| !(0.0..=2.0).contains(t)) {
        return Err(bad(
            format!("`temperature` must be between 0 and 2, got {t}"),
            "temperature",
        ));
    }
    if let Some(p) = b.top_p.filter(|p| !(0.0..=1.0).contains(p)) {
        return Err(bad(
            format!("`top_p` must be between 0 and 1, got {p}"),
            "top_p",
        ));
    }
    match b.max_output_tokens {
        Some(0) => Err(bad(
            "`max_output_tokens` must be at least 1",
            "max_output_tokens",
        )),
        Some(n) if n > u64::from(context_length) => Err(bad(
            format!(
                "`max_output_tokens` is {n}, more than this model's context of {context_length} tokens"
            ),
            "max_output_tokens",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[path = "convert_tests.rs"]
mod tests;
