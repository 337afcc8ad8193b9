//! `POST /v1/messages/count_tokens`, and the input estimate a streamed answer's
//! `message_start` carries before the backend has counted.
//!
//! The count is an estimate, not the model's tokenizer: no backend protocol the gateway
//! speaks can count a chat prompt as its template renders it. It is the gateway's
//! estimating counter (about three ASCII characters a token, more for other scripts) over
//! every message's text, tool call and tool definition, plus a few tokens per message for
//! the template's markers; docs/anthropic.md says so.

use super::convert;
use super::dialect::AnthropicDialect;
use super::messages::require_model;
use super::wire::CountBody;
use crate::guard::request_id::RequestId;
use crate::pipeline::Requested;
use crate::state::AppState;
use crate::surfaces::{Dialect, WireJson};
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use devassist_core::prompt::{EstimatingCounter, TokenCounter};
use devassist_core::{Feature, GatewayError, Message};
use serde_json::{Value, json};

/// Tokens a message costs beyond its text (role markers, separators).
const MESSAGE_OVERHEAD: usize = 4;
/// Tokens an image is counted as.
const IMAGE_TOKENS: usize = 256;

pub fn estimate(messages: &[Message], tools: &[Value]) -> u32 {
    let counter = EstimatingCounter::default();
    let mut n = 0usize;
    for m in messages {
        n += MESSAGE_OVERHEAD + counter.count(&m.content) + IMAGE_TOKENS * m.images.len();
        for c in &m.tool_calls {
            n += counter.count(&c.name) + counter.count(&c.arguments.to_string());
        }
        if let Some(t) = &m.thinking {
            n += counter.count(t);
        }
    }
    for t in tools {
        n += counter.count(&t.to_string());
    }
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub async fn count_tokens(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    WireJson(b, _): WireJson<CountBody, AnthropicDialect>,
) -> Response {
    match run(&st, &rid, b) {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => AnthropicDialect::error_response(e),
    }
}

fn run(st: &AppState, rid: &RequestId, b: CountBody) -> Result<Value, GatewayError> {
    let model = require_model(b.model)?;
    let system = convert::system(b.system)?;
    let messages = convert::messages(system, b.messages.unwrap_or_default())?;
    let tools = convert::tools(b.tools, b.tool_choice)?;
    let route = st.route(Feature::Chat, Requested::Name(&model))?;
    // The caller's models and features apply; its request limits do not (nothing runs).
    st.permit(&rid.call_context(), &route, Feature::Chat)?;
    Ok(json!({ "input_tokens": estimate(&messages, &tools) }))
}
