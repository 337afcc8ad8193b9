//! Neutral request → Ollama native request body (`/api/chat`, `/api/generate`,
//! `/api/embed`), keeping everything Ollama understands: options, keep_alive, raw, suffix,
//! template, format, think and context.
//!
//! Pure functions: no I/O, snapshot-tested in `tests/request.rs`.

use devassist_core::{
    EmbedRequest, GenerateRequest, Message, Prompt, ResponseFormat, Sampling, ToolChoice,
};
use serde_json::{Map, Value, json};

/// The upstream route a generation goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Chat,
    Generate,
}

impl Endpoint {
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Chat => "/api/chat",
            Endpoint::Generate => "/api/generate",
        }
    }
}

pub(crate) fn generate_body(req: &GenerateRequest) -> (Endpoint, Value) {
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    let endpoint = match &req.prompt {
        Prompt::Chat { messages, tools } => {
            let messages: Vec<Value> = messages.iter().map(message).collect();
            body.insert("messages".into(), Value::Array(messages));
            // Ollama has no `tool_choice`: "none" is met by not offering the tools.
            if !tools.is_empty() && req.tool_choice != ToolChoice::None {
                body.insert("tools".into(), Value::Array(tools.clone()));
            }
            Endpoint::Chat
        }
        Prompt::Completion {
            prompt,
            suffix,
            system,
            raw,
            template,
            images,
        } => {
            body.insert("prompt".into(), json!(prompt));
            // `""` is kept as given: Ollama itself reads it as "no FIM".
            if let Some(suffix) = suffix {
                body.insert("suffix".into(), json!(suffix));
            }
            if let Some(system) = system {
                body.insert("system".into(), json!(system));
            }
            if *raw {
                body.insert("raw".into(), json!(true));
            }
            if let Some(template) = template {
                body.insert("template".into(), json!(template));
            }
            if !images.is_empty() {
                body.insert("images".into(), json!(images));
            }
            if let Some(context) = &req.context {
                body.insert("context".into(), json!(context));
            }
            Endpoint::Generate
        }
    };
    body.insert("stream".into(), json!(req.stream));
    match &req.format {
        Some(ResponseFormat::Json) => {
            body.insert("format".into(), json!("json"));
        }
        Some(ResponseFormat::JsonSchema(schema)) => {
            body.insert("format".into(), schema.clone());
        }
        None => {}
    }
    if let Some(keep_alive) = req.keep_alive {
        body.insert("keep_alive".into(), json!(keep_alive.as_secs_i64()));
    }
    if let Some(think) = req.think.as_ref().filter(|t| !t.is_null()) {
        body.insert("think".into(), think.clone());
    }
    let options = options(&req.sampling);
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    (endpoint, Value::Object(body))
}

pub(crate) fn embed_body(req: &EmbedRequest) -> Value {
    let mut body = Map::new();
    body.insert("model".into(), json!(req.model));
    body.insert("input".into(), json!(req.input));
    body.insert("truncate".into(), json!(req.truncate));
    if let Some(dims) = req.dimensions {
        body.insert("dimensions".into(), json!(dims));
    }
    if let Some(keep_alive) = req.keep_alive {
        body.insert("keep_alive".into(), json!(keep_alive.as_secs_i64()));
    }
    let options: Map<String, Value> = req
        .options
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !options.is_empty() {
        body.insert("options".into(), Value::Object(options));
    }
    Value::Object(body)
}

fn message(m: &Message) -> Value {
    let mut obj = Map::new();
    obj.insert("role".into(), json!(m.role.as_str()));
    obj.insert("content".into(), json!(m.content));
    if !m.images.is_empty() {
        obj.insert("images".into(), json!(m.images));
    }
    if !m.tool_calls.is_empty() {
        let calls: Vec<Value> = m
            .tool_calls
            .iter()
            .map(|call| {
                let mut function = Map::new();
                function.insert("name".into(), json!(call.name));
                function.insert("arguments".into(), object_arguments(&call.arguments));
                let mut obj = Map::new();
                if !call.id.is_empty() {
                    obj.insert("id".into(), json!(call.id));
                }
                obj.insert("function".into(), Value::Object(function));
                Value::Object(obj)
            })
            .collect();
        obj.insert("tool_calls".into(), Value::Array(calls));
    }
    if let Some(name) = &m.tool_name {
        obj.insert("tool_name".into(), json!(name));
    }
    if let Some(id) = &m.tool_call_id {
        obj.insert("tool_call_id".into(), json!(id));
    }
    if let Some(thinking) = m.thinking.as_deref().filter(|t| !t.is_empty()) {
        obj.insert("thinking".into(), json!(thinking));
    }
    Value::Object(obj)
}

/// Ollama wants arguments as an object; a string holding JSON (as OpenAI clients send) is
/// unpacked, anything else is sent as it is and left to Ollama to judge.
fn object_arguments(arguments: &Value) -> Value {
    match arguments {
        Value::String(raw) => match serde_json::from_str::<Value>(raw) {
            Ok(value @ Value::Object(_)) => value,
            _ => arguments.clone(),
        },
        other => other.clone(),
    }
}

/// Sampling → Ollama `options`. Typed fields win over the same key in `extra`.
fn options(s: &Sampling) -> Map<String, Value> {
    let mut options: Map<String, Value> = s
        .extra
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut put = |key: &str, value: Option<Value>| {
        if let Some(value) = value {
            options.insert(key.into(), value);
        }
    };
    put("num_predict", s.max_tokens.map(Value::from));
    put("temperature", s.temperature.map(Value::from));
    put("top_p", s.top_p.map(Value::from));
    put("top_k", s.top_k.map(Value::from));
    put("min_p", s.min_p.map(Value::from));
    put("typical_p", s.typical_p.map(Value::from));
    put("repeat_penalty", s.repeat_penalty.map(Value::from));
    put("repeat_last_n", s.repeat_last_n.map(Value::from));
    put("presence_penalty", s.presence_penalty.map(Value::from));
    put("frequency_penalty", s.frequency_penalty.map(Value::from));
    put("seed", s.seed.map(Value::from));
    put("num_ctx", s.num_ctx.map(Value::from));
    if !s.stop.is_empty() {
        put("stop", Some(json!(s.stop)));
    }
    options
}
