//! Neutral request → OpenAI-compatible request body, and which endpoint gets it.
//!
//! Pure functions: no I/O, snapshot-tested in `tests/request.rs`.

use devassist_core::{
    EmbedRequest, GenerateRequest, Message, Prompt, ResponseFormat, Role, Sampling, ToolCall,
    ToolChoice,
};
use serde_json::{Map, Value, json};

/// The upstream route a generation goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Chat,
    Completions,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "/chat/completions",
            Endpoint::Completions => "/completions",
        }
    }
}

/// Builds the upstream body. FIM and already-templated prompts go to `/completions`
/// untouched; everything else becomes a chat so the server applies its chat template
/// (Ollama's rule for templated `generate`).
pub(crate) fn generate_body(req: &GenerateRequest) -> (Endpoint, Value) {
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    let endpoint = match &req.prompt {
        Prompt::Chat { messages, tools } => {
            let messages: Vec<Value> = messages.iter().map(message).collect();
            body.insert("messages".into(), Value::Array(messages));
            if !tools.is_empty() {
                body.insert("tools".into(), Value::Array(tools.clone()));
                if let Some(choice) = tool_choice(&req.tool_choice) {
                    body.insert("tool_choice".into(), choice);
                }
                if let Some(parallel) = req.parallel_tool_calls {
                    body.insert("parallel_tool_calls".into(), json!(parallel));
                }
            }
            Endpoint::Chat
        }
        Prompt::Completion {
            prompt,
            system,
            raw,
            template,
            images,
            ..
        } => {
            if let Some(suffix) = req.prompt.fim_suffix() {
                body.insert("prompt".into(), json!(prompt));
                body.insert("suffix".into(), json!(suffix));
                Endpoint::Completions
            } else if *raw || template.as_deref().is_some_and(is_prompt_only) {
                body.insert("prompt".into(), json!(prompt));
                Endpoint::Completions
            } else {
                let mut messages = Vec::new();
                if let Some(system) = system.as_deref().filter(|s| !s.is_empty()) {
                    messages.push(message(&Message::new(Role::System, system)));
                }
                let mut user = Message::new(Role::User, prompt.as_str());
                user.images.clone_from(images);
                messages.push(message(&user));
                body.insert("messages".into(), Value::Array(messages));
                Endpoint::Chat
            }
        }
    };
    sampling(&req.sampling, &mut body);
    if let Some(format) = &req.format {
        body.insert("response_format".into(), response_format(format));
    }
    if endpoint == Endpoint::Chat {
        think(req.think.as_ref(), &mut body);
    }
    body.insert("stream".into(), json!(req.stream));
    if req.stream {
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    (endpoint, Value::Object(body))
}

pub(crate) fn embed_body(req: &EmbedRequest) -> Value {
    let mut body = json!({
        "model": req.model,
        "input": req.input,
        "encoding_format": "float",
    });
    if let (Some(dims), Some(obj)) = (req.dimensions, body.as_object_mut()) {
        obj.insert("dimensions".into(), json!(dims));
    }
    body
}

/// Tabby sends `template: "{{ .Prompt }}"` to mean "my prompt is already complete".
fn is_prompt_only(template: &str) -> bool {
    template.split_whitespace().collect::<String>() == "{{.Prompt}}"
}

fn message(m: &Message) -> Value {
    let mut obj = Map::new();
    obj.insert("role".into(), json!(m.role.as_str()));
    // Only user messages may carry image parts in the OpenAI schema.
    if m.role == Role::User && !m.images.is_empty() {
        let mut parts = vec![json!({"type": "text", "text": m.content})];
        parts.extend(
            m.images
                .iter()
                .map(|img| json!({"type": "image_url", "image_url": {"url": data_url(img)}})),
        );
        obj.insert("content".into(), Value::Array(parts));
    } else {
        obj.insert("content".into(), json!(m.content));
    }
    if !m.tool_calls.is_empty() {
        let calls: Vec<Value> = m.tool_calls.iter().map(tool_call).collect();
        obj.insert("tool_calls".into(), Value::Array(calls));
    }
    if let (Role::Tool, Some(id)) = (m.role, &m.tool_call_id) {
        obj.insert("tool_call_id".into(), json!(id));
    }
    Value::Object(obj)
}

/// OpenAI's `tool_choice`; `auto`, the default, is left out.
fn tool_choice(choice: &ToolChoice) -> Option<Value> {
    match choice {
        ToolChoice::Auto => None,
        ToolChoice::None => Some(json!("none")),
        ToolChoice::Required => Some(json!("required")),
        ToolChoice::Function(name) => Some(json!({"type": "function", "function": {"name": name}})),
    }
}

fn tool_call(call: &ToolCall) -> Value {
    // OpenAI carries arguments as a JSON string; a raw string we could not parse earlier
    // goes back exactly as the model produced it.
    let arguments = match &call.arguments {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    };
    json!({
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": arguments},
    })
}

/// Neutral images are bare base64; OpenAI wants a data URL with a media type, which the
/// first bytes of the encoded image give away.
fn data_url(image: &str) -> String {
    if image.starts_with("data:") {
        return image.to_owned();
    }
    let mime = if image.starts_with("iVBORw0KGgo") {
        "image/png"
    } else if image.starts_with("R0lGOD") {
        "image/gif"
    } else if image.starts_with("UklGR") {
        "image/webp"
    } else {
        "image/jpeg"
    };
    format!("data:{mime};base64,{image}")
}

fn sampling(s: &Sampling, body: &mut Map<String, Value>) {
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            body.insert(key.into(), value);
        }
    };
    put("max_tokens", s.max_tokens.map(Value::from));
    put("temperature", s.temperature.map(Value::from));
    put("top_p", s.top_p.map(Value::from));
    put("seed", s.seed.map(Value::from));
    put("presence_penalty", s.presence_penalty.map(Value::from));
    put("frequency_penalty", s.frequency_penalty.map(Value::from));
    // Not in OpenAI's schema, but vLLM and llama-server read them from the body.
    put("top_k", s.top_k.map(Value::from));
    put("min_p", s.min_p.map(Value::from));
    put("repeat_penalty", s.repeat_penalty.map(Value::from));
    if !s.stop.is_empty() {
        put("stop", Some(json!(s.stop)));
    }
}

fn response_format(format: &ResponseFormat) -> Value {
    match format {
        ResponseFormat::Json => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema(schema) => json!({
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": schema},
        }),
    }
}

/// Ollama's `think`: a bool toggles the chat template's thinking switch (vLLM and
/// llama-server read `chat_template_kwargs`); a level becomes `reasoning_effort`.
fn think(think: Option<&Value>, body: &mut Map<String, Value>) {
    match think {
        Some(Value::Bool(on)) => {
            body.insert(
                "chat_template_kwargs".into(),
                json!({"enable_thinking": on}),
            );
        }
        Some(Value::String(level)) if !level.is_empty() => {
            body.insert("reasoning_effort".into(), json!(level));
        }
        _ => {}
    }
}
