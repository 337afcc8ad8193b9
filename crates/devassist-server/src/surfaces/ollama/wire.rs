//! Ollama request bodies and the rules for their fields: options with Ollama's exact type
//! errors, `keep_alive` as seconds or a Go duration, `format`, `think`. Unknown top-level
//! fields are ignored and `null` means absent, as in Ollama.

use devassist_core::{GatewayError, KeepAlive, ResponseFormat, Sampling};
use serde::Deserialize;
use serde_json::{Map, Value};
use std::time::Duration;

#[derive(Debug, Default, Deserialize)]
pub struct GenerateBody {
    pub model: Option<String>,
    pub prompt: Option<String>,
    pub suffix: Option<String>,
    pub system: Option<String>,
    pub template: Option<String>,
    pub context: Option<Vec<i64>>,
    pub stream: Option<bool>,
    pub raw: Option<bool>,
    pub format: Option<Value>,
    pub keep_alive: Option<Value>,
    pub images: Option<Vec<String>>,
    pub options: Option<Map<String, Value>>,
    pub think: Option<Value>,
    pub top_logprobs: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ChatBody {
    pub model: Option<String>,
    pub messages: Option<Vec<WireMessage>>,
    pub tools: Option<Vec<Value>>,
    pub stream: Option<bool>,
    pub format: Option<Value>,
    pub keep_alive: Option<Value>,
    pub options: Option<Map<String, Value>>,
    pub think: Option<Value>,
    pub top_logprobs: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WireMessage {
    pub role: String,
    pub content: Option<String>,
    pub images: Option<Vec<String>>,
    pub tool_calls: Option<Vec<WireToolCall>>,
    pub tool_name: Option<String>,
    pub tool_call_id: Option<String>,
    pub thinking: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct WireToolCall {
    pub id: Option<String>,
    pub function: WireFunction,
}

#[derive(Debug, Default, Deserialize)]
pub struct WireFunction {
    pub name: String,
    #[serde(default)]
    pub arguments: Value,
}

#[derive(Debug, Default, Deserialize)]
pub struct EmbedBody {
    pub model: Option<String>,
    pub input: Option<Value>,
    pub truncate: Option<bool>,
    pub dimensions: Option<u32>,
    pub options: Option<Map<String, Value>>,
    pub keep_alive: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct LegacyEmbedBody {
    pub model: Option<String>,
    pub prompt: Option<String>,
    pub options: Option<Map<String, Value>>,
    pub keep_alive: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ShowBody {
    pub model: Option<String>,
    /// Deprecated spelling still sent by Continue and ollama-rs.
    pub name: Option<String>,
    #[serde(default)]
    pub verbose: Option<bool>,
}

impl ShowBody {
    pub fn model(&self) -> Option<&str> {
        self.model
            .as_deref()
            .filter(|m| !m.is_empty())
            .or(self.name.as_deref())
    }
}

pub fn require_model(model: Option<String>) -> Result<String, GatewayError> {
    model
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| GatewayError::bad_request("model is required").with_param("model"))
}

#[derive(Clone, Copy)]
enum OptType {
    Int,
    Float,
    Bool,
    Array,
}

impl OptType {
    fn name(self) -> &'static str {
        match self {
            OptType::Int => "integer",
            OptType::Float => "float32",
            OptType::Bool => "boolean",
            OptType::Array => "array",
        }
    }
}

fn option_type(key: &str) -> Option<OptType> {
    use OptType::*;
    Some(match key {
        "num_keep" | "seed" | "num_predict" | "top_k" | "repeat_last_n" | "num_ctx"
        | "num_batch" | "num_gpu" | "main_gpu" | "num_thread" | "draft_num_predict"
        | "mirostat" => Int,
        "top_p" | "min_p" | "typical_p" | "temperature" | "repeat_penalty" | "presence_penalty"
        | "frequency_penalty" | "mirostat_tau" | "mirostat_eta" | "tfs_z" => Float,
        "use_mmap" | "use_mlock" | "numa" | "penalize_newline" | "low_vram" | "f16_kv"
        | "vocab_only" => Bool,
        "stop" => Array,
        _ => return None,
    })
}

/// A token count option, within what the gateway can carry.
fn count(key: &str, value: Option<i64>) -> Result<Option<u32>, GatewayError> {
    value
        .map(|v| {
            u32::try_from(v).map_err(|_| {
                GatewayError::bad_request(format!("option \"{key}\" must be at most {}", u32::MAX))
                    .with_param(format!("options.{key}"))
            })
        })
        .transpose()
}

/// Parses Ollama `options` into neutral sampling settings. Unknown keys are ignored (Ollama
/// logs and drops them); known keys of the wrong type are a 400 with Ollama's text.
pub fn sampling(options: Option<Map<String, Value>>) -> Result<Sampling, GatewayError> {
    let mut s = Sampling::default();
    for (key, value) in options.unwrap_or_default() {
        if value.is_null() {
            continue;
        }
        let Some(ty) = option_type(&key) else {
            tracing::debug!(option = %key, "Ignoring unknown Ollama option");
            continue;
        };
        let bad = || {
            GatewayError::bad_request(format!("option \"{key}\" must be of type {}", ty.name()))
                .with_param(format!("options.{key}"))
        };
        let ok = match ty {
            OptType::Int | OptType::Float => value.is_number(),
            OptType::Bool => value.is_boolean(),
            OptType::Array => value.is_array(),
        };
        if !ok {
            return Err(bad());
        }
        let f = value.as_f64();
        let i = value.as_i64().or_else(|| f.map(|f| f as i64));
        match key.as_str() {
            "temperature" => s.temperature = f,
            "top_p" => s.top_p = f,
            "min_p" => s.min_p = f,
            "typical_p" => s.typical_p = f,
            "repeat_penalty" => s.repeat_penalty = f,
            "presence_penalty" => s.presence_penalty = f,
            "frequency_penalty" => s.frequency_penalty = f,
            "top_k" => s.top_k = i,
            "repeat_last_n" => s.repeat_last_n = i,
            "seed" => s.seed = i.filter(|&v| v >= 0),
            // Negative means "no limit" (Ollama's -1 and -2); past u32 is a 400, never a wrap.
            "num_predict" => s.max_tokens = count(&key, i.filter(|&v| v >= 0))?,
            "num_ctx" => s.num_ctx = count(&key, i.filter(|&v| v > 0))?,
            "stop" => {
                let Some(items) = value.as_array() else {
                    return Err(bad());
                };
                for item in items {
                    match item.as_str() {
                        Some(t) => s.stop.push(t.to_string()),
                        None => return Err(bad()),
                    }
                }
            }
            _ => {
                s.extra.insert(key, value);
            }
        }
    }
    Ok(s)
}

/// `keep_alive`: a number of seconds, or a Go duration string (`"5m"`, `"1h30m"`,
/// `"-1"`); negative means forever.
pub fn keep_alive(value: Option<Value>) -> Result<Option<KeepAlive>, GatewayError> {
    let bad = |v: &Value| {
        GatewayError::bad_request(format!("invalid keep_alive value: {v}")).with_param("keep_alive")
    };
    let Some(v) = value else { return Ok(None) };
    let secs = match &v {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_f64().ok_or_else(|| bad(&v))?,
        Value::String(s) => match s.trim().parse::<f64>() {
            Ok(n) => n,
            Err(_) => go_duration(s.trim()).ok_or_else(|| bad(&v))?,
        },
        _ => return Err(bad(&v)),
    };
    Ok(Some(if secs < 0.0 {
        KeepAlive::Forever
    } else {
        KeepAlive::For(Duration::from_secs_f64(secs.min(1e9)))
    }))
}

/// Parses Go's `time.ParseDuration` syntax into seconds.
fn go_duration(s: &str) -> Option<f64> {
    let (sign, mut rest) = match s.strip_prefix('-') {
        Some(r) => (-1.0, r),
        None => (1.0, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * scale;
    }
    Some(sign * total)
}

pub fn format(value: Option<Value>) -> Result<Option<ResponseFormat>, GatewayError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) if s == "json" => Ok(Some(ResponseFormat::Json)),
        Some(schema @ Value::Object(_)) => Ok(Some(ResponseFormat::JsonSchema(schema))),
        Some(_) => Err(GatewayError::bad_request(
            "invalid format: expected \"json\" or a valid JSON schema",
        )
        .with_param("format")),
    }
}

pub fn think(value: Option<Value>) -> Result<Option<Value>, GatewayError> {
    match &value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(_)) => Ok(value),
        Some(Value::String(s)) if matches!(s.as_str(), "low" | "medium" | "high" | "max") => {
            Ok(value)
        }
        Some(other) => Err(GatewayError::bad_request(format!(
            "invalid think value: {}",
            other
                .as_str()
                .map(str::to_string)
                .unwrap_or(other.to_string())
        ))
        .with_param("think")),
    }
}

pub fn top_logprobs(v: Option<i64>) -> Result<(), GatewayError> {
    match v {
        Some(n) if !(0..=20).contains(&n) => Err(GatewayError::bad_request(
            "top_logprobs must be between 0 and 20",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn options_have_ollama_type_errors() {
        let opts = json!({"temperature": "hot"}).as_object().cloned();
        let err = sampling(opts).unwrap_err();
        assert_eq!(
            err.message,
            "option \"temperature\" must be of type float32"
        );
        let opts =
            json!({"num_predict": 64.0, "stop": ["a"], "mirostat": null, "bogus": 1, "num_gpu": 2})
                .as_object()
                .cloned();
        let s = sampling(opts).unwrap();
        assert_eq!(s.max_tokens, Some(64));
        assert_eq!(s.stop, vec!["a"]);
        assert_eq!(s.extra.get("num_gpu"), Some(&json!(2)));
        assert!(!s.extra.contains_key("bogus"));
        let err = sampling(json!({"num_predict": 4294967396u64}).as_object().cloned()).unwrap_err();
        assert_eq!(
            err.status(),
            400,
            "a count past u32 is refused, not wrapped"
        );
        assert!(err.message.contains("num_predict"), "{}", err.message);
        let err = sampling(json!({"num_ctx": 1e30}).as_object().cloned()).unwrap_err();
        assert_eq!(err.status(), 400);
        let s = sampling(json!({"num_predict": 4294967295u64}).as_object().cloned()).unwrap();
        assert_eq!(s.max_tokens, Some(u32::MAX));
        let s = sampling(json!({"num_predict": -1}).as_object().cloned()).unwrap();
        assert_eq!(s.max_tokens, None);
    }

    #[test]
    fn keep_alive_accepts_numbers_and_go_durations() {
        let secs = |v: Value| match keep_alive(Some(v)).unwrap() {
            Some(KeepAlive::For(d)) => d.as_secs_f64(),
            Some(KeepAlive::Forever) => -1.0,
            None => f64::NAN,
        };
        assert_eq!(secs(json!(1800)), 1800.0);
        assert_eq!(secs(json!("5m")), 300.0);
        assert_eq!(secs(json!("1h30m")), 5400.0);
        assert_eq!(secs(json!("300ms")), 0.3);
        assert_eq!(secs(json!("-1")), -1.0);
        assert_eq!(secs(json!(-5)), -1.0);
        assert_eq!(secs(json!(0)), 0.0);
        assert!(keep_alive(Some(json!("soon"))).is_err());
        assert!(keep_alive(Some(json!([1]))).is_err());
    }

    #[test]
    fn think_and_format_are_validated() {
        assert!(think(Some(json!("turbo"))).is_err());
        assert!(think(Some(json!("high"))).is_ok());
        assert!(format(Some(json!("xml"))).is_err());
        assert_eq!(
            format(Some(json!("json"))).unwrap(),
            Some(ResponseFormat::Json)
        );
    }
}
