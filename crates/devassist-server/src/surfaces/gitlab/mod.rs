//! The GitLab AI Gateway surface: what GitLab self-managed (Rails) and the GitLab editor
//! extensions call when devassist is their AI Gateway — code completions and generations
//! (`/v2/code/*`, `/v3/code/completions`, `/v4/code/suggestions`), chat (`/v1/chat/*`,
//! `/v2/chat/agent`) and monitoring. Translation only: bodies are validated with the
//! gateway's pydantic rules, the model is chosen by `select` (allow-listed `model_endpoint`
//! or the admin's model for the feature), prompts come from `devassist_core::prompt`, and
//! errors are rendered in GitLab's shapes by [`GitLabDialect`].
//!
//! Authentication (GitLab's JWT, its headers and unit primitives) is the auth layer's
//! (`auth/jwt/gitlab.rs`); `token.rs` mints the IDE tokens, `agent.rs` checks the
//! `include_*_context` primitives of what a chat message attaches.

mod agent;
mod answer;
mod chat;
mod code;
pub mod dialect;
mod editor;
pub mod encode;
mod monitoring;
pub mod plan;
pub mod pyjson;
pub mod select;
mod token;
pub mod validate;
pub mod wire;

pub use dialect::GitLabDialect;
pub use select::GitLabState;

use crate::state::AppState;
use axum::Router;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, get, post};
use dialect::Rejection;
use serde_json::{Value, json};
use validate::{Checker, Issue, Loc};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2/code/completions", only_post(post(code::completions)))
        .route("/v2/completions", only_post(post(code::completions)))
        .route("/v2/code/generations", only_post(post(code::generations)))
        .route(
            "/v3/code/completions",
            only_post(post(editor::v3_completions)),
        )
        .route(
            "/v4/code/suggestions",
            only_post(post(editor::v4_suggestions)),
        )
        .route("/v1/chat/{chat_invokable}", only_post(post(chat::invoke)))
        .route("/v2/chat/agent", only_post(post(agent::invoke)))
        .route(
            "/v1/code/user_access_token",
            only_post(post(token::user_access_token)),
        )
        .route("/monitoring/healthz", get(monitoring::healthz))
        .route("/monitoring/ready", get(monitoring::ready))
}

/// FastAPI answers other methods with 405 `{"detail":"Method Not Allowed"}`.
fn only_post(route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.fallback(|| async {
        (
            axum::http::StatusCode::METHOD_NOT_ALLOWED,
            [(axum::http::header::ALLOW, "POST")],
            axum::Json(json!({"detail": "Method Not Allowed"})),
        )
            .into_response()
    })
}

/// Reads the body as JSON: over the size limit is a 413, unparseable JSON or no body at all
/// FastAPI's 422.
async fn read_json(st: &AppState, req: Request) -> Result<Value, Rejection> {
    let bytes = crate::surfaces::extract::read_body(req, st.max_body_bytes).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Rejection::Invalid(vec![Issue {
            kind: "missing",
            loc: Loc::body(),
            msg: "Field required".to_owned(),
            input: Value::Null,
            ctx: None,
        }]));
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| Rejection::Invalid(vec![validate::json_invalid(&e, &bytes)]))
}

/// Runs a decoder; any issue it recorded is a 422 listing them all.
fn decode<T>(f: impl FnOnce(&mut Checker) -> Option<T>) -> Result<T, Rejection> {
    let mut checker = Checker::default();
    match f(&mut checker) {
        Some(v) if checker.ok() => Ok(v),
        _ => Err(Rejection::Invalid(checker.issues)),
    }
}
