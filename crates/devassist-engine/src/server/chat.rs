//! `POST /v1/chat/completions`: render the messages with the model's chat template, then
//! generate. Tools go to a template that takes them (native format) or, for one that does
//! not, into the system prompt with a grammar on the answer (the generic format).

use super::AppState;
use super::error::{ApiError, ApiJson};
use super::params::{GenParams, StreamOptions, fit_context, response_schema};
use super::stream::{Kind, Reply, respond};
use crate::toolcall::choice::{ToolChoice, tool_name};
use crate::toolcall::generic::{Generic, rewrite_history};
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
    /// `"auto"` (default), `"none"`, `"required"` or a named function.
    #[serde(default)]
    tool_choice: Option<Json>,
    /// Several calls in one answer (generic format: only when `true`).
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
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
    let mut settings = req.gen_params.settings()?;
    let choice = ToolChoice::parse(req.tool_choice.as_ref())
        .map_err(|e| ApiError::bad_request(e).with_param("tool_choice"))?;
    let offered = choice
        .narrow(req.tools.as_deref().unwrap_or_default())
        .map_err(|e| ApiError::bad_request(e).with_param("tool_choice"))?;
    let names: Vec<String> = offered
        .iter()
        .filter_map(tool_name)
        .map(str::to_owned)
        .collect();
    let (prompt, tool_calls) = match ready.template.tool_syntax {
        // The template takes tools: it shows them in its own words and the answer is parsed
        // in its syntax.
        Some(syntax) => {
            let prompt = ready
                .template
                .render(&req.messages, Some(offered.as_slice()));
            let calls = (!offered.is_empty()).then(|| ToolCalls::new(syntax, names));
            (prompt, calls)
        }
        // It does not: earlier tool turns become text, and offered tools go into the
        // system prompt with a grammar on the answer.
        None if offered.is_empty() => {
            let messages = rewrite_history(&req.messages, None);
            (ready.template.render(&messages, None), None)
        }
        None => {
            let response = response_schema(req.gen_params.response_format.as_ref())?;
            let generic = Generic::new(
                &offered,
                choice.forces_a_call(),
                // One call per answer unless asked for more: small models, left free to
                // add calls, repeat one until the token limit (docs/engine.md).
                req.parallel_tool_calls == Some(true),
                response.as_ref(),
            )
            .map_err(|e| {
                ApiError::bad_request(format!("cannot turn these tools into a grammar: {e}"))
                    .with_param("tools")
            })?;
            settings.sampling.grammar = Some(generic.grammar);
            let messages = rewrite_history(&req.messages, Some(&generic.instructions));
            let prompt = ready.template.render(&messages, None);
            (prompt, Some(ToolCalls::new(Syntax::Generic, names)))
        }
    };
    let prompt = prompt
        .map_err(|e| ApiError::bad_request(format!("cannot apply the chat template: {e}")))?;
    let special = tool_calls.is_some()
        && ready
            .template
            .tool_syntax
            .is_some_and(Syntax::needs_special_tokens);
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
