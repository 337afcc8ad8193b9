//! Docs search over HTTP: `POST /v1/search/docs` (ours, OpenAI-style errors) and GitLab's
//! `POST /v1/search/gitlab-docs` (GitLab's bodies). The search itself is in devassist-search;
//! this only translates and runs it off the async threads.

use crate::guard::RequestId;
use crate::state::AppState;
use crate::surfaces::gitlab::GitLabDialect;
use crate::surfaces::{Dialect, OpenAiDialect, WireJson};
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Extension, Router};
use devassist_core::{ErrorKind, Feature, GatewayError, Origin};
use devassist_search::api::{DocsIndexes, DocsSearchRequest, GitlabDocsRequest};
use devassist_search::{ErrorClass, SearchError};
use std::sync::Arc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/v1/search/docs", post(search_docs))
        .route("/v1/search/gitlab-docs", post(gitlab_docs))
}

fn to_gateway(e: SearchError) -> GatewayError {
    match e.class() {
        ErrorClass::BadRequest => GatewayError::bad_request(e.to_string()),
        ErrorClass::NotFound => {
            GatewayError::new(ErrorKind::NotFound, Origin::Client, e.to_string())
        }
        ErrorClass::Internal => GatewayError::internal(e.to_string()),
    }
}

/// Runs a search on the blocking pool (SQLite is synchronous).
async fn run<T: Send + 'static>(
    st: &AppState,
    rid: &RequestId,
    f: impl FnOnce(&DocsIndexes) -> Result<T, SearchError> + Send + 'static,
) -> Result<T, GatewayError> {
    st.admit_feature(&rid.call_context(), Feature::DocsSearch)?;
    let docs: Arc<DocsIndexes> = st.docs.clone();
    tokio::task::spawn_blocking(move || f(&docs))
        .await
        .map_err(|e| GatewayError::internal(format!("docs search task failed: {e}")))?
        .map_err(to_gateway)
}

async fn search_docs(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    WireJson(req, _): WireJson<DocsSearchRequest, OpenAiDialect>,
) -> Response {
    match run(&st, &rid, move |d| d.search_docs(&req)).await {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => OpenAiDialect::error_response(e),
    }
}

async fn gitlab_docs(
    State(st): State<AppState>,
    Extension(rid): Extension<RequestId>,
    WireJson(req, _): WireJson<GitlabDocsRequest, GitLabDialect>,
) -> Response {
    match run(&st, &rid, move |d| d.gitlab_docs(&req)).await {
        Ok(body) => axum::Json(body).into_response(),
        Err(e) => GitLabDialect::error_response(e),
    }
}
