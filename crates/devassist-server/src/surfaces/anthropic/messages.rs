//! `POST /v1/messages`: an Anthropic Messages request through the pipeline, answered as
//! one `message` or as Anthropic's event stream.

use super::assemble::Assembler;
use super::convert;
use super::dialect::AnthropicDialect;
use super::encode::{Encoder, Whole};
use super::wire::MessagesBody;
use crate::guard::RequestId;
use crate::pipeline::Requested;
use crate::state::AppState;
use crate::surfaces::stream::streaming;
use crate::surfaces::{Dialect, WireJson};
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use devassist_core::{Feature, GatewayError, GenerateRequest, Prompt};
use futures::StreamExt;

pub async fn messages(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    WireJson(b, _): WireJson<MessagesBody, AnthropicDialect>,
) -> Response {
    run(st, rid, b)
        .await
        .unwrap_or_else(AnthropicDialect::error_response)
}

pub fn require_model(m: Option<String>) -> Result<String, GatewayError> {
    m.filter(|m| !m.trim().is_empty())
        .ok_or_else(|| GatewayError::bad_request("model: Field required").with_param("model"))
}

/// Whether the request turned extended thinking on (`{"type": "enabled"|"adaptive", …}`):
/// only then do reasoning tokens come back, as thinking blocks.
fn wants_thinking(v: Option<&serde_json::Value>) -> bool {
    v.and_then(|t| t.get("type"))
        .and_then(serde_json::Value::as_str)
        .is_some_and(|t| t != "disabled")
}

async fn run(st: AppState, rid: RequestId, b: MessagesBody) -> Result<Response, GatewayError> {
    let model = require_model(b.model)?;
    let system = convert::system(b.system)?;
    let messages = convert::messages(system, b.messages.unwrap_or_default())?;
    let (choice, parallel) = convert::neutral_choice(b.tool_choice.as_ref());
    let tools = convert::tools(b.tools, b.tool_choice)?;
    let sampling = convert::sampling(b.max_tokens, b.temperature, b.top_p, b.top_k)?;
    let stops = convert::stop_sequences(b.stop_sequences)?;
    let thinking = wants_thinking(b.thinking.as_ref());
    let route = st.route(Feature::Chat, Requested::Name(&model))?;
    let input_estimate = super::count::estimate(&messages, &tools);
    let mut req = GenerateRequest::new(model.clone(), Prompt::Chat { messages, tools });
    req.sampling = sampling;
    req.tool_choice = choice;
    req.parallel_tool_calls = parallel;
    req.stream = b.stream.unwrap_or(false);
    let ctx = rid.call_context();
    let started = st.generate(&route, Feature::Chat, req, &ctx).await?;
    let mut asm = Assembler::new(stops, thinking, input_estimate);
    if b.max_tokens == Some(0) {
        asm = asm.cache_only();
    }
    let enc = Encoder::new(model, input_estimate);
    let mut events = started.into_stream();
    if !b.stream.unwrap_or(false) {
        let mut whole = Whole::default();
        while let Some(item) = events.next().await {
            for op in asm.push(item?) {
                whole.push(op);
            }
            if asm.is_ended() {
                break;
            }
        }
        if !whole.is_done() {
            return Err(GatewayError::backend_error(
                "the backend closed the stream before it finished",
            ));
        }
        return Ok(axum::Json(whole.finish(&enc)).into_response());
    }
    // Streamed: read events until the answer ends (the upstream stream is dropped there,
    // which cancels it when a stop sequence cut the answer short).
    let head = enc.head();
    let body = futures::stream::unfold(
        (events, asm, enc, false),
        move |(mut events, mut asm, mut enc, done)| {
            let rid = rid.clone();
            async move {
                if done {
                    return None;
                }
                let frames: Vec<Bytes> = match events.next().await {
                    Some(Ok(ev)) => asm
                        .push(ev)
                        .into_iter()
                        .flat_map(|op| enc.frames(op))
                        .collect(),
                    Some(Err(e)) => {
                        tracing::warn!(request_id = %rid.as_str(), error = %e, "Stream failed after it started");
                        return Some((vec![Encoder::error_frame(&e)], (events, asm, enc, true)));
                    }
                    None => {
                        let e = GatewayError::backend_error(
                            "the backend closed the stream before it finished",
                        );
                        return Some((vec![Encoder::error_frame(&e)], (events, asm, enc, true)));
                    }
                };
                let done = asm.is_ended();
                Some((frames, (events, asm, enc, done)))
            }
        },
    )
    .flat_map(futures::stream::iter);
    Ok(streaming(
        "text/event-stream",
        futures::stream::iter(head).chain(body),
    ))
}
