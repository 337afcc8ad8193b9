//! Neutral events → OpenAI SSE chunks (chat and legacy completions) and whole responses.
//!
//! Chunk order for chat: a role chunk, content/reasoning/tool-call deltas, a finish chunk
//! with an empty delta, a usage chunk when asked for, `data: [DONE]`. Never `: ping`.

use crate::surfaces::stream::{Collected, json_frame};
use bytes::Bytes;
use devassist_core::{Event, FinishReason, GatewayError, ToolCall, Usage};
use serde_json::{Value, json};

pub const DONE: &[u8] = b"data: [DONE]\n\n";

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Completion,
}

pub struct Encoder {
    pub id: String,
    pub model: String,
    pub created: i64,
    pub kind: Kind,
    pub include_usage: bool,
    tool_index: usize,
    saw_tool_call: bool,
}

pub fn sse(value: &Value) -> Bytes {
    json_frame(b"data: ", value, b"\n\n")
}

pub fn usage_json(u: Usage) -> Value {
    json!({
        "prompt_tokens": u.prompt_tokens,
        "completion_tokens": u.completion_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
    })
}

fn tool_call_json(c: &ToolCall, index: usize) -> Value {
    let arguments = match &c.arguments {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    json!({"id": c.id, "index": index, "type": "function",
           "function": {"name": c.name, "arguments": arguments}})
}

impl Encoder {
    pub fn new(kind: Kind, model: String, include_usage: bool) -> Self {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        let prefix = if kind == Kind::Chat {
            "chatcmpl"
        } else {
            "cmpl"
        };
        Self {
            id: format!("{prefix}-{}", &hex[..24]),
            model,
            created: chrono::Utc::now().timestamp(),
            kind,
            include_usage,
            tool_index: 0,
            saw_tool_call: false,
        }
    }

    fn chunk(&self, choices: Value) -> Value {
        let object = match self.kind {
            Kind::Chat => "chat.completion.chunk",
            Kind::Completion => "text_completion",
        };
        json!({"id": self.id, "object": object, "created": self.created, "model": self.model,
               "system_fingerprint": "fp_devassist", "choices": choices})
    }

    fn delta(&self, delta: Value) -> Bytes {
        sse(&self.chunk(json!([{"index": 0, "delta": delta, "finish_reason": null}])))
    }

    /// The first chunk of a chat stream.
    pub fn role_chunk(&self) -> Option<Bytes> {
        (self.kind == Kind::Chat).then(|| self.delta(json!({"role": "assistant", "content": ""})))
    }

    /// The frames for one event (possibly several: finish, usage and `[DONE]`).
    pub fn frames(&mut self, event: Event) -> Vec<Bytes> {
        match (event, self.kind) {
            (Event::Text(t), Kind::Chat) => vec![self.delta(json!({"content": t}))],
            (Event::Text(t), Kind::Completion) => vec![sse(&self
                .chunk(json!([{"text": t, "index": 0, "logprobs": null, "finish_reason": null}])))],
            (Event::Reasoning(t), Kind::Chat) => vec![self.delta(json!({"reasoning": t}))],
            (Event::Reasoning(_), Kind::Completion) => Vec::new(),
            (Event::ToolCall(c), Kind::Chat) => {
                let idx = self.tool_index;
                self.tool_index += 1;
                self.saw_tool_call = true;
                vec![self.delta(json!({"tool_calls": [tool_call_json(&c, idx)]}))]
            }
            (Event::ToolCall(_), Kind::Completion) => Vec::new(),
            (Event::Done { finish, usage, .. }, kind) => {
                let finish = if self.saw_tool_call {
                    FinishReason::ToolCalls
                } else {
                    finish
                };
                let choice = match kind {
                    Kind::Chat => {
                        json!([{"index": 0, "delta": {}, "finish_reason": finish.as_openai()}])
                    }
                    Kind::Completion => json!([{"text": "", "index": 0, "logprobs": null,
                                                "finish_reason": finish.as_openai()}]),
                };
                let mut out = vec![sse(&self.chunk(choice))];
                if self.include_usage {
                    let mut c = self.chunk(json!([]));
                    c["usage"] = usage_json(usage);
                    out.push(sse(&c));
                }
                out.push(Bytes::from_static(DONE));
                out
            }
        }
    }

    /// An error after the stream started: one `data: {"error": …}` line, then the end.
    pub fn error_frame(err: &GatewayError) -> Bytes {
        sse(&crate::surfaces::OpenAiDialect::body_of(err))
    }

    pub fn whole(&self, c: Collected) -> Value {
        let choice = match self.kind {
            Kind::Chat => {
                let mut message = json!({"role": "assistant", "content": c.text});
                if !c.reasoning.is_empty() {
                    message["reasoning"] = Value::String(c.reasoning);
                }
                if !c.tool_calls.is_empty() {
                    message["tool_calls"] = Value::Array(
                        c.tool_calls
                            .iter()
                            .enumerate()
                            .map(|(i, t)| tool_call_json(t, i))
                            .collect(),
                    );
                }
                json!({"index": 0, "message": message, "finish_reason": c.finish.as_openai()})
            }
            Kind::Completion => json!({"index": 0, "text": c.text, "logprobs": null,
                                       "finish_reason": c.finish.as_openai()}),
        };
        let object = match self.kind {
            Kind::Chat => "chat.completion",
            Kind::Completion => "text_completion",
        };
        json!({"id": self.id, "object": object, "created": self.created, "model": self.model,
               "system_fingerprint": "fp_devassist", "choices": [choice], "usage": usage_json(c.usage)})
    }
}
