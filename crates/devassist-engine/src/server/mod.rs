//! The OpenAI-compatible HTTP server. The route table lives here and holds only paths; each
//! endpoint is in its own file. Until the model is loaded every model route answers 503.

mod chat;
mod completions;
mod embeddings;
mod error;
mod misc;
mod params;
mod stream;

pub use error::ApiError;

use crate::engine::EngineHandle;
use crate::template::ChatTemplate;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use std::sync::{Arc, OnceLock};

/// Request bodies up to this size (long code contexts).
const BODY_LIMIT: usize = 32 << 20;

/// FIM tokens as ids, and the order the family wants.
#[derive(Debug, Clone, Copy)]
pub struct Fim {
    pub prefix: LlamaToken,
    pub suffix: LlamaToken,
    pub middle: LlamaToken,
    /// Suffix first, no middle token (Codestral's `[SUFFIX]…[PREFIX]…`).
    pub suffix_first: bool,
}

/// What the handlers need once the model is loaded.
pub struct Ready {
    pub engine: EngineHandle,
    pub model: Arc<LlamaModel>,
    pub template: ChatTemplate,
    pub fim: Option<Fim>,
    pub n_ctx_slot: usize,
    /// The engine serves embeddings, not text.
    pub embeddings: bool,
    pub bos: Option<LlamaToken>,
    pub bos_text: String,
    pub add_bos: bool,
}

/// Shared state: fixed facts about the model plus the engine once it is ready.
#[derive(Clone)]
pub struct AppState {
    ready: Arc<OnceLock<Ready>>,
    /// The model id reported to clients (`smollm2:135m`).
    pub name: Arc<str>,
    /// File modification time, unix seconds (`created` in `/v1/models`).
    pub created: u64,
    pub n_ctx_train: Option<u64>,
}

impl AppState {
    pub fn new(name: &str, created: u64, n_ctx_train: Option<u64>) -> Self {
        Self {
            ready: Arc::new(OnceLock::new()),
            name: Arc::from(name),
            created,
            n_ctx_train,
        }
    }

    /// Mark the model loaded; later calls are ignored.
    pub fn set_ready(&self, ready: Ready) {
        let _ = self.ready.set(ready);
    }

    pub fn ready(&self) -> Result<&Ready, ApiError> {
        self.ready.get().ok_or_else(ApiError::loading)
    }

    /// The name to echo: the request's `model` when given, else ours.
    pub fn echo_name(&self, requested: Option<&str>) -> String {
        requested
            .filter(|m| !m.is_empty())
            .map_or_else(|| self.name.to_string(), str::to_string)
    }
}

/// Every route the engine serves.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(misc::health))
        .route("/slots", get(misc::slots))
        .route("/v1/models", get(misc::models))
        .route("/v1/models/{id}", get(misc::model))
        .route("/v1/chat/completions", post(chat::handle))
        .route("/chat/completions", post(chat::handle))
        .route("/v1/completions", post(completions::handle))
        .route("/completions", post(completions::handle))
        .route("/v1/embeddings", post(embeddings::handle))
        .route("/embeddings", post(embeddings::handle))
        .route("/tokenize", post(misc::tokenize))
        .route("/detokenize", post(misc::detokenize))
        .fallback(misc::not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

impl Ready {
    /// Tokenise `text`; `special` lets special-token text (`<|im_start|>`) become those tokens.
    pub fn tokenize(&self, text: &str, add_bos: bool, special: bool) -> Vec<LlamaToken> {
        self.model
            .vocab()
            .tokenize(text.as_bytes(), add_bos, special)
    }

    /// Tokenise a rendered chat or raw prompt: BOS when the model wants one and the text does
    /// not already start with it.
    pub fn tokenize_prompt(&self, text: &str) -> Vec<LlamaToken> {
        let add_bos =
            self.add_bos && !(self.bos_text.is_empty() || text.starts_with(&self.bos_text));
        let mut tokens = self.tokenize(text, add_bos, true);
        // An empty prompt still needs one token to start from.
        if tokens.is_empty()
            && let Some(bos) = self.bos
        {
            tokens.push(bos);
        }
        tokens
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn call(
        app: Router,
        req: Request<Body>,
    ) -> Result<(StatusCode, serde_json::Value), Box<dyn std::error::Error>> {
        let resp = app.oneshot(req).await?;
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await?;
        Ok((status, serde_json::from_slice(&bytes)?))
    }

    /// Before the model is loaded: `/health` is 503, model routes answer 503 in the OpenAI
    /// envelope, and `/v1/models` already names the model.
    #[tokio::test]
    async fn loading_answers_503() -> Result<(), Box<dyn std::error::Error>> {
        let app = router(AppState::new("smollm2:135m", 0, Some(8192)));
        let (status, body) =
            call(app.clone(), Request::get("/health").body(Body::empty())?).await?;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["message"], "Loading model");

        let chat = Request::post("/v1/chat/completions")
            .header("content-type", "application/json")
            .body(Body::from(
                r#"{"messages":[{"role":"user","content":"hi"}]}"#,
            ))?;
        let (status, body) = call(app.clone(), chat).await?;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"]["type"], "api_error");

        let (status, body) = call(app, Request::get("/v1/models").body(Body::empty())?).await?;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["data"][0]["id"], "smollm2:135m");
        Ok(())
    }
}
