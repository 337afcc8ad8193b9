//! Expanded logging's part in the pipeline: for a request whose facts keep a transcript
//! (`telemetry::observe` asked for one), the request as it goes to the backend and the
//! answer as the client gets it. Nothing is kept for other requests, and nothing is
//! redacted or written here: the telemetry's expanded-log writer does both, off the
//! request's path, when the request ends.

use devassist_core::{CallContext, Event, EventStream, GenerateRequest, Prompt, Transcript};
use futures::StreamExt;
use serde_json::{Value, json};

/// The request's transcript, when expanded logging covers it.
pub(super) fn transcript(ctx: &CallContext) -> Option<&Transcript> {
    ctx.facts.as_deref().and_then(|f| f.transcript())
}

/// Notes the request a try sends (with the secrets it carries: the writer redacts them
/// all, whatever the backend), and forgets what an earlier try answered.
pub(super) fn sending(ctx: &CallContext, req: &GenerateRequest) {
    let Some(t) = transcript(ctx) else { return };
    let request = request_json(req);
    let caller = ctx.caller.as_ref().map(|c| c.id.clone());
    t.update(|x| {
        x.caller = caller;
        x.request = Some(request);
        x.text.clear();
        x.reasoning.clear();
        x.tool_calls.clear();
        x.error = None;
    });
}

/// `stream`, with each event also noted in the request's transcript.
pub(super) fn capture(stream: EventStream, ctx: &CallContext) -> EventStream {
    let Some(facts) = ctx.facts.clone().filter(|f| f.transcript().is_some()) else {
        return stream;
    };
    stream
        .inspect(move |item| {
            let Some(t) = facts.transcript() else { return };
            t.update(|x| match item {
                Ok(Event::Text(s)) => x.text.push_str(s),
                Ok(Event::Reasoning(s)) => x.reasoning.push_str(s),
                Ok(Event::ToolCall(c)) => x.tool_calls.push(c.clone()),
                Ok(Event::Done { .. }) => {}
                Err(e) => x.error = Some(e.to_string()),
            });
        })
        .boxed()
}

/// The request's prompt as JSON: messages and tools, or a completion's prompt, suffix and
/// system; images are counted, not copied.
pub fn request_json(req: &GenerateRequest) -> Value {
    let mut out = match &req.prompt {
        Prompt::Chat { messages, tools } => {
            let messages: Vec<Value> = messages
                .iter()
                .map(|m| {
                    let mut v = serde_json::to_value(m).unwrap_or(Value::Null);
                    if let Some(obj) = v.as_object_mut()
                        && obj.remove("images").is_some()
                    {
                        obj.insert("images".into(), json!(m.images.len()));
                    }
                    v
                })
                .collect();
            let mut out = json!({ "messages": messages });
            if !tools.is_empty() {
                out["tools"] = Value::Array(tools.clone());
            }
            out
        }
        Prompt::Completion {
            prompt,
            suffix,
            system,
            raw,
            images,
            ..
        } => {
            let mut out = json!({ "prompt": prompt, "raw": raw });
            if let Some(s) = suffix {
                out["suffix"] = json!(s);
            }
            if let Some(s) = system {
                out["system"] = json!(s);
            }
            if !images.is_empty() {
                out["images"] = json!(images.len());
            }
            out
        }
    };
    let s = &req.sampling;
    if let Some(t) = s.max_tokens {
        out["max_tokens"] = json!(t);
    }
    if let Some(t) = s.temperature {
        out["temperature"] = json!(t);
    }
    if !s.stop.is_empty() {
        out["stop"] = json!(s.stop);
    }
    out["stream"] = json!(req.stream);
    out
}
