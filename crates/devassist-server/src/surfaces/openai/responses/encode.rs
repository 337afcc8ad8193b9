//! Neutral events → Responses stream events and the `response` object. One state machine
//! serves both modes: a non-streaming reply runs the same events through it and keeps
//! only the final object, so the two always agree.
//!
//! The event sequence (every event carries a `sequence_number`, from 0, one up each time):
//!
//! ```text
//! response.created, response.in_progress
//! per output item, in order:
//!   message:          output_item.added, content_part.added, output_text.delta…,
//!                     output_text.done, content_part.done, output_item.done
//!   reasoning:        output_item.added, reasoning_text.delta…, reasoning_text.done,
//!                     output_item.done
//!   function_call:    output_item.added, function_call_arguments.delta,
//!                     function_call_arguments.done, output_item.done
//!   custom_tool_call: output_item.added, custom_tool_call_input.delta,
//!                     custom_tool_call_input.done, output_item.done
//! response.completed | response.incomplete (max_output_tokens) | response.failed
//! ```
//!
//! A call of a custom tool (`Encoder::custom`) comes back as a `custom_tool_call` with the
//! raw `input` text, never as a `function_call`.

use super::convert::CUSTOM_INPUT;
use devassist_core::{Event, FinishReason, GatewayError, ToolCall, Usage};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// A short random id with OpenAI's prefix for its kind (`resp_`, `msg_`, `fc_`…).
fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// The item whose text is still arriving.
#[derive(Debug)]
enum Open {
    Message { id: String, text: String },
    Reasoning { id: String, text: String },
}

/// How a response ended, for its `status` and closing event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Completed,
    Incomplete,
    Failed,
}

impl End {
    fn status(self) -> &'static str {
        match self {
            End::Completed => "completed",
            End::Incomplete => "incomplete",
            End::Failed => "failed",
        }
    }

    fn event(self) -> &'static str {
        match self {
            End::Completed => "response.completed",
            End::Incomplete => "response.incomplete",
            End::Failed => "response.failed",
        }
    }
}

pub struct Encoder {
    id: String,
    created_at: i64,
    model: String,
    /// Request fields echoed on every `response` object (`instructions`, `tools`…).
    echo: Map<String, Value>,
    /// Names of the request's custom tools.
    custom: BTreeSet<String>,
    seq: u64,
    output: Vec<Value>,
    open: Option<Open>,
    /// The final `response` object, once the stream ended.
    finished: Option<Value>,
}

impl Encoder {
    pub fn new(model: String, echo: Map<String, Value>, custom: BTreeSet<String>) -> Self {
        Self {
            id: new_id("resp"),
            created_at: chrono::Utc::now().timestamp(),
            model,
            echo,
            custom,
            seq: 0,
            output: Vec::new(),
            open: None,
            finished: None,
        }
    }

    /// The final `response` object, once `Done` or a failure went through.
    pub fn finished(&self) -> Option<&Value> {
        self.finished.as_ref()
    }

    fn emit(&mut self, out: &mut Vec<Value>, kind: &str, mut fields: Value) {
        fields["type"] = Value::String(kind.to_owned());
        fields["sequence_number"] = json!(self.seq);
        self.seq += 1;
        out.push(fields);
    }

    /// The `response` object as it stands.
    fn response(&self, status: &str, usage: Option<Usage>) -> Value {
        let mut r = json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": null,
            "incomplete_details": null,
            "model": self.model,
            "output": self.output,
            "usage": usage.map(usage_json),
        });
        for (k, v) in &self.echo {
            r[k] = v.clone();
        }
        r
    }

    /// `response.created` and `response.in_progress`.
    pub fn start(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        let r = self.response("in_progress", None);
        self.emit(&mut out, "response.created", json!({"response": r}));
        let r = self.response("in_progress", None);
        self.emit(&mut out, "response.in_progress", json!({"response": r}));
        out
    }

    /// The events for one neutral event.
    pub fn event(&mut self, event: Event) -> Vec<Value> {
        let mut out = Vec::new();
        match event {
            Event::Text(t) => self.text(&mut out, t, false),
            Event::Reasoning(t) => self.text(&mut out, t, true),
            Event::ToolCall(c) => {
                self.close(&mut out, "completed");
                self.call(&mut out, c);
            }
            Event::Done { finish, usage, .. } => {
                let end = match finish {
                    FinishReason::Length => End::Incomplete,
                    FinishReason::Stop | FinishReason::ToolCalls => End::Completed,
                };
                self.close(&mut out, end.status());
                if self.output.is_empty() {
                    // Always at least one message, as OpenAI answers.
                    self.open_item(&mut out, false);
                    self.close(&mut out, end.status());
                }
                let mut r = self.response(end.status(), Some(usage));
                if end == End::Incomplete {
                    r["incomplete_details"] = json!({"reason": "max_output_tokens"});
                }
                self.finished = Some(r.clone());
                self.emit(&mut out, end.event(), json!({"response": r}));
            }
        }
        out
    }

    /// `response.failed` after the stream started: the error in the response object.
    pub fn failed(&mut self, err: &GatewayError) -> Vec<Value> {
        let mut out = Vec::new();
        self.close(&mut out, "incomplete");
        let mut r = self.response(End::Failed.status(), None);
        r["error"] = json!({"code": "server_error", "message": err.message});
        self.finished = Some(r.clone());
        self.emit(&mut out, End::Failed.event(), json!({"response": r}));
        out
    }

    fn text(&mut self, out: &mut Vec<Value>, delta: String, reasoning: bool) {
        if delta.is_empty() {
            return;
        }
        let same = matches!(
            (&self.open, reasoning),
            (Some(Open::Message { .. }), false) | (Some(Open::Reasoning { .. }), true)
        );
        if !same {
            self.close(out, "completed");
            self.open_item(out, reasoning);
        }
        let index = self.output.len();
        let (kind, id) = match &mut self.open {
            Some(Open::Message { id, text }) => {
                text.push_str(&delta);
                ("response.output_text.delta", id.clone())
            }
            Some(Open::Reasoning { id, text }) => {
                text.push_str(&delta);
                ("response.reasoning_text.delta", id.clone())
            }
            None => return,
        };
        let mut fields =
            json!({"item_id": id, "output_index": index, "content_index": 0, "delta": delta});
        if !reasoning {
            fields["logprobs"] = json!([]);
        }
        self.emit(out, kind, fields);
    }

    fn open_item(&mut self, out: &mut Vec<Value>, reasoning: bool) {
        let index = self.output.len();
        if reasoning {
            let id = new_id("rs");
            let item = json!({"id": id, "type": "reasoning", "status": "in_progress", "summary": [], "content": []});
            self.emit(
                out,
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            );
            self.open = Some(Open::Reasoning {
                id,
                text: String::new(),
            });
        } else {
            let id = new_id("msg");
            let item = json!({"id": id, "type": "message", "status": "in_progress",
                              "role": "assistant", "content": []});
            self.emit(
                out,
                "response.output_item.added",
                json!({"output_index": index, "item": item}),
            );
            self.emit(
                out,
                "response.content_part.added",
                json!({"item_id": id, "output_index": index, "content_index": 0,
                       "part": output_text(String::new())}),
            );
            self.open = Some(Open::Message {
                id,
                text: String::new(),
            });
        }
    }

    /// Ends the open item, if any, with `status`.
    fn close(&mut self, out: &mut Vec<Value>, status: &str) {
        let index = self.output.len();
        let item = match self.open.take() {
            None => return,
            Some(Open::Message { id, text }) => {
                let at = json!({"item_id": id, "output_index": index, "content_index": 0});
                let mut done = at.clone();
                done["text"] = Value::String(text.clone());
                done["logprobs"] = json!([]);
                self.emit(out, "response.output_text.done", done);
                let mut part = at;
                part["part"] = output_text(text.clone());
                self.emit(out, "response.content_part.done", part);
                json!({"id": id, "type": "message", "status": status, "role": "assistant",
                       "content": [output_text(text)]})
            }
            Some(Open::Reasoning { id, text }) => {
                self.emit(
                    out,
                    "response.reasoning_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text}),
                );
                json!({"id": id, "type": "reasoning", "status": status, "summary": [],
                       "content": [{"type": "reasoning_text", "text": text}]})
            }
        };
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
        self.output.push(item);
    }

    /// A whole tool call: its item, one delta with all of it, its done events.
    fn call(&mut self, out: &mut Vec<Value>, c: ToolCall) {
        let index = self.output.len();
        let call_id = if c.id.is_empty() {
            new_id("call")
        } else {
            c.id
        };
        let (item, delta_kind, done_kind, done_field, text) = if self.custom.contains(&c.name) {
            let id = new_id("ctc");
            let input = custom_input(c.arguments);
            let item = json!({"id": id, "type": "custom_tool_call", "status": "completed",
                              "call_id": call_id, "name": c.name, "input": input});
            (
                item,
                "response.custom_tool_call_input.delta",
                "response.custom_tool_call_input.done",
                "input",
                input,
            )
        } else {
            let id = new_id("fc");
            let arguments = match c.arguments {
                Value::String(s) => s,
                other => other.to_string(),
            };
            let item = json!({"id": id, "type": "function_call", "status": "completed",
                              "call_id": call_id, "name": c.name, "arguments": arguments});
            (
                item,
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "arguments",
                arguments,
            )
        };
        let id = item["id"].clone();
        let mut added = item.clone();
        added["status"] = json!("in_progress");
        added[done_field] = json!("");
        self.emit(
            out,
            "response.output_item.added",
            json!({"output_index": index, "item": added}),
        );
        self.emit(
            out,
            delta_kind,
            json!({"item_id": id, "output_index": index, "delta": text.clone()}),
        );
        let mut done = json!({"item_id": id, "output_index": index});
        done[done_field] = Value::String(text);
        if done_field == "arguments" {
            done["name"] = item["name"].clone();
        }
        self.emit(out, done_kind, done);
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
        );
        self.output.push(item);
    }
}

fn output_text(text: String) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

fn usage_json(u: Usage) -> Value {
    json!({
        "input_tokens": u.prompt_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": u.completion_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": u.prompt_tokens.saturating_add(u.completion_tokens),
    })
}

/// The raw text of a custom tool's call: the model was asked for `{"input": "<text>"}`;
/// anything else it wrote is passed on as text rather than lost.
pub fn custom_input(arguments: Value) -> String {
    match arguments {
        Value::String(s) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(o)) => custom_input(Value::Object(o)),
            _ => s,
        },
        Value::Object(mut o) => match o.remove(CUSTOM_INPUT) {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None if o.len() == 1 => match o.into_iter().next() {
                Some((_, Value::String(s))) => s,
                Some((_, other)) => other.to_string(),
                None => String::new(),
            },
            None => Value::Object(o).to_string(),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
#[path = "encode_tests.rs"]
mod tests;
