//! `POST /v1/chat/completions`: render the messages with the model's chat template, then
//! generate.

use super::AppState;
use super::error::{ApiError, ApiJson};
use super::params::{GenParams, StreamOptions, fit_context};
use super::stream::{Kind, Reply, respond};
use crate::toolcall::{Syntax, ToolCalls};
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value as Json;

#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    #[serde(default)]
    model: Option<String>,
    messages: Vec<Json>,
    #[serde(default)]
    tools: Option<Vec<Json>>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    gen_params: GenParams,
}

pub async fn handle(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<ChatRequest>,
) -> Result<Response, ApiError> {
    let ready = state.ready()?;
    if ready.embeddings {
        return Err(ApiError::bad_request(format!(
            "\"{}\" does not support chat",
            state.name
        )));
    }
    if req.messages.is_empty() {
        return Err(ApiError::bad_request("[] is too short - 'messages'").with_param("messages"));
    }
    if let Some(bad) = req
        .messages
        .iter()
        .position(|m| !m.get("role").is_some_and(Json::is_string))
    {
        return Err(
            ApiError::bad_request(format!("messages[{bad}] has no 'role'")).with_param("messages"),
        );
    }
    let settings = req.gen_params.settings()?;
    let prompt = ready
        .template
        .render(&req.messages, req.tools.as_deref())
        .map_err(|e| ApiError::bad_request(format!("cannot apply the chat template: {e}")))?;
    // Tools offered to a template that takes them: the answer may call them.
    let offered = req.tools.as_deref().filter(|t| !t.is_empty());
    let syntax = ready.template.tool_syntax;
    let tool_calls = syntax
        .zip(offered)
        .map(|(syntax, tools)| ToolCalls::new(syntax, tool_names(tools)));
    let special = tool_calls.is_some() && syntax.is_some_and(Syntax::needs_special_tokens);
    let tokens = ready.tokenize_prompt(&prompt);
    let tokens = fit_context(tokens, ready.n_ctx_slot, &settings, ready.bos)?;
    let rx = ready
        .engine
        .generate(
            tokens,
            settings.sampling,
            settings.max_tokens,
            settings.stop,
            special,
        )
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let include_usage = req.stream_options.is_some_and(|o| o.include_usage);
    let reply = Reply::new(
        Kind::Chat,
        state.echo_name(req.model.as_deref()),
        include_usage,
    );
    Ok(respond(reply, rx, req.stream, tool_calls).await)
}

/// The names of the offered tools (`{"type": "function", "function": {"name": …}}`).
fn tool_names(tools: &[Json]) -> Vec<String> {
    tools
        .iter()
        .filter_map(|t| t.pointer("/function/name").and_then(Json::as_str))
        .map(str::to_owned)
        .collect()
}
