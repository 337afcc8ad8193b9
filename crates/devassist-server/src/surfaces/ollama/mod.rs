//! The Ollama surface (`/api/*` and `/`): what Ollama clients (Continue, Open WebUI, Tabby,
//! Copilot Chat) call. Translation only.

mod convert;
mod embed;
mod encode;
mod generate;
mod manage;
mod models;
pub mod wire;

pub use convert::call_id;
#[cfg(test)]
pub use convert::messages as convert_messages;

use crate::state::AppState;
use axum::Router;
use axum::routing::{delete, get, post};

/// The Ollama version we report: plain `X.Y.Z` ≥ 0.6.4, which Copilot Chat requires.
pub const OLLAMA_VERSION: &str = "0.12.6";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(models::root).head(models::root))
        .route("/api/version", get(models::version).head(models::version))
        .route("/api/tags", get(models::tags).head(models::tags))
        .route("/api/show", post(models::show))
        .route("/api/ps", get(models::ps))
        .route("/api/generate", post(generate::generate))
        .route("/api/chat", post(generate::chat))
        .route("/api/embed", post(embed::embed))
        .route("/api/embeddings", post(embed::embeddings))
        .route("/api/pull", post(manage::pull))
        .route("/api/push", post(manage::push))
        .route("/api/create", post(manage::create))
        .route("/api/copy", post(manage::copy))
        .route("/api/delete", delete(manage::delete))
}
