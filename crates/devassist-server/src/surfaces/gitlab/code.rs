//! `POST /v2/code/completions` (and its alias `/v2/completions`) and `POST /v2/code/generations`.

use super::answer;
use super::dialect::Rejection;
use super::encode::{self, ModelMeta};
use super::plan::{self, Instruction};
use super::select::{Target, select};
use super::wire::{self, PromptField, SuggestionBody, UseCase};
use super::{decode, read_json};
use crate::guard::RequestId;
use crate::state::AppState;
use axum::Extension;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use devassist_core::{CallContext, Feature};

pub async fn completions(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    req: Request,
) -> Response {
    run(st, rid, req, UseCase::Completions)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

pub async fn generations(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    req: Request,
) -> Response {
    run(st, rid, req, UseCase::Generations)
        .await
        .unwrap_or_else(IntoResponse::into_response)
}

/// GitLab's completion prompt names (`model.name` of its responses) per self-hosted model.
fn registry_name(model_name: Option<&str>) -> Option<&'static str> {
    Some(match model_name? {
        "codegemma" => "Codegemma Code Completions",
        "codellama" => "Codellama 13B-Code Code Completions",
        "codestral" => "Codestral 22B Code Completions",
        "deepseekcoder" => "DeepSeekCoder Code Completions",
        "mistral" => "Mistral 7B Instruct Code Completions",
        "mixtral" => "Mixtral Instruct Code Completions",
        "gpt" => "GPT Code Completions",
        "claude_3" => "Claude 3 Code Completions",
        _ => return None,
    })
}

/// `model.engine` and `model.name`: `agent` and the prompt's name when the gateway built the
/// prompt from its own template (what GitLab self-managed asks for), else the provider and
/// the model.
fn model_meta(b: &SuggestionBody, target: &Target, use_case: UseCase) -> ModelMeta {
    let templated = match (&b.prompt, use_case) {
        (PromptField::Text(t), UseCase::Completions) => t.as_deref().is_none_or(str::is_empty),
        (PromptField::Text(_), UseCase::Generations) => b.prompt_id.is_some(),
        _ => false,
    };
    let (engine, name) = if templated {
        let name = match use_case {
            UseCase::Completions => registry_name(b.model.name.as_deref()).map_or_else(
                || format!("{} Code Completions", target.label),
                str::to_owned,
            ),
            UseCase::Generations => format!("{} Code Generations", target.label),
        };
        ("agent".to_owned(), name)
    } else {
        (
            b.model
                .provider
                .clone()
                .unwrap_or_else(|| "litellm".to_owned()),
            b.model.name.clone().unwrap_or_else(|| target.label.clone()),
        )
    };
    ModelMeta {
        engine,
        name,
        lang: Some(encode::lang(&b.current_file)),
        tokens_consumption_metadata: None,
    }
}

async fn run(
    st: AppState,
    rid: RequestId,
    req: Request,
    use_case: UseCase,
) -> Result<Response, Rejection> {
    let json = read_json(&st, req).await?;
    let b = decode(|c| wire::suggestion(c, &json, use_case))?;
    let feature = match use_case {
        UseCase::Completions => Feature::CodeCompletion,
        UseCase::Generations => Feature::CodeGeneration,
    };
    let target = select(&st, feature, &b.model)?;
    let input = plan::fim_input(&b.current_file, &b.context, b.project_path.as_deref());
    let request = match use_case {
        UseCase::Completions => plan::completion(&target, &st, input, &b.prompt, b.stream),
        UseCase::Generations => {
            let instruction = Instruction::from_prompt(&b.prompt, b.prompt_id.as_deref());
            plan::generation(&target, &st, input, instruction, b.stream)
        }
    };
    let mut meta = model_meta(&b, &target, use_case);
    let mut ctx = CallContext::new(rid.as_str().to_owned());
    ctx.caller = rid.caller().cloned();
    let started = target.start(&st, request, &ctx).await?;
    if b.stream {
        let chunks = answer::text_stream(started, rid.as_str().to_owned());
        return Ok(encode::raw_stream(chunks));
    }
    let report = started.report;
    let (text, collected) = answer::whole(started).await?;
    meta.tokens_consumption_metadata = report.map(|mut t| {
        t.output_tokens = collected.usage.completion_tokens as usize;
        t
    });
    Ok(axum::Json(encode::suggestions(meta, &text)).into_response())
}
