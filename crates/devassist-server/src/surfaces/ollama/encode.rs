//! Neutral events → Ollama NDJSON lines and non-streaming objects.

use crate::surfaces::stream::{Collected, json_frame};
use bytes::Bytes;
use chrono::{SecondsFormat, Utc};
use devassist_core::{Event, FinishReason, GatewayError, Timings, ToolCall, Usage};
use serde_json::{Map, Value, json};
use std::time::Instant;

pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Nanos, true)
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Generate { raw: bool },
    Chat,
}

/// Encodes one generation. Holds what the final line needs.
pub struct Encoder {
    pub model: String,
    pub kind: Kind,
    pub started: Instant,
}

impl Encoder {
    fn base(&self) -> Map<String, Value> {
        let mut m = Map::with_capacity(8);
        m.insert("model".into(), Value::String(self.model.clone()));
        m.insert("created_at".into(), Value::String(now()));
        m
    }

    fn with_message(&self, mut m: Map<String, Value>, message: Value) -> Map<String, Value> {
        m.insert("message".into(), message);
        m
    }

    /// One NDJSON line for one event.
    pub fn frame(&self, event: Event) -> Bytes {
        let mut m = self.base();
        match (event, self.kind) {
            (Event::Text(t), Kind::Generate { .. }) => {
                m.insert("response".into(), Value::String(t));
                m.insert("done".into(), Value::Bool(false));
            }
            (Event::Text(t), Kind::Chat) => {
                m = self.with_message(m, json!({"role": "assistant", "content": t}));
                m.insert("done".into(), Value::Bool(false));
            }
            (Event::Reasoning(t), Kind::Generate { .. }) => {
                m.insert("response".into(), Value::String(String::new()));
                m.insert("thinking".into(), Value::String(t));
                m.insert("done".into(), Value::Bool(false));
            }
            (Event::Reasoning(t), Kind::Chat) => {
                m = self.with_message(
                    m,
                    json!({"role": "assistant", "content": "", "thinking": t}),
                );
                m.insert("done".into(), Value::Bool(false));
            }
            (Event::ToolCall(c), Kind::Generate { .. }) => {
                m.insert("response".into(), Value::String(String::new()));
                m.insert("tool_calls".into(), tool_calls(&[c]));
                m.insert("done".into(), Value::Bool(false));
            }
            (Event::ToolCall(c), Kind::Chat) => {
                m = self.with_message(
                    m,
                    json!({"role": "assistant", "content": "", "tool_calls": tool_calls(&[c])}),
                );
                m.insert("done".into(), Value::Bool(false));
            }
            (
                Event::Done {
                    finish,
                    usage,
                    timings,
                    context,
                },
                kind,
            ) => {
                match kind {
                    Kind::Generate { .. } => {
                        m.insert("response".into(), Value::String(String::new()));
                    }
                    Kind::Chat => {
                        m = self.with_message(m, json!({"role": "assistant", "content": ""}));
                    }
                }
                self.finish(&mut m, finish, usage, timings, context);
            }
        }
        json_frame(b"", &m, b"\n")
    }

    /// The error line sent when a stream fails after it started.
    pub fn error_frame(err: &GatewayError) -> Bytes {
        json_frame(b"", &json!({"error": err.message}), b"\n")
    }

    fn finish(
        &self,
        m: &mut Map<String, Value>,
        finish: FinishReason,
        usage: Usage,
        timings: Timings,
        context: Option<Vec<i64>>,
    ) {
        m.insert("done".into(), Value::Bool(true));
        m.insert(
            "done_reason".into(),
            Value::String(finish.as_ollama().into()),
        );
        if let (Kind::Generate { raw: false }, Some(ctx)) = (self.kind, context) {
            m.insert("context".into(), json!(ctx));
        }
        let ns = |d: Option<std::time::Duration>| d.map(|d| d.as_nanos() as u64);
        // What the client waited, gateway included; never less than the upstream's own figure.
        let total = ns(timings.total)
            .unwrap_or(0)
            .max(self.started.elapsed().as_nanos() as u64);
        m.insert("total_duration".into(), json!(total));
        m.insert("load_duration".into(), json!(ns(timings.load).unwrap_or(0)));
        m.insert("prompt_eval_count".into(), json!(usage.prompt_tokens));
        if let Some(d) = ns(timings.prompt_eval) {
            m.insert("prompt_eval_duration".into(), json!(d));
        }
        m.insert("eval_count".into(), json!(usage.completion_tokens));
        if let Some(d) = ns(timings.eval) {
            m.insert("eval_duration".into(), json!(d));
        }
    }

    /// The single object of a `stream: false` reply.
    pub fn whole(&self, c: Collected) -> Value {
        let mut m = self.base();
        match self.kind {
            Kind::Generate { .. } => {
                m.insert("response".into(), Value::String(c.text));
                if !c.reasoning.is_empty() {
                    m.insert("thinking".into(), Value::String(c.reasoning));
                }
                if !c.tool_calls.is_empty() {
                    m.insert("tool_calls".into(), tool_calls(&c.tool_calls));
                }
            }
            Kind::Chat => {
                let mut msg = json!({"role": "assistant", "content": c.text});
                if !c.reasoning.is_empty() {
                    msg["thinking"] = Value::String(c.reasoning);
                }
                if !c.tool_calls.is_empty() {
                    msg["tool_calls"] = tool_calls(&c.tool_calls);
                }
                m.insert("message".into(), msg);
            }
        }
        self.finish(&mut m, c.finish, c.usage, c.timings, c.context);
        Value::Object(m)
    }

    /// The reply to an empty prompt: the model was loaded (or unloaded).
    pub fn load_reply(&self, reason: &str) -> Value {
        let mut m = self.base();
        match self.kind {
            Kind::Generate { .. } => {
                m.insert("response".into(), Value::String(String::new()));
            }
            Kind::Chat => {
                m.insert(
                    "message".into(),
                    json!({"role": "assistant", "content": ""}),
                );
            }
        }
        m.insert("done".into(), Value::Bool(true));
        m.insert("done_reason".into(), Value::String(reason.into()));
        Value::Object(m)
    }
}

pub fn tool_calls(calls: &[ToolCall]) -> Value {
    Value::Array(
        calls
            .iter()
            .enumerate()
            .map(|(i, c)| {
                json!({"id": c.id, "function": {"index": i, "name": c.name, "arguments": c.arguments}})
            })
            .collect(),
    )
}
