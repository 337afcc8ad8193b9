//! OpenAI-compatible responses → neutral events: SSE chunk streams and single JSON bodies.
//!
//! Handles what vLLM, llama-server and Ollama's `/v1` actually send: content and reasoning
//! deltas (`reasoning_content` or `reasoning`), tool-call argument deltas accumulated per
//! index and emitted whole, a finish chunk, a usage chunk that may come after it (or not at
//! all), llama-server `timings`, `[DONE]`, and `{"error": ...}` in place of a chunk.

use crate::http::error;
use crate::http::pump::Decode;
use crate::new_call_id;
use crate::sse::{SseEvent, SseParser};
use devassist_core::{Event, FinishReason, GatewayError, Timings, ToolCall, Usage};
use serde_json::{Map, Value};
use std::time::Duration;

/// A tool call whose pieces are still arriving.
#[derive(Debug, Default)]
struct PartialCall {
    index: Option<u64>,
    id: String,
    name: String,
    arguments: String,
}

/// What the chunks of one response have said so far.
#[derive(Debug, Default)]
pub(crate) struct ChunkState {
    /// In the order the calls started.
    calls: Vec<PartialCall>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    timings: Timings,
    /// Token counts from llama-server `timings`, used when no usage object arrives.
    timing_usage: Option<Usage>,
    emitted_call: bool,
    done: bool,
}

impl ChunkState {
    /// One chunk (streaming) or the whole response (non-streaming).
    pub fn on_value(&mut self, value: &Value, out: &mut Vec<Event>) -> Result<(), GatewayError> {
        let Some(obj) = value.as_object() else {
            return Err(error::malformed(format!(
                "expected a JSON object, got {value}"
            )));
        };
        if obj.get("error").is_some_and(|e| !e.is_null()) {
            return Err(error::in_stream(value));
        }
        if let Some(choice) = obj
            .get("choices")
            .and_then(Value::as_array)
            .and_then(|c| c.first())
        {
            self.on_choice(choice, out);
        }
        if let Some(usage) = obj.get("usage").and_then(Value::as_object) {
            self.usage = Some(Usage {
                prompt_tokens: count(usage.get("prompt_tokens")),
                completion_tokens: count(usage.get("completion_tokens")),
            });
        }
        if let Some(timings) = obj.get("timings").and_then(Value::as_object) {
            self.on_timings(timings);
        }
        Ok(())
    }

    fn on_choice(&mut self, choice: &Value, out: &mut Vec<Event>) {
        // Streaming chunks carry `delta`, whole responses `message`; the fields match.
        for part in [choice.get("delta"), choice.get("message")]
            .into_iter()
            .flatten()
        {
            for key in ["reasoning_content", "reasoning"] {
                if let Some(text) = non_empty(part.get(key)) {
                    out.push(Event::Reasoning(text.to_owned()));
                    break;
                }
            }
            if let Some(text) = non_empty(part.get("content")) {
                out.push(Event::Text(text.to_owned()));
            }
            if let Some(calls) = part.get("tool_calls").and_then(Value::as_array) {
                for call in calls {
                    self.on_tool_call(call);
                }
            }
        }
        // Legacy `/completions` chunks.
        if let Some(text) = non_empty(choice.get("text")) {
            out.push(Event::Text(text.to_owned()));
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.finish = Some(FinishReason::parse(reason));
            self.flush_calls(out);
        }
    }

    fn on_tool_call(&mut self, call: &Value) {
        let id = non_empty(call.get("id"));
        let index = call.get("index").and_then(Value::as_u64);
        // Deltas name their call by index; without one, a new id starts a new call and
        // anything else continues the latest one.
        let found = match (index, id) {
            (Some(index), _) => self.calls.iter().position(|c| c.index == Some(index)),
            (None, Some(id)) => self.calls.iter().position(|c| c.id == id),
            (None, None) => self.calls.len().checked_sub(1),
        };
        let position = found.unwrap_or_else(|| {
            self.calls.push(PartialCall {
                index,
                ..PartialCall::default()
            });
            self.calls.len() - 1
        });
        let Some(entry) = self.calls.get_mut(position) else {
            return;
        };
        if let Some(id) = id {
            id.clone_into(&mut entry.id);
        }
        let function = call.get("function");
        if let Some(name) = non_empty(function.and_then(|f| f.get("name"))) {
            // Most servers send the name once; some repeat it whole on every delta.
            if entry.name.is_empty() {
                name.clone_into(&mut entry.name);
            } else if entry.name != name {
                entry.name.push_str(name);
            }
        }
        match function.and_then(|f| f.get("arguments")) {
            Some(Value::String(piece)) => entry.arguments.push_str(piece),
            Some(Value::Null) | None => {}
            // A few servers send arguments as an object instead of a string.
            Some(other) => entry.arguments = other.to_string(),
        }
    }

    fn on_timings(&mut self, timings: &Map<String, Value>) {
        let ms = |key: &str| {
            timings
                .get(key)
                .and_then(Value::as_f64)
                .and_then(|v| Duration::try_from_secs_f64(v / 1000.0).ok())
        };
        self.timings.prompt_eval = ms("prompt_ms").or(self.timings.prompt_eval);
        self.timings.eval = ms("predicted_ms").or(self.timings.eval);
        self.timing_usage = Some(Usage {
            prompt_tokens: count(timings.get("prompt_n")),
            completion_tokens: count(timings.get("predicted_n")),
        });
    }

    fn flush_calls(&mut self, out: &mut Vec<Event>) {
        for call in std::mem::take(&mut self.calls) {
            if call.name.is_empty() && call.arguments.is_empty() {
                continue;
            }
            self.emitted_call = true;
            out.push(Event::ToolCall(ToolCall {
                id: if call.id.is_empty() {
                    new_call_id()
                } else {
                    call.id
                },
                name: call.name,
                arguments: parse_arguments(call.arguments),
            }));
        }
    }

    /// The end of the response: tool calls still pending, then `Done`.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        if self.done {
            return;
        }
        self.flush_calls(out);
        let finish = match self.finish {
            Some(FinishReason::Length) => FinishReason::Length,
            _ if self.emitted_call => FinishReason::ToolCalls,
            Some(reason) => reason,
            None => FinishReason::Stop,
        };
        out.push(Event::Done {
            finish,
            usage: self.usage.or(self.timing_usage).unwrap_or_default(),
            timings: self.timings,
            context: None,
        });
        self.done = true;
    }

    pub fn saw_finish_reason(&self) -> bool {
        self.finish.is_some()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// Arguments arrive as a JSON string; keep the raw text as a string when it is not JSON so
/// that nothing the model produced is lost.
fn parse_arguments(raw: String) -> Value {
    if raw.trim().is_empty() {
        return Value::Object(Map::new());
    }
    serde_json::from_str(&raw).unwrap_or(Value::String(raw))
}

fn non_empty(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn count(value: Option<&Value>) -> u32 {
    value
        .and_then(Value::as_u64)
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// Decodes a `text/event-stream` body.
pub(crate) struct SseDecoder {
    parser: Option<SseParser>,
    state: ChunkState,
    host: String,
}

impl SseDecoder {
    pub fn new(host: &str) -> Self {
        Self {
            parser: Some(SseParser::new()),
            state: ChunkState::default(),
            host: host.to_owned(),
        }
    }

    fn on_events(
        &mut self,
        events: Vec<SseEvent>,
        out: &mut Vec<Event>,
    ) -> Result<(), GatewayError> {
        for event in events {
            if self.state.is_done() {
                break;
            }
            if event.is_done() {
                self.state.finish(out);
                break;
            }
            if event.data.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(&event.data) {
                Ok(value) if event.event.as_deref() == Some("error") => {
                    return Err(error::in_stream(&value));
                }
                Ok(value) => self.state.on_value(&value, out)?,
                Err(_) if event.event.as_deref() == Some("error") => {
                    return Err(GatewayError::backend_error(event.data));
                }
                // Some servers end events with a single newline, which SSE joins into
                // one multi-line data field: read each line as its own chunk.
                Err(_) if event.data.contains('\n') => {
                    for line in event.data.lines().filter(|l| !l.trim().is_empty()) {
                        let value = serde_json::from_str::<Value>(line)
                            .map_err(|e| error::malformed(format!("invalid SSE data: {e}")))?;
                        self.state.on_value(&value, out)?;
                    }
                }
                Err(e) => return Err(error::malformed(format!("invalid SSE data: {e}"))),
            }
        }
        Ok(())
    }
}

impl Decode for SseDecoder {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), GatewayError> {
        let mut events = Vec::new();
        let parsed = match self.parser.as_mut() {
            Some(parser) => parser.push(chunk, &mut events),
            None => Ok(()),
        };
        self.on_events(events, out)?;
        parsed.map_err(|e| error::malformed(e.to_string()))
    }

    fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), GatewayError> {
        let mut events = Vec::new();
        if let Some(parser) = self.parser.take() {
            parser
                .finish(&mut events)
                .map_err(|e| error::malformed(e.to_string()))?;
        }
        self.on_events(events, out)?;
        // A stream that reached its finish chunk is complete even without `[DONE]`.
        if !self.state.is_done() {
            if !self.state.saw_finish_reason() {
                return Err(error::truncated(&self.host));
            }
            self.state.finish(out);
        }
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.state.is_done()
    }
}

/// Decodes a whole `application/json` body (non-streaming calls, or a server that ignored
/// `stream: true`).
pub(crate) struct JsonDecoder {
    body: Vec<u8>,
    limit: usize,
    state: ChunkState,
}

impl JsonDecoder {
    pub fn new(limit: usize) -> Self {
        Self {
            body: Vec::new(),
            limit,
            state: ChunkState::default(),
        }
    }
}

impl Decode for JsonDecoder {
    fn push(&mut self, chunk: &[u8], _out: &mut Vec<Event>) -> Result<(), GatewayError> {
        if self.body.len() + chunk.len() > self.limit {
            return Err(error::malformed(format!(
                "response body over {} bytes",
                self.limit
            )));
        }
        self.body.extend_from_slice(chunk);
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), GatewayError> {
        let value: Value = serde_json::from_slice(&self.body)
            .map_err(|e| error::malformed(format!("invalid JSON body: {e}")))?;
        if value.get("error").is_some_and(|e| !e.is_null()) {
            return Err(error::in_stream(&value));
        }
        if !value.get("choices").is_some_and(Value::is_array) {
            return Err(error::malformed("response has no choices"));
        }
        self.state.on_value(&value, out)?;
        self.state.finish(out);
        Ok(())
    }

    fn is_done(&self) -> bool {
        self.state.is_done()
    }
}
