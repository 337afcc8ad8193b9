//! `POST /v1/completions`: legacy completions, with `suffix` for fill-in-the-middle. The
//! prompt is sent untouched (`raw`): clients of this endpoint template it themselves.

use super::chat::respond;
use super::encode::{Encoder, Kind};
use super::wire::{self, CompletionBody, PromptField};
use crate::guard::RequestId;
use crate::pipeline::Requested;
use crate::state::AppState;
use crate::surfaces::{Dialect, OpenAiDialect, WireJson};
use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use devassist_core::{Feature, GatewayError, GenerateRequest, Prompt};

pub async fn completions(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    WireJson(b, _): WireJson<CompletionBody, OpenAiDialect>,
) -> Response {
    run(st, rid, b)
        .await
        .unwrap_or_else(OpenAiDialect::error_response)
}

async fn run(st: AppState, rid: RequestId, b: CompletionBody) -> Result<Response, GatewayError> {
    let model = wire::require_model(b.model)?;
    let prompt = match b.prompt {
        None => String::new(),
        Some(PromptField::One(p)) => p,
        Some(PromptField::Many(mut v)) if v.len() <= 1 => v.pop().unwrap_or_default(),
        Some(PromptField::Many(_)) => {
            return Err(
                GatewayError::bad_request("only a single prompt is supported").with_param("prompt"),
            );
        }
    };
    if b.echo == Some(true) {
        return Err(GatewayError::bad_request("echo is not supported").with_param("echo"));
    }
    let route = st.route(Feature::CodeCompletion, Requested::Name(&model))?;
    let suffix = b.suffix.filter(|s| !s.is_empty());
    let mut req = GenerateRequest::new(
        model.clone(),
        Prompt::Completion {
            prompt,
            suffix,
            system: None,
            raw: true,
            template: None,
            images: Vec::new(),
        },
    );
    req.sampling = b.sampling.into_sampling()?;
    req.stream = b.stream.unwrap_or(false);
    let include_usage = b.stream_options.is_some_and(|o| o.include_usage);
    let enc = Encoder::new(Kind::Completion, model, include_usage);
    respond(st, rid, &route, Feature::CodeCompletion, req, enc).await
}
