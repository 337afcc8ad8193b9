//! `POST /v1/embeddings`: served when the engine runs an embedding model (or `--embeddings`).

use super::AppState;
use super::error::{ApiError, ApiJson};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use llama_cpp_2::token::LlamaToken;
use serde::Deserialize;
use serde_json::{Value as Json, json};

/// `input`: text, texts, token ids, or lists of token ids.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Input {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<i64>),
    TokenLists(Vec<Vec<i64>>),
}

#[derive(Debug, Deserialize)]
pub struct EmbeddingRequest {
    #[serde(default)]
    model: Option<String>,
    input: Input,
    #[serde(default)]
    encoding_format: Option<String>,
}

pub async fn handle(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<EmbeddingRequest>,
) -> Result<Response, ApiError> {
    let ready = state.ready()?;
    let name = state.echo_name(req.model.as_deref());
    if !ready.embeddings {
        return Err(ApiError::bad_request(format!(
            "\"{name}\" does not support embeddings"
        )));
    }
    let base64 = match req.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid value for 'encoding_format' = {other}. Supported values: ['float', 'base64']."
            ))
            .with_param("encoding_format"));
        }
    };
    let to_tokens = |ids: &[i64]| -> Vec<LlamaToken> {
        ids.iter()
            .map(|&id| LlamaToken(i32::try_from(id).unwrap_or(-1)))
            .collect()
    };
    let inputs: Vec<Vec<LlamaToken>> = match &req.input {
        Input::Text(t) => vec![ready.tokenize(t, ready.add_bos, true)],
        Input::Texts(list) => list
            .iter()
            .map(|t| ready.tokenize(t, ready.add_bos, true))
            .collect(),
        Input::Tokens(ids) => vec![to_tokens(ids)],
        Input::TokenLists(lists) => lists.iter().map(|l| to_tokens(l)).collect(),
    };
    let n_vocab = ready.model.n_vocab();
    if inputs.iter().flatten().any(|t| t.0 < 0 || t.0 >= n_vocab) {
        return Err(
            ApiError::bad_request("a token id is not in the vocabulary").with_param("input")
        );
    }
    let prompt_tokens: usize = inputs.iter().map(Vec::len).sum();
    let vectors = ready
        .engine
        .embed(inputs)
        .await
        .map_err(|e| ApiError::bad_request(e).with_param("input"))?;
    let data: Vec<Json> = vectors
        .iter()
        .enumerate()
        .map(|(index, v)| {
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                Json::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "embedding": embedding, "index": index})
        })
        .collect();
    Ok(axum::Json(json!({
        "object": "list",
        "data": data,
        "model": name,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }))
    .into_response())
}
