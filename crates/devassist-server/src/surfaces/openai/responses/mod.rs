//! `POST /v1/responses`: OpenAI's Responses API (what Codex CLI and Copilot CLI speak),
//! stateless. The body becomes a neutral chat request (`convert.rs`), goes through the
//! pipeline like `/v1/chat/completions` (route, guard, pool, failover, deadline), and the
//! answer's events become Responses events or one `response` object (`encode.rs`).
//! Nothing is stored: `previous_response_id` and friends are a 400 saying so.

mod convert;
mod encode;
mod wire;

use super::wire::require_model;
use crate::config::Capability;
use crate::guard::RequestId;
use crate::pipeline::Requested;
use crate::state::AppState;
use crate::surfaces::stream::{json_frame, streaming};
use crate::surfaces::{Dialect, OpenAiDialect, WireJson};
use axum::Extension;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use devassist_core::{Feature, GatewayError, GenerateRequest, Prompt, Sampling};
use encode::Encoder;
use futures::StreamExt;
use serde_json::{Map, Value, json};
use wire::ResponsesBody;

/// The response header that lists what the gateway left out of the request.
pub const WARNING_HEADER: &str = "x-devassist-warning";

pub async fn create(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    WireJson(b, _): WireJson<ResponsesBody, OpenAiDialect>,
) -> Response {
    run(st, rid, b)
        .await
        .unwrap_or_else(OpenAiDialect::error_response)
}

async fn run(st: AppState, rid: RequestId, mut b: ResponsesBody) -> Result<Response, GatewayError> {
    convert::refuse_state(&b)?;
    let model = require_model(b.model.clone())?;
    let messages = convert::messages(b.instructions.clone(), b.input.take())?;
    let tools = convert::tools(b.tools.clone().unwrap_or_default(), b.tool_choice.as_ref())?;
    let format = convert::text_format(b.text.as_ref().and_then(|t| t.format.clone()))?;
    let route = st.route(Feature::Chat, Requested::Name(&model))?;
    convert::check_sampling(&b, route.settings.context_length)?;
    let effort = b.reasoning.as_ref().and_then(|r| r.effort.as_deref());
    let think = convert::think(effort, route.has(Capability::Thinking))?;

    let mut req = GenerateRequest::new(
        model.clone(),
        Prompt::Chat {
            messages,
            tools: tools.offered,
        },
    );
    req.sampling = Sampling {
        temperature: b.temperature,
        top_p: b.top_p,
        // Within the model's context (`check_sampling`), so within u32.
        max_tokens: b
            .max_output_tokens
            .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        ..Sampling::default()
    };
    req.tool_choice = convert::neutral_choice(b.tool_choice.as_ref());
    req.parallel_tool_calls = b.parallel_tool_calls;
    req.format = format;
    req.think = think;
    req.stream = b.stream.unwrap_or(false);
    let warning = warning(&tools.ignored);
    if !tools.ignored.is_empty() {
        tracing::info!(request_id = %rid.as_str(), ignored = ?tools.ignored, "Left out tools the gateway cannot run");
    }
    let mut enc = Encoder::new(model, echo(&b), tools.custom);

    let ctx = rid.call_context();
    // Codex sends its conversation id as `prompt_cache_key`: one conversation stays on
    // one replica, whose KV cache holds its prefix.
    let started = match b.prompt_cache_key.take().filter(|k| !k.is_empty()) {
        Some(key) => {
            st.generate_with_affinity(&route, Feature::Chat, req, &ctx, Some(key))
                .await?
        }
        None => st.generate(&route, Feature::Chat, req, &ctx).await?,
    };
    let mut resp = if b.stream.unwrap_or(false) {
        let head = futures::stream::iter(enc.start().into_iter().map(|e| sse(&e)));
        let request_id = rid.as_str().to_owned();
        // `None` marks the end of the backend's stream: one that ends without `Done`
        // still closes with `response.failed`.
        let body = started
            .into_stream()
            .map(Some)
            .chain(futures::stream::iter([None]))
            .flat_map(move |item| {
                let events = if enc.finished().is_some() {
                    Vec::new()
                } else {
                    match item {
                        Some(Ok(ev)) => enc.event(ev),
                        Some(Err(e)) => {
                            tracing::warn!(request_id = %request_id, error = %e, "Stream failed after it started");
                            enc.failed(&e)
                        }
                        None => enc.failed(&closed_early()),
                    }
                };
                futures::stream::iter(events.into_iter().map(|e| sse(&e)).collect::<Vec<_>>())
            });
        streaming("text/event-stream", head.chain(body))
    } else {
        let mut events = started.into_stream();
        let mut whole = None;
        while let Some(item) = events.next().await {
            enc.event(item?);
            if let Some(r) = enc.finished() {
                whole = Some(r.clone());
                break;
            }
        }
        axum::Json(whole.ok_or_else(closed_early)?).into_response()
    };
    if let Some(w) = warning {
        resp.headers_mut().insert(WARNING_HEADER, w);
    }
    Ok(resp)
}

fn closed_early() -> GatewayError {
    GatewayError::backend_error("the backend closed the stream before it finished")
}

/// One server-sent event: `event: <type>` and its JSON.
fn sse(event: &Value) -> Bytes {
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("error");
    let prefix = format!("event: {kind}\ndata: ");
    json_frame(prefix.as_bytes(), event, b"\n\n")
}

/// `x-devassist-warning` naming the tools left out, in header-safe characters.
fn warning(ignored: &[String]) -> Option<HeaderValue> {
    if ignored.is_empty() {
        return None;
    }
    let names: Vec<String> = ignored
        .iter()
        .map(|n| {
            n.chars()
                .filter(|c| c.is_ascii_graphic() || *c == ' ')
                .take(64)
                .collect()
        })
        .collect();
    HeaderValue::from_str(&format!(
        "ignored tools the gateway cannot run: {}",
        names.join(", ")
    ))
    .ok()
}

/// The request fields OpenAI echoes on the `response` object.
fn echo(b: &ResponsesBody) -> Map<String, Value> {
    let reasoning = b.reasoning.as_ref().map(|r| {
        json!({"effort": r.effort, "summary": r.summary.as_ref().or(r.generate_summary.as_ref())})
    });
    let text = json!({
        "format": b.text.as_ref().and_then(|t| t.format.clone()).unwrap_or_else(|| json!({"type": "text"})),
        "verbosity": b.text.as_ref().and_then(|t| t.verbosity.clone()),
    });
    let truncation = match b.truncation {
        Some(wire::Truncation::Auto) => "auto",
        Some(wire::Truncation::Disabled) | None => "disabled",
    };
    let fields = json!({
        "instructions": b.instructions,
        "max_output_tokens": b.max_output_tokens,
        "max_tool_calls": b.max_tool_calls,
        "parallel_tool_calls": b.parallel_tool_calls.unwrap_or(true),
        "previous_response_id": null,
        "reasoning": reasoning.unwrap_or_else(|| json!({"effort": null, "summary": null})),
        "store": false,
        "background": false,
        "temperature": b.temperature.unwrap_or(1.0),
        "top_p": b.top_p.unwrap_or(1.0),
        "top_logprobs": b.top_logprobs.unwrap_or(0),
        "text": text,
        "tool_choice": b.tool_choice.clone().unwrap_or_else(|| json!("auto")),
        "tools": b.tools.clone().unwrap_or_default(),
        "truncation": truncation,
        "metadata": b.metadata.clone().unwrap_or_default(),
        "user": b.user,
        "prompt_cache_key": b.prompt_cache_key,
        "prompt_cache_retention": b.prompt_cache_retention,
        "safety_identifier": b.safety_identifier,
        "service_tier": b.service_tier.clone().unwrap_or_else(|| "default".to_owned()),
    });
    match fields {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod fuzz_tests;
#[cfg(test)]
mod http_tests;
