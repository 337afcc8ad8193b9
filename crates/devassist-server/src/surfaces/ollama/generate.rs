//! `POST /api/generate` and `POST /api/chat`.

use super::convert;
use super::encode::{Encoder, Kind};
use super::wire::{self, ChatBody, GenerateBody};
use crate::guard::RequestId;
use crate::pipeline::Requested;
use crate::router::ModelEntry;
use crate::state::AppState;
use crate::surfaces::stream::{collect, streaming};
use crate::surfaces::{Dialect, OllamaDialect, WireJson};
use axum::Extension;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use devassist_core::{Feature, GatewayError, GenerateRequest, KeepAlive, Prompt};
use futures::StreamExt;
use std::time::Instant;

type Body<T> = WireJson<T, OllamaDialect>;

pub async fn generate(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    WireJson(body, _): Body<GenerateBody>,
) -> Response {
    run_generate(st, rid, body)
        .await
        .unwrap_or_else(OllamaDialect::error_response)
}

pub async fn chat(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    WireJson(body, _): Body<ChatBody>,
) -> Response {
    run_chat(st, rid, body)
        .await
        .unwrap_or_else(OllamaDialect::error_response)
}

async fn run_generate(
    st: AppState,
    rid: RequestId,
    b: GenerateBody,
) -> Result<Response, GatewayError> {
    let started = Instant::now();
    let model = wire::require_model(b.model)?;
    let route = st.route(Feature::CodeCompletion, Requested::Name(&model))?;
    let raw = b.raw.unwrap_or(false);
    let nonempty = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
    if raw
        && (nonempty(&b.template)
            || nonempty(&b.system)
            || b.context.as_ref().is_some_and(|c| !c.is_empty()))
    {
        return Err(GatewayError::bad_request(
            "raw mode does not support template, system, or context",
        ));
    }
    let think = wire::think(b.think)?;
    wire::top_logprobs(b.top_logprobs)?;
    let keep_alive = wire::keep_alive(b.keep_alive)?;
    let format = wire::format(b.format)?;
    let sampling = wire::sampling(b.options)?;
    let enc = Encoder {
        model: model.clone(),
        kind: Kind::Generate { raw },
        started,
    };
    let prompt = b.prompt.unwrap_or_default();
    let images = b.images.unwrap_or_default();
    let suffix = b.suffix.filter(|s| !s.is_empty());
    if prompt.is_empty() && suffix.is_none() && images.is_empty() {
        st.load(&route, keep_alive).await?;
        return Ok(load_or_unload(&enc, keep_alive));
    }
    let mut req = GenerateRequest::new(
        model,
        Prompt::Completion {
            prompt,
            suffix,
            system: b.system.filter(|s| !s.is_empty()),
            raw,
            template: b.template.filter(|s| !s.is_empty()),
            images,
        },
    );
    req.sampling = sampling;
    req.format = format;
    req.keep_alive = keep_alive;
    req.think = think;
    req.context = b.context;
    req.stream = b.stream.unwrap_or(true);
    respond(st, rid, &route, Feature::CodeCompletion, req, enc).await
}

async fn run_chat(st: AppState, rid: RequestId, b: ChatBody) -> Result<Response, GatewayError> {
    let started = Instant::now();
    let model = wire::require_model(b.model)?;
    let route = st.route(Feature::Chat, Requested::Name(&model))?;
    let think = wire::think(b.think)?;
    wire::top_logprobs(b.top_logprobs)?;
    let keep_alive = wire::keep_alive(b.keep_alive)?;
    let format = wire::format(b.format)?;
    let sampling = wire::sampling(b.options)?;
    let messages = convert::messages(b.messages.unwrap_or_default())?;
    let tools = b.tools.unwrap_or_default();
    let enc = Encoder {
        model: model.clone(),
        kind: Kind::Chat,
        started,
    };
    if messages.is_empty() {
        st.load(&route, keep_alive).await?;
        return Ok(load_or_unload(&enc, keep_alive));
    }
    let mut req = GenerateRequest::new(model, Prompt::Chat { messages, tools });
    req.sampling = sampling;
    req.format = format;
    req.keep_alive = keep_alive;
    req.think = think;
    req.stream = b.stream.unwrap_or(true);
    respond(st, rid, &route, Feature::Chat, req, enc).await
}

fn load_or_unload(enc: &Encoder, keep_alive: Option<KeepAlive>) -> Response {
    let reason = if keep_alive.is_some_and(KeepAlive::is_zero) {
        "unload"
    } else {
        "load"
    };
    axum::Json(enc.load_reply(reason)).into_response()
}

async fn respond(
    st: AppState,
    rid: RequestId,
    route: &ModelEntry,
    feature: Feature,
    req: GenerateRequest,
    enc: Encoder,
) -> Result<Response, GatewayError> {
    let stream = req.stream;
    let ctx = rid.call_context();
    let started = st.generate(route, feature, req, &ctx).await?;
    if !stream {
        let whole = collect(started).await?;
        return Ok(axum::Json(enc.whole(whole)).into_response());
    }
    let frames = started.into_stream().map(move |item| match item {
        Ok(ev) => enc.frame(ev),
        Err(e) => {
            tracing::warn!(request_id = %rid.as_str(), error = %e, "Stream failed after it started");
            Encoder::error_frame(&e)
        }
    });
    Ok(streaming("application/x-ndjson", frames))
}
