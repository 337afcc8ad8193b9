//! Neutral events → Anthropic content blocks, shared by the streaming and the whole answer:
//! text and thinking open a block and extend it, a tool call is a block of its own, and the
//! end says why the answer stopped (`end_turn`, `max_tokens`, `stop_sequence`, `tool_use`).
//!
//! Stop sequences are applied here, with [`StreamStopper`], because Anthropic answers which
//! one matched (`stop_sequence`) and no upstream reports that: the upstream is never sent
//! them, and the stream is dropped (the generation cancelled) where one completes.

use devassist_core::postprocess::StreamStopper;
use devassist_core::{Event, FinishReason, ToolCall, Usage};
use serde_json::{Map, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    MaxTokens,
    StopSequence,
    ToolUse,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::EndTurn => "end_turn",
            StopReason::MaxTokens => "max_tokens",
            StopReason::StopSequence => "stop_sequence",
            StopReason::ToolUse => "tool_use",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    Text,
    Thinking,
}

/// One step of the answer's block structure.
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    Open(BlockKind),
    Delta(String),
    Close,
    /// A whole `tool_use` block: its `input` is always an object.
    Tool {
        id: String,
        name: String,
        input: Value,
    },
    End {
        reason: StopReason,
        stop_sequence: Option<String>,
        usage: Usage,
    },
}

/// Turns events into [`Op`]s.
pub struct Assembler {
    stops: Vec<String>,
    stopper: StreamStopper,
    /// Text the stopper holds back (a possible start of a stop sequence).
    held: String,
    open: Option<BlockKind>,
    /// Whether the client asked for thinking blocks; otherwise reasoning is dropped.
    thinking: bool,
    saw_tool: bool,
    /// Text events seen: the output count when the answer is cut at a stop sequence.
    text_events: u32,
    input_estimate: u32,
    ended: bool,
    /// `max_tokens: 0`: the prompt only fills the cache; nothing generated is shown.
    cache_only: bool,
}

impl Assembler {
    pub fn new(stops: Vec<String>, thinking: bool, input_estimate: u32) -> Self {
        Self {
            stopper: StreamStopper::new(stops.clone()),
            stops,
            held: String::new(),
            open: None,
            thinking,
            saw_tool: false,
            text_events: 0,
            input_estimate,
            ended: false,
            cache_only: false,
        }
    }

    /// For `max_tokens: 0`: the answer is empty and stops with `max_tokens`.
    pub fn cache_only(mut self) -> Self {
        self.cache_only = true;
        self
    }

    /// Whether the answer has ended (its `End` was produced); later events are ignored.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    pub fn push(&mut self, event: Event) -> Vec<Op> {
        let mut ops = Vec::new();
        if self.ended {
            return ops;
        }
        if self.cache_only {
            if let Event::Done { usage, .. } = event {
                let usage = Usage {
                    prompt_tokens: self.input(usage.prompt_tokens),
                    completion_tokens: 0,
                };
                self.end(StopReason::MaxTokens, None, usage, &mut ops);
            }
            return ops;
        }
        match event {
            Event::Text(t) => {
                self.text_events = self.text_events.saturating_add(1);
                let probe = format!("{}{t}", self.held);
                let out = self.stopper.push(&t);
                let rest = probe.get(out.len()..).unwrap_or_default();
                self.text(out, &mut ops);
                if self.stopper.is_stopped() {
                    let matched = self
                        .stops
                        .iter()
                        .filter(|s| rest.starts_with(s.as_str()))
                        .min_by_key(|s| s.len())
                        .cloned();
                    self.held.clear();
                    self.close(&mut ops);
                    let usage = Usage {
                        prompt_tokens: self.input_estimate,
                        completion_tokens: self.text_events,
                    };
                    self.end(StopReason::StopSequence, matched, usage, &mut ops);
                } else {
                    self.held = rest.to_owned();
                }
            }
            Event::Reasoning(t) => {
                if self.thinking && !t.is_empty() {
                    self.open(BlockKind::Thinking, &mut ops);
                    ops.push(Op::Delta(t));
                }
            }
            Event::ToolCall(call) => {
                self.flush(&mut ops);
                self.close(&mut ops);
                self.saw_tool = true;
                ops.push(tool(call));
            }
            Event::Done { finish, usage, .. } => {
                self.flush(&mut ops);
                self.close(&mut ops);
                let reason = if self.saw_tool {
                    StopReason::ToolUse
                } else if finish == FinishReason::Length {
                    StopReason::MaxTokens
                } else {
                    StopReason::EndTurn
                };
                let usage = Usage {
                    prompt_tokens: self.input(usage.prompt_tokens),
                    completion_tokens: usage.completion_tokens,
                };
                self.end(reason, None, usage, &mut ops);
            }
        }
        ops
    }

    /// The backend's input count, or the estimate when it reported none.
    fn input(&self, reported: u32) -> u32 {
        if reported == 0 {
            self.input_estimate
        } else {
            reported
        }
    }

    fn text(&mut self, text: String, ops: &mut Vec<Op>) {
        if !text.is_empty() {
            self.open(BlockKind::Text, ops);
            ops.push(Op::Delta(text));
        }
    }

    /// Emits the held-back text: it was not a stop sequence after all.
    fn flush(&mut self, ops: &mut Vec<Op>) {
        let rest = self.stopper.finish();
        self.held.clear();
        self.text(rest, ops);
    }

    fn open(&mut self, kind: BlockKind, ops: &mut Vec<Op>) {
        if self.open != Some(kind) {
            self.close(ops);
            self.open = Some(kind);
            ops.push(Op::Open(kind));
        }
    }

    fn close(&mut self, ops: &mut Vec<Op>) {
        if self.open.take().is_some() {
            ops.push(Op::Close);
        }
    }

    fn end(
        &mut self,
        reason: StopReason,
        stop_sequence: Option<String>,
        usage: Usage,
        ops: &mut Vec<Op>,
    ) {
        self.ended = true;
        ops.push(Op::End {
            reason,
            stop_sequence,
            usage,
        });
    }
}

/// A tool call as a `tool_use` block; arguments that are not an object (a backend that
/// could not parse them) are kept under `input`.
fn tool(call: ToolCall) -> Op {
    let input = match call.arguments {
        Value::Object(o) => Value::Object(o),
        Value::String(s) => match serde_json::from_str::<Value>(&s) {
            Ok(Value::Object(o)) => Value::Object(o),
            _ if s.trim().is_empty() => Value::Object(Map::new()),
            _ => serde_json::json!({ "input": s }),
        },
        Value::Null => Value::Object(Map::new()),
        other => serde_json::json!({ "input": other }),
    };
    let id = if call.id.is_empty() {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        format!("toolu_{}", &hex[..24])
    } else {
        call.id
    };
    Op::Tool {
        id,
        name: call.name,
        input,
    }
}
