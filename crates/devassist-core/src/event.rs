//! Neutral stream events produced by backends and consumed by surfaces.

use crate::request::ToolCall;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FinishReason {
    #[default]
    Stop,
    Length,
    ToolCalls,
}

impl FinishReason {
    /// The OpenAI spelling.
    pub fn as_openai(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ToolCalls => "tool_calls",
        }
    }

    /// The Ollama `done_reason` spelling (tool calls finish with `stop`).
    pub fn as_ollama(self) -> &'static str {
        match self {
            FinishReason::Length => "length",
            FinishReason::Stop | FinishReason::ToolCalls => "stop",
        }
    }

    pub fn parse(s: &str) -> FinishReason {
        match s {
            "length" | "max_tokens" => FinishReason::Length,
            "tool_calls" | "function_call" => FinishReason::ToolCalls,
            _ => FinishReason::Stop,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
}

/// Durations reported by upstreams that measure them (Ollama, the embedded engine).
/// The gateway fills `total` itself when the upstream does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Timings {
    pub total: Option<Duration>,
    pub load: Option<Duration>,
    pub prompt_eval: Option<Duration>,
    pub eval: Option<Duration>,
}

/// One event of a generation stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Generated text.
    Text(String),
    /// Reasoning ("thinking") text.
    Reasoning(String),
    /// A complete tool call (never argument deltas).
    ToolCall(ToolCall),
    /// The last event of a successful stream.
    Done {
        finish: FinishReason,
        usage: Usage,
        timings: Timings,
        /// Ollama's `context` tokens, when the upstream returned them.
        context: Option<Vec<i64>>,
    },
}

impl Event {
    pub fn done(finish: FinishReason, usage: Usage) -> Event {
        Event::Done {
            finish,
            usage,
            timings: Timings::default(),
            context: None,
        }
    }
}
