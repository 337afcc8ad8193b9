//! `POST /v1/chat/completions` and `POST /v1/completions` share this streaming logic.

use super::encode::{Encoder, Kind};
use super::wire::{self, ChatBody};
use crate::guard::RequestId;
use crate::pipeline::Requested;
use crate::router::ModelEntry;
use crate::state::AppState;
use crate::surfaces::stream::{collect, streaming};
use crate::surfaces::{Dialect, OpenAiDialect, WireJson};
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use devassist_core::{Feature, GatewayError, GenerateRequest, Prompt};
use futures::StreamExt;

pub async fn chat_completions(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    WireJson(b, _): WireJson<ChatBody, OpenAiDialect>,
) -> Response {
    run(st, rid, b)
        .await
        .unwrap_or_else(OpenAiDialect::error_response)
}

async fn run(st: AppState, rid: RequestId, b: ChatBody) -> Result<Response, GatewayError> {
    let model = wire::require_model(b.model)?;
    let messages = wire::messages(b.messages.unwrap_or_default())?;
    let route = st.route(Feature::Chat, Requested::Name(&model))?;
    let tools = b.tools.unwrap_or_default();
    let mut req = GenerateRequest::new(model.clone(), Prompt::Chat { messages, tools });
    req.sampling = b.sampling.into_sampling()?;
    req.format = wire::response_format(b.response_format)?;
    req.tool_choice = wire::tool_choice(b.tool_choice)?;
    req.parallel_tool_calls = b.parallel_tool_calls;
    req.think = b.reasoning_effort.map(|e| match e.as_str() {
        "none" => serde_json::Value::Bool(false),
        "minimal" => "low".into(),
        "xhigh" | "ultra" => "max".into(),
        other => other.into(),
    });
    req.stream = b.stream.unwrap_or(false);
    let include_usage = b.stream_options.is_some_and(|o| o.include_usage);
    let enc = Encoder::new(Kind::Chat, model, include_usage);
    respond(st, rid, &route, Feature::Chat, req, enc).await
}

/// Calls the backend and encodes the answer as SSE or as one JSON object.
pub async fn respond(
    st: AppState,
    rid: RequestId,
    route: &ModelEntry,
    feature: Feature,
    req: GenerateRequest,
    mut enc: Encoder,
) -> Result<Response, GatewayError> {
    let stream = req.stream;
    let ctx = rid.call_context();
    let started = st.generate(route, feature, req, &ctx).await?;
    if !stream {
        let whole = collect(started).await?;
        return Ok(axum::Json(enc.whole(whole)).into_response());
    }
    let head = futures::stream::iter(enc.role_chunk());
    let body = started.into_stream().flat_map(move |item| {
        let frames: Vec<Bytes> = match item {
            Ok(ev) => enc.frames(ev),
            Err(e) => {
                tracing::warn!(request_id = %rid.as_str(), error = %e, "Stream failed after it started");
                vec![Encoder::error_frame(&e)]
            }
        };
        futures::stream::iter(frames)
    });
    Ok(streaming("text/event-stream", head.chain(body)))
}
