//! One expanded-log record, and its JSON line with every secret in the prompt and the
//! answer replaced (one vault per record: a secret in the prompt and in the answer gets the
//! same placeholder).

use crate::secrets::{DETECTOR, Vault};
use devassist_core::{Exchange, Feature, Usage};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// What one request leaves in the expanded log.
#[derive(Debug, Clone)]
pub struct ExpandedEntry {
    /// When the request arrived.
    pub at: SystemTime,
    pub request_id: Arc<str>,
    pub surface: &'static str,
    pub feature: Option<Feature>,
    pub model: Option<Arc<str>>,
    pub backend: Option<Arc<str>>,
    /// The prompt and the answer, with their secrets: redacted only when encoded.
    pub exchange: Exchange,
    pub usage: Option<Usage>,
    pub status: u16,
    pub duration: Duration,
}

impl ExpandedEntry {
    /// The record as one JSON object, secrets replaced.
    pub fn to_json(self) -> Value {
        let x = self.exchange;
        let tool_calls: Vec<Value> = x
            .tool_calls
            .into_iter()
            .map(|c| json!({"id": c.id, "name": c.name, "arguments": c.arguments}))
            .collect();
        let mut response = json!({ "text": x.text, "tool_calls": tool_calls });
        if !x.reasoning.is_empty() {
            response["reasoning"] = json!(x.reasoning);
        }
        if let Some(e) = x.error {
            response["error"] = json!(e);
        }
        let mut request = x.request.unwrap_or(Value::Null);
        let mut vault = Vault::new();
        vault.redact_json(&DETECTOR, &mut request);
        vault.redact_json(&DETECTOR, &mut response);
        let time = chrono::DateTime::<chrono::Utc>::from(self.at)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        json!({
            "time": time,
            "request_id": &*self.request_id,
            "caller": x.caller,
            "surface": self.surface,
            "feature": self.feature.map(Feature::as_str),
            "model": self.model.as_deref(),
            "backend": self.backend.as_deref(),
            "request": request,
            "response": response,
            "usage": self.usage.map(|u| json!({
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
            })),
            "status": self.status,
            "duration_ms": self.duration.as_secs_f64() * 1000.0,
            "secrets_redacted": vault.total(),
        })
    }
}
