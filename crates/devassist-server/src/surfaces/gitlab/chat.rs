//! `POST /v1/chat/{chat_invokable}`: one prompt component, answered by the chat model.
//! GitLab ignores `params` on the self-hosted path, and so does this.

use super::answer;
use super::dialect::Rejection;
use super::encode;
use super::plan;
use super::select::select;
use super::wire::{self, ChatContent, ModelFields};
use super::{decode, read_json};
use crate::guard::RequestId;
use crate::state::AppState;
use axum::Extension;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use devassist_core::{CallContext, ErrorKind, Feature, GatewayError, Message, Origin, Role};

/// The invokables GitLab's gateway knows; any other is a 404.
const INVOKABLES: [&str; 7] = [
    "explain_code",
    "write_tests",
    "refactor_code",
    "agent",
    "explain_vulnerability",
    "summarize_comments",
    "troubleshoot_job",
];

pub async fn invoke(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    Path(invokable): Path<String>,
    req: Request,
) -> Response {
    run(st, rid, &invokable, req)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

async fn run(
    st: AppState,
    rid: RequestId,
    invokable: &str,
    req: Request,
) -> Result<Response, Rejection> {
    if !INVOKABLES.contains(&invokable) {
        return Err(GatewayError::new(ErrorKind::NotFound, Origin::Client, "Not found").into());
    }
    let json = read_json(&st, req).await?;
    let b = decode(|c| wire::chat(c, &json))?;
    let fields = ModelFields {
        provider: b.provider.clone(),
        name: b.model.clone(),
        endpoint: b.endpoint.clone(),
        api_key: b.api_key.clone(),
        identifier: b.identifier.clone(),
    };
    let target = select(&st, Feature::Chat, &fields)?;
    let messages = match b.content {
        ChatContent::Text(text) => vec![Message::new(Role::User, text)],
        ChatContent::Messages(messages) => messages,
    };
    let request = plan::chat(&target, &st, messages, b.stream);
    let mut ctx = CallContext::new(rid.as_str().to_owned());
    ctx.caller = rid.caller().cloned();
    let started = target.start(&st, request, &ctx).await?;
    if b.stream {
        let chunks = answer::text_stream(started, rid.as_str().to_owned());
        return Ok(encode::raw_stream(chunks));
    }
    let (text, _) = answer::whole(started).await?;
    Ok(axum::Json(encode::chat(
        &text,
        b.provider.as_deref(),
        b.model.as_deref(),
    ))
    .into_response())
}
