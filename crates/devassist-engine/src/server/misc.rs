//! Small endpoints: `/health`, `/slots`, `/v1/models`, `/tokenize`, `/detokenize`, and the
//! 404 fallback.

use super::AppState;
use super::error::{ApiError, ApiJson};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use llama_cpp_2::token::LlamaToken;
use serde::Deserialize;
use serde_json::{Value as Json, json};

/// 503 while the model loads, 200 with slot counts once ready.
pub async fn health(State(state): State<AppState>) -> Response {
    let Ok(ready) = state.ready() else {
        let body = json!({"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}});
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    };
    let status = ready.engine.status();
    let idle = status
        .slots
        .iter()
        .filter(|s| s.state == crate::engine::SlotState::Idle)
        .count();
    axum::Json(json!({
        "status": "ok",
        "slots_idle": idle,
        "slots_processing": status.slots.len() - idle,
        "queued": status.queued,
    }))
    .into_response()
}

/// Per-slot state: what each slot is doing and how many tokens it has cached.
pub async fn slots(State(state): State<AppState>) -> Result<Response, ApiError> {
    let ready = state.ready()?;
    Ok(axum::Json(ready.engine.status()).into_response())
}

fn model_entry(state: &AppState) -> Json {
    json!({
        "id": &*state.name,
        "object": "model",
        "created": state.created,
        "owned_by": "devassist",
        "meta": {"n_ctx_train": state.n_ctx_train},
    })
}

pub async fn models(State(state): State<AppState>) -> Response {
    axum::Json(json!({"object": "list", "data": [model_entry(&state)]})).into_response()
}

pub async fn model(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if id != *state.name {
        return Err(ApiError::not_found(format!("model '{id}' not found")));
    }
    Ok(axum::Json(model_entry(&state)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct TokenizeRequest {
    content: String,
    #[serde(default)]
    add_special: bool,
    #[serde(default)]
    with_pieces: bool,
}

/// llama-server's `/tokenize`: `{"content": "..."}` → `{"tokens": [...]}`.
pub async fn tokenize(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<TokenizeRequest>,
) -> Result<Response, ApiError> {
    let ready = state.ready()?;
    let tokens = ready.tokenize(&req.content, req.add_special, true);
    if !req.with_pieces {
        let ids: Vec<i32> = tokens.iter().map(|t| t.0).collect();
        return Ok(axum::Json(json!({"tokens": ids})).into_response());
    }
    let vocab = ready.model.vocab();
    let pieces: Vec<Json> = tokens
        .iter()
        .map(|t| {
            let bytes = vocab.token_to_piece(*t, true, None);
            let piece = match String::from_utf8(bytes) {
                Ok(s) => json!(s),
                Err(e) => json!(e.into_bytes()),
            };
            json!({"id": t.0, "piece": piece})
        })
        .collect();
    Ok(axum::Json(json!({"tokens": pieces})).into_response())
}

#[derive(Debug, Deserialize)]
pub struct DetokenizeRequest {
    tokens: Vec<i64>,
}

/// llama-server's `/detokenize`: `{"tokens": [...]}` → `{"content": "..."}`.
pub async fn detokenize(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<DetokenizeRequest>,
) -> Result<Response, ApiError> {
    let ready = state.ready()?;
    let n_vocab = i64::from(ready.model.n_vocab());
    let tokens = req
        .tokens
        .iter()
        .map(|&id| {
            if (0..n_vocab).contains(&id) {
                Ok(LlamaToken(i32::try_from(id).unwrap_or(0)))
            } else {
                Err(
                    ApiError::bad_request(format!("token id {id} is not in the vocabulary"))
                        .with_param("tokens"),
                )
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bytes = if tokens.is_empty() {
        Vec::new()
    } else {
        ready.model.vocab().detokenize(&tokens, false, true)
    };
    let content = String::from_utf8_lossy(&bytes).into_owned();
    Ok(axum::Json(json!({"content": content})).into_response())
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}
