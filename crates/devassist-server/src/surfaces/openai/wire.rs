//! OpenAI request bodies and their conversion to neutral requests.

use devassist_core::{GatewayError, Message, ResponseFormat, Role, Sampling, ToolCall, ToolChoice};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;

#[derive(Debug, Default, Deserialize)]
pub struct StreamOptions {
    #[serde(default)]
    pub include_usage: bool,
}

/// `stop` may be a string or a list of strings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

impl Stop {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            Stop::One(s) => vec![s],
            Stop::Many(v) => v,
        }
    }
}

/// Sampling fields shared by chat and legacy completions.
#[derive(Debug, Default, Deserialize)]
pub struct SamplingFields {
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: Option<i64>,
    pub stop: Option<Stop>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    /// Extensions accepted by vLLM and llama.cpp.
    pub top_k: Option<i64>,
    pub min_p: Option<f64>,
    pub repetition_penalty: Option<f64>,
    pub repeat_penalty: Option<f64>,
    pub n: Option<u32>,
}

impl SamplingFields {
    pub fn into_sampling(self) -> Result<Sampling, GatewayError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(GatewayError::bad_request("only n = 1 is supported").with_param("n"));
        }
        if let Some(t) = self.temperature
            && !(0.0..=2.0).contains(&t)
        {
            return Err(GatewayError::bad_request(format!(
                "temperature must be between 0 and 2, got {t}"
            ))
            .with_param("temperature"));
        }
        Ok(Sampling {
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty.or(self.repetition_penalty),
            presence_penalty: self.presence_penalty,
            frequency_penalty: self.frequency_penalty,
            seed: self.seed,
            max_tokens: self.max_completion_tokens.or(self.max_tokens),
            stop: self.stop.map(Stop::into_vec).unwrap_or_default(),
            ..Sampling::default()
        })
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ChatBody {
    pub model: Option<String>,
    pub messages: Option<Vec<WireMessage>>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
    pub tools: Option<Vec<Value>>,
    pub tool_choice: Option<Value>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<Value>,
    pub reasoning_effort: Option<String>,
    #[serde(flatten)]
    pub sampling: SamplingFields,
}

#[derive(Debug, Deserialize)]
pub struct WireMessage {
    pub role: String,
    #[serde(default)]
    pub content: Option<Content>,
    pub name: Option<String>,
    pub tool_calls: Option<Vec<WireToolCall>>,
    pub tool_call_id: Option<String>,
    pub reasoning_content: Option<String>,
    pub reasoning: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    Text {
        text: String,
    },
    ImageUrl {
        image_url: ImageUrl,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ImageUrl {
    Object { url: String },
    Bare(String),
}

#[derive(Debug, Deserialize)]
pub struct WireToolCall {
    pub id: Option<String>,
    pub function: WireFunction,
}

#[derive(Debug, Deserialize)]
pub struct WireFunction {
    pub name: String,
    #[serde(default)]
    pub arguments: Option<Value>,
}

pub fn messages(wire: Vec<WireMessage>) -> Result<Vec<Message>, GatewayError> {
    if wire.is_empty() {
        return Err(
            GatewayError::bad_request("[] is too short - 'messages'").with_param("messages")
        );
    }
    // Tool results may name their tool only through the call id.
    let mut call_names: HashMap<String, String> = HashMap::new();
    let mut out = Vec::with_capacity(wire.len());
    for (i, m) in wire.into_iter().enumerate() {
        let role = Role::parse(&m.role).ok_or_else(|| {
            GatewayError::bad_request(format!("invalid role `{}` in messages[{i}]", m.role))
                .with_param(format!("messages[{i}].role"))
        })?;
        let mut msg = Message::new(role, String::new());
        match m.content {
            None => {}
            Some(Content::Text(t)) => msg.content = t,
            Some(Content::Parts(parts)) => {
                for part in parts {
                    match part {
                        Part::Text { text } => msg.content.push_str(&text),
                        Part::ImageUrl { image_url } => msg.images.push(image(image_url, i)?),
                        Part::Other => {}
                    }
                }
            }
        }
        for c in m.tool_calls.unwrap_or_default() {
            let id = c.id.unwrap_or_else(crate::surfaces::ollama::call_id);
            let arguments = match c.function.arguments {
                Some(Value::String(s)) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
                Some(v) => v,
                None => Value::Object(Default::default()),
            };
            call_names.insert(id.clone(), c.function.name.clone());
            msg.tool_calls.push(ToolCall {
                id,
                name: c.function.name,
                arguments,
            });
        }
        if role == Role::Tool {
            msg.tool_name = m.name.or_else(|| {
                m.tool_call_id
                    .as_ref()
                    .and_then(|id| call_names.get(id).cloned())
            });
        }
        msg.tool_call_id = m.tool_call_id;
        msg.thinking = m.reasoning_content.or(m.reasoning);
        out.push(msg);
    }
    Ok(out)
}

/// Only base64 data URLs are accepted, as in Ollama.
fn image(url: ImageUrl, i: usize) -> Result<String, GatewayError> {
    let url = match url {
        ImageUrl::Object { url } | ImageUrl::Bare(url) => url,
    };
    let data = url.strip_prefix("data:").and_then(|rest| {
        let (mime, b64) = rest.split_once(";base64,")?;
        matches!(
            mime,
            "" | "image/jpeg" | "image/jpg" | "image/png" | "image/webp"
        )
        .then_some(b64)
    });
    data.map(str::to_string).ok_or_else(|| {
        GatewayError::bad_request(
            "image URLs are not currently supported, please use base64 encoded data instead",
        )
        .with_param(format!("messages[{i}].content"))
    })
}

/// OpenAI's `tool_choice`: `"auto"`, `"none"`, `"required"` or
/// `{"type": "function", "function": {"name": …}}`; absent or null is `auto`.
pub fn tool_choice(v: Option<Value>) -> Result<ToolChoice, GatewayError> {
    let bad = |message: &str| GatewayError::bad_request(message).with_param("tool_choice");
    match v {
        None | Some(Value::Null) => Ok(ToolChoice::Auto),
        Some(Value::String(s)) => match s.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            _ => Err(bad(
                "tool_choice must be one of `none`, `auto`, `required` or a function",
            )),
        },
        Some(v) => v
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty() && v.get("type").and_then(Value::as_str) == Some("function"))
            .map(|n| ToolChoice::Function(n.to_owned()))
            .ok_or_else(|| bad("tool_choice.function.name is required")),
    }
}

pub fn response_format(v: Option<Value>) -> Result<Option<ResponseFormat>, GatewayError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let bad = || {
        GatewayError::bad_request(
            "response_format.type must be one of `text`, `json_object`, `json_schema`",
        )
        .with_param("response_format")
    };
    match v.get("type").and_then(Value::as_str) {
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(ResponseFormat::Json)),
        Some("json_schema") => {
            let schema = v
                .get("json_schema")
                .and_then(|s| s.get("schema"))
                .cloned()
                .ok_or_else(|| {
                    GatewayError::bad_request("response_format.json_schema.schema is required")
                        .with_param("response_format")
                })?;
            Ok(Some(ResponseFormat::JsonSchema(schema)))
        }
        _ => Err(bad()),
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PromptField {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
pub struct CompletionBody {
    pub model: Option<String>,
    pub prompt: Option<PromptField>,
    pub suffix: Option<String>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
    pub echo: Option<bool>,
    #[serde(flatten)]
    pub sampling: SamplingFields,
}

#[derive(Debug, Default, Deserialize)]
pub struct EmbeddingsBody {
    pub model: Option<String>,
    pub input: Option<Value>,
    pub dimensions: Option<u32>,
    pub encoding_format: Option<String>,
}

pub fn require_model(m: Option<String>) -> Result<String, GatewayError> {
    m.filter(|m| !m.trim().is_empty()).ok_or_else(|| {
        GatewayError::bad_request("you must provide a model parameter").with_param("model")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tool_choice_reads_openais_forms() {
        let parse = |v: Value| tool_choice(Some(v)).map_err(|e| e.to_string());
        assert_eq!(tool_choice(None).ok(), Some(ToolChoice::Auto));
        assert_eq!(parse(json!("none")), Ok(ToolChoice::None));
        assert_eq!(parse(json!("required")), Ok(ToolChoice::Required));
        assert_eq!(
            parse(json!({"type": "function", "function": {"name": "get_weather"}})),
            Ok(ToolChoice::Function("get_weather".to_owned()))
        );
        assert!(parse(json!("always")).is_err());
        assert!(parse(json!({"type": "function"})).is_err());
    }
}
