//! The OpenAI surface (`/v1/*`): chat completions, legacy completions (with FIM `suffix`),
//! the Responses API (`responses/`), embeddings and the model list. Translation only.

mod chat;
mod completions;
mod embeddings;
mod encode;
mod models;
mod responses;
pub(crate) mod wire;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/models", get(models::list))
        .route("/v1/models/{*id}", get(models::one))
        .route("/v1/chat/completions", post(chat::chat_completions))
        .route("/v1/completions", post(completions::completions))
        .route("/v1/responses", post(responses::create))
        .route("/v1/embeddings", post(embeddings::embeddings))
}
