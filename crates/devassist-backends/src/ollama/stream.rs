//! Ollama NDJSON lines → neutral events, for `/api/chat` and `/api/generate`, streamed or
//! not (a non-streamed answer is one line).
//!
//! The final `done: true` line carries `done_reason`, the token counts, the four durations
//! in nanoseconds and, for generate, `context`. An `{"error": "..."}` line ends the stream
//! with an error; a body that ends without `done: true` is truncated.

use crate::http::error;
use crate::http::pump::Decode;
use crate::ndjson::NdjsonParser;
use crate::new_call_id;
use devassist_core::{Event, FinishReason, GatewayError, Timings, ToolCall, Usage};
use serde_json::{Map, Value};
use std::time::Duration;

pub(crate) struct NdjsonDecoder {
    parser: Option<NdjsonParser>,
    host: String,
    saw_tool_call: bool,
    done: bool,
}

impl NdjsonDecoder {
    pub fn new(host: &str) -> Self {
        Self {
            parser: Some(NdjsonParser::new()),
            host: host.to_owned(),
            saw_tool_call: false,
            done: false,
        }
    }

    fn on_lines(&mut self, lines: Vec<String>, out: &mut Vec<Event>) -> Result<(), GatewayError> {
        for line in lines {
            if self.done {
                break;
            }
            let value: Value = serde_json::from_str(&line)
                .map_err(|e| error::malformed(format!("invalid NDJSON line: {e}")))?;
            self.on_value(&value, out)?;
        }
        Ok(())
    }

    fn on_value(&mut self, value: &Value, out: &mut Vec<Event>) -> Result<(), GatewayError> {
        let Some(obj) = value.as_object() else {
            return Err(error::malformed(format!(
                "expected a JSON object, got {value}"
            )));
        };
        if obj.get("error").is_some_and(|e| !e.is_null()) {
            return Err(error::in_stream(value));
        }
        if let Some(message) = obj.get("message").and_then(Value::as_object) {
            text_events(message, out);
            if let Some(calls) = message.get("tool_calls").and_then(Value::as_array) {
                for call in calls {
                    if let Some(call) = tool_call(call) {
                        self.saw_tool_call = true;
                        out.push(Event::ToolCall(call));
                    }
                }
            }
        }
        // `/api/generate` puts the text at the top level.
        if let Some(text) = non_empty(obj.get("thinking")) {
            out.push(Event::Reasoning(text.to_owned()));
        }
        if let Some(text) = non_empty(obj.get("response")) {
            out.push(Event::Text(text.to_owned()));
        }
        if obj.get("done").and_then(Value::as_bool) == Some(true) {
            out.push(self.done_event(obj));
            self.done = true;
        }
        Ok(())
    }

    fn done_event(&self, obj: &Map<String, Value>) -> Event {
        let finish = match obj.get("done_reason").and_then(Value::as_str) {
            Some("length") => FinishReason::Length,
            _ if self.saw_tool_call => FinishReason::ToolCalls,
            Some(reason) => FinishReason::parse(reason),
            None => FinishReason::Stop,
        };
        let nanos = |key: &str| {
            obj.get(key)
                .and_then(Value::as_u64)
                .map(Duration::from_nanos)
        };
        let context = obj
            .get("context")
            .and_then(Value::as_array)
            .map(|ids| ids.iter().filter_map(Value::as_i64).collect::<Vec<i64>>());
        Event::Done {
            finish,
            usage: Usage {
                prompt_tokens: count(obj.get("prompt_eval_count")),
                completion_tokens: count(obj.get("eval_count")),
            },
            timings: Timings {
                total: nanos("total_duration"),
                load: nanos("load_duration"),
                prompt_eval: nanos("prompt_eval_duration"),
                eval: nanos("eval_duration"),
            },
            context,
        }
    }
}

fn text_events(message: &Map<String, Value>, out: &mut Vec<Event>) {
    if let Some(text) = non_empty(message.get("thinking")) {
        out.push(Event::Reasoning(text.to_owned()));
    }
    if let Some(text) = non_empty(message.get("content")) {
        out.push(Event::Text(text.to_owned()));
    }
}

/// `{"id":"call_x","function":{"index":0,"name":"f","arguments":{...}}}`.
fn tool_call(call: &Value) -> Option<ToolCall> {
    let function = call.get("function")?;
    let name = function.get("name").and_then(Value::as_str)?.to_owned();
    let arguments = match function.get("arguments") {
        Some(Value::String(raw)) => {
            serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.clone()))
        }
        Some(Value::Null) | None => Value::Object(Map::new()),
        Some(other) => other.clone(),
    };
    let id = non_empty(call.get("id")).map_or_else(new_call_id, str::to_owned);
    Some(ToolCall {
        id,
        name,
        arguments,
    })
}

fn non_empty(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn count(value: Option<&Value>) -> u32 {
    value
        .and_then(Value::as_u64)
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

impl Decode for NdjsonDecoder {
    fn push(&mut self, chunk: &[u8], out: &mut Vec<Event>) -> Result<(), GatewayError> {
        let mut lines = Vec::new();
        let parsed = match self.parser.as_mut() {
            Some(parser) => parser.push(chunk, &mut lines),
            None => Ok(()),
        };
        self.on_lines(lines, out)?;
        parsed.map_err(|e| error::malformed(e.to_string()))
    }

    fn finish(&mut self, out: &mut Vec<Event>) -> Result<(), GatewayError> {
        let mut lines = Vec::new();
        if let Some(parser) = self.parser.take() {
            parser.finish(&mut lines);
        }
        self.on_lines(lines, out)?;
        if self.done {
            Ok(())
        } else {
            Err(error::truncated(&self.host))
        }
    }

    fn is_done(&self) -> bool {
        self.done
    }
}
