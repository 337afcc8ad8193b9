//! [`Op`]s → Anthropic's wire: the server-sent events of a streamed message and the whole
//! `message` object.
//!
//! Event order (Anthropic's "Streaming Messages"): `message_start`, `ping`, then per
//! content block `content_block_start`, its `content_block_delta`s (`text_delta`,
//! `thinking_delta`, `input_json_delta`) and `content_block_stop`, then one
//! `message_delta` (`stop_reason`, `stop_sequence`, usage) and `message_stop`. An error
//! after the stream started is one `error` event, and the stream ends.

use super::assemble::{BlockKind, Op, StopReason};
use crate::surfaces::stream::json_frame;
use bytes::Bytes;
use devassist_core::{GatewayError, Usage};
use serde_json::{Value, json};

/// `event: <type>` and `data: <json>`, as Anthropic writes them.
pub fn sse(kind: &str, value: &Value) -> Bytes {
    let prefix = format!("event: {kind}\ndata: ");
    json_frame(prefix.as_bytes(), value, b"\n\n")
}

pub fn usage_json(u: Usage) -> Value {
    json!({
        "input_tokens": u.prompt_tokens,
        "output_tokens": u.completion_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    })
}

fn new_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("msg_{}", &hex[..24])
}

/// Encodes one answer, streamed or whole.
pub struct Encoder {
    id: String,
    model: String,
    input_estimate: u32,
    /// Index of the open (or next) content block.
    index: usize,
    /// The kind of the open text-like block, which decides its deltas' type.
    kind: BlockKind,
}

impl Encoder {
    /// `model` is the name the client asked for, echoed back as Anthropic does.
    pub fn new(model: String, input_estimate: u32) -> Self {
        Self {
            id: new_id(),
            model,
            input_estimate,
            index: 0,
            kind: BlockKind::Text,
        }
    }

    fn message(
        &self,
        content: Vec<Value>,
        reason: Option<StopReason>,
        stop: Option<String>,
        usage: Usage,
    ) -> Value {
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": reason.map(StopReason::as_str),
            "stop_sequence": stop,
            "usage": usage_json(usage),
        })
    }

    /// `message_start` and a first `ping`.
    pub fn head(&self) -> Vec<Bytes> {
        let usage = Usage {
            prompt_tokens: self.input_estimate,
            completion_tokens: 0,
        };
        vec![
            sse(
                "message_start",
                &json!({"type": "message_start", "message": self.message(Vec::new(), None, None, usage)}),
            ),
            sse("ping", &json!({"type": "ping"})),
        ]
    }

    /// The frames of one op.
    pub fn frames(&mut self, op: Op) -> Vec<Bytes> {
        let index = self.index;
        match op {
            Op::Open(kind) => {
                self.kind = kind;
                let block = match kind {
                    BlockKind::Text => json!({"type": "text", "text": ""}),
                    BlockKind::Thinking => {
                        json!({"type": "thinking", "thinking": "", "signature": ""})
                    }
                };
                vec![sse(
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": index, "content_block": block}),
                )]
            }
            Op::Delta(text) => vec![sse(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": self.delta(text)}),
            )],
            Op::Close => {
                self.index += 1;
                vec![stop_frame(index)]
            }
            Op::Tool { id, name, input } => {
                self.index += 1;
                let partial = serde_json::to_string(&input).unwrap_or_else(|_| "{}".into());
                vec![
                    sse(
                        "content_block_start",
                        &json!({"type": "content_block_start", "index": index,
                                "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
                    ),
                    sse(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": index,
                                "delta": {"type": "input_json_delta", "partial_json": partial}}),
                    ),
                    stop_frame(index),
                ]
            }
            Op::End {
                reason,
                stop_sequence,
                usage,
            } => vec![
                sse(
                    "message_delta",
                    &json!({"type": "message_delta",
                            "delta": {"stop_reason": reason.as_str(), "stop_sequence": stop_sequence},
                            "usage": usage_json(usage)}),
                ),
                sse("message_stop", &json!({"type": "message_stop"})),
            ],
        }
    }

    fn delta(&self, text: String) -> Value {
        match self.kind {
            BlockKind::Text => json!({"type": "text_delta", "text": text}),
            BlockKind::Thinking => json!({"type": "thinking_delta", "thinking": text}),
        }
    }

    /// An error after the stream started.
    pub fn error_frame(err: &GatewayError) -> Bytes {
        sse("error", &super::dialect::AnthropicDialect::body_of(err))
    }
}

fn stop_frame(index: usize) -> Bytes {
    sse(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": index}),
    )
}

/// One content block of a whole answer, as it is built.
enum Built {
    Text(String),
    Thinking(String),
    Tool {
        id: String,
        name: String,
        input: Value,
    },
}

/// Builds the whole `message` for a request without `stream`.
#[derive(Default)]
pub struct Whole {
    content: Vec<Built>,
    end: Option<(StopReason, Option<String>, Usage)>,
}

impl Whole {
    pub fn push(&mut self, op: Op) {
        match op {
            Op::Open(BlockKind::Text) => self.content.push(Built::Text(String::new())),
            Op::Open(BlockKind::Thinking) => self.content.push(Built::Thinking(String::new())),
            Op::Delta(text) => match self.content.last_mut() {
                Some(Built::Text(t) | Built::Thinking(t)) => t.push_str(&text),
                Some(Built::Tool { .. }) | None => {}
            },
            Op::Close => {}
            Op::Tool { id, name, input } => self.content.push(Built::Tool { id, name, input }),
            Op::End {
                reason,
                stop_sequence,
                usage,
            } => self.end = Some((reason, stop_sequence, usage)),
        }
    }

    pub fn is_done(&self) -> bool {
        self.end.is_some()
    }

    pub fn finish(self, enc: &Encoder) -> Value {
        let (reason, stop, usage) =
            self.end
                .unwrap_or((StopReason::EndTurn, None, Usage::default()));
        let content = self
            .content
            .into_iter()
            .map(|b| match b {
                Built::Text(text) => json!({"type": "text", "text": text}),
                Built::Thinking(thinking) => {
                    json!({"type": "thinking", "thinking": thinking, "signature": ""})
                }
                Built::Tool { id, name, input } => {
                    json!({"type": "tool_use", "id": id, "name": name, "input": input})
                }
            })
            .collect();
        enc.message(content, Some(reason), stop, usage)
    }
}
