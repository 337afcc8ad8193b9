//! `POST /v1/completions`: a raw prompt, or fill-in-the-middle when `suffix` is non-empty
//! (`""` means no FIM, `"\n"` is FIM). A model without FIM tokens answers Ollama's 400
//! `<model> does not support insert`.

use super::error::{ApiError, ApiJson};
use super::params::{GenParams, StreamOptions, fit_context};
use super::stream::{Kind, Reply, respond};
use super::{AppState, Ready};
use axum::extract::State;
use axum::response::Response;
use llama_cpp_2::token::LlamaToken;
use serde::Deserialize;

/// `prompt`: a string, a one-element list of strings, or token ids.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum PromptField {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<i64>),
}

#[derive(Debug, Deserialize)]
pub struct CompletionRequest {
    #[serde(default)]
    model: Option<String>,
    prompt: PromptField,
    #[serde(default)]
    suffix: Option<String>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    gen_params: GenParams,
}

pub async fn handle(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CompletionRequest>,
) -> Result<Response, ApiError> {
    let ready = state.ready()?;
    let name = state.echo_name(req.model.as_deref());
    if ready.embeddings {
        return Err(ApiError::bad_request(format!(
            "\"{name}\" does not support generate"
        )));
    }
    let settings = req.gen_params.settings()?;
    let suffix = req.suffix.as_deref().filter(|s| !s.is_empty());
    let tokens = match (&req.prompt, suffix) {
        (PromptField::Tokens(ids), None) => token_ids(ready, ids)?,
        (PromptField::Tokens(_), Some(_)) => {
            return Err(ApiError::bad_request("'suffix' needs a text prompt").with_param("suffix"));
        }
        (prompt, suffix) => {
            let text = prompt_text(prompt)?;
            match suffix {
                None => ready.tokenize_prompt(text),
                Some(suffix) => {
                    let Some(fim) = ready.fim else {
                        return Err(ApiError::bad_request(format!(
                            "{name} does not support insert"
                        ))
                        .with_param("suffix"));
                    };
                    fim_tokens(ready, fim, text, suffix)
                }
            }
        }
    };
    if tokens.is_empty() {
        return Err(ApiError::bad_request("the prompt is empty").with_param("prompt"));
    }
    let tokens = fit_context(tokens, ready.n_ctx_slot, &settings, ready.bos)?;
    let rx = ready
        .engine
        .generate(
            tokens,
            settings.sampling,
            settings.max_tokens,
            settings.stop,
            false,
        )
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let include_usage = req.stream_options.is_some_and(|o| o.include_usage);
    let reply = Reply::new(Kind::Completion, name, include_usage);
    Ok(respond(reply, rx, req.stream, None).await)
}

fn prompt_text(prompt: &PromptField) -> Result<&str, ApiError> {
    match prompt {
        PromptField::Text(t) => Ok(t),
        PromptField::Texts(list) => match list.as_slice() {
            [one] => Ok(one),
            _ => Err(
                ApiError::bad_request("only one prompt per request is supported")
                    .with_param("prompt"),
            ),
        },
        PromptField::Tokens(_) => {
            Err(ApiError::bad_request("expected a text prompt").with_param("prompt"))
        }
    }
}

fn token_ids(ready: &Ready, ids: &[i64]) -> Result<Vec<LlamaToken>, ApiError> {
    let n_vocab = i64::from(ready.model.n_vocab());
    ids.iter()
        .map(|&id| {
            if (0..n_vocab).contains(&id) {
                Ok(LlamaToken(i32::try_from(id).unwrap_or(0)))
            } else {
                Err(
                    ApiError::bad_request(format!("token id {id} is not in the vocabulary"))
                        .with_param("prompt"),
                )
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|t| {
            if t.is_empty() {
                Err(ApiError::bad_request("the prompt is empty").with_param("prompt"))
            } else {
                Ok(t)
            }
        })
}

/// `[BOS] <PRE> prefix <SUF> suffix <MID>`, or `[SUFFIX] suffix [PREFIX] prefix` for the
/// suffix-first family. Code is tokenised without special-token parsing.
fn fim_tokens(ready: &Ready, fim: super::Fim, prefix: &str, suffix: &str) -> Vec<LlamaToken> {
    let mut out = Vec::new();
    if ready.add_bos
        && let Some(bos) = ready.bos
    {
        out.push(bos);
    }
    let pre = ready.tokenize(prefix, false, false);
    let suf = ready.tokenize(suffix, false, false);
    if fim.suffix_first {
        out.push(fim.suffix);
        out.extend(suf);
        out.push(fim.prefix);
        out.extend(pre);
    } else {
        out.push(fim.prefix);
        out.extend(pre);
        out.push(fim.suffix);
        out.extend(suf);
        out.push(fim.middle);
    }
    out
}
