//! `POST /v3/code/completions` (raw text streams) and `POST /v4/code/suggestions` (SSE
//! streams): the editor-component API. GitLab serves it only with its own cloud models;
//! here the admin's models serve it like the v2 endpoints.

use super::answer;
use super::dialect::Rejection;
use super::encode::{self, ModelMeta};
use super::plan::{self, Instruction};
use super::select::select;
use super::wire::{self, PromptField};
use super::{decode, read_json};
use crate::guard::RequestId;
use crate::state::AppState;
use axum::Extension;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use devassist_core::{CallContext, Feature};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Framing {
    Raw,
    Sse,
}

pub async fn v3_completions(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    req: Request,
) -> Response {
    run(st, rid, req, Framing::Raw)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn v4_suggestions(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    req: Request,
) -> Response {
    run(st, rid, req, Framing::Sse)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn run(
    st: AppState,
    rid: RequestId,
    req: Request,
    framing: Framing,
) -> Result<Response, Rejection> {
    let json = read_json(&st, req).await?;
    let b = decode(|c| wire::editor(c, &json))?;
    let feature = if b.generation {
        Feature::CodeGeneration
    } else {
        Feature::CodeCompletion
    };
    let target = select(&st, feature, &b.model)?;
    let input = plan::fim_input(&b.current_file, &b.context, None);
    let request = if b.generation {
        let instruction = Instruction::Render(b.prompt.as_deref().unwrap_or(""));
        plan::generation(&target, &st, input, instruction, b.stream)
    } else {
        plan::completion(&target, &st, input, &PromptField::Built, b.stream)
    };
    let what = if b.generation {
        "Generations"
    } else {
        "Completions"
    };
    let meta = ModelMeta {
        engine: "agent".to_owned(),
        name: format!("{} Code {what}", target.label),
        lang: Some(encode::lang(&b.current_file)),
        tokens_consumption_metadata: None,
    };
    let mut ctx = CallContext::new(rid.as_str().to_owned());
    ctx.caller = rid.caller().cloned();
    let started = target.start(&st, request, &ctx).await?;
    if b.stream {
        let chunks = answer::text_stream(started, rid.as_str().to_owned());
        return Ok(match framing {
            Framing::Raw => encode::raw_stream(chunks),
            Framing::Sse => encode::sse_stream(meta, chunks),
        });
    }
    let (text, _) = answer::whole(started).await?;
    Ok(axum::Json(encode::editor(meta, &text)).into_response())
}
