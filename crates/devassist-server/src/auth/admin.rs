//! `/admin/keys`: the key store over HTTP, for automation. Admin callers only (the auth
//! layer sees to it). JSON in the fields of `devassist keys create`; a created or rotated
//! key's secret is in the answer once and never again.
//!
//! - `GET /admin/keys`: `{"keys": [...]}`, revoked keys included
//! - `POST /admin/keys`: create; `201` with the record and `key`
//! - `GET /admin/keys/{id}`: one record
//! - `POST /admin/keys/{id}/rotate`: a new secret; the old one stops at once
//! - `DELETE /admin/keys/{id}`: revoke

use super::keys::Keys;
use super::request::KeyRequest;
use super::store::{StoreError, now_unix};
use crate::state::AppState;
use crate::surfaces::extract::{parse, read_body};
use crate::surfaces::{Dialect, OpenAiDialect};
use axum::Router;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use devassist_core::{ErrorKind, GatewayError, Origin};
use serde_json::json;
use std::sync::Arc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/keys", get(list).post(create))
        .route("/admin/keys/{id}", get(one).delete(revoke))
        .route("/admin/keys/{id}/rotate", post(rotate))
}

fn keys(st: &AppState) -> Result<Arc<Keys>, GatewayError> {
    st.auth.keys.clone().ok_or_else(|| {
        GatewayError::new(
            ErrorKind::NotFound,
            Origin::Client,
            "API keys are off on this gateway: set `[auth] mode = \"api_keys\"`",
        )
    })
}

fn store_error(e: StoreError) -> GatewayError {
    match e {
        StoreError::NotFound(_) => {
            GatewayError::new(ErrorKind::NotFound, Origin::Client, e.to_string())
        }
        StoreError::Invalid(_) | StoreError::Revoked(_) => GatewayError::bad_request(e.to_string()),
        StoreError::Sqlite { .. } | StoreError::Dir { .. } | StoreError::Random(_) => {
            GatewayError::internal(e.to_string())
        }
    }
}

async fn list(State(st): State<AppState>) -> Response {
    answer(list_keys(&st).await)
}

async fn list_keys(st: &AppState) -> Result<Response, GatewayError> {
    let keys = keys(st)?.list().await.map_err(store_error)?;
    Ok(axum::Json(json!({ "keys": keys })).into_response())
}

async fn one(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    answer(one_key(&st, id).await)
}

async fn one_key(st: &AppState, id: String) -> Result<Response, GatewayError> {
    let all = keys(st)?.list().await.map_err(store_error)?;
    let key = all
        .into_iter()
        .find(|k| k.id == id)
        .ok_or_else(|| store_error(StoreError::NotFound(id)))?;
    Ok(axum::Json(key).into_response())
}

async fn create(State(st): State<AppState>, req: Request) -> Response {
    answer(create_key(&st, req).await)
}

async fn create_key(st: &AppState, req: Request) -> Result<Response, GatewayError> {
    let keys = keys(st)?;
    let body = read_body(req, st.max_body_bytes).await?;
    let request: KeyRequest = parse(&body)?;
    let spec = request
        .into_spec(now_unix())
        .map_err(GatewayError::bad_request)?;
    let issued = keys.create(spec).await.map_err(store_error)?;
    tracing::info!(key = %issued.record.id, name = %issued.record.spec.name, "API key created");
    Ok((StatusCode::CREATED, axum::Json(issued)).into_response())
}

async fn rotate(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    answer(rotate_key(&st, id).await)
}

async fn rotate_key(st: &AppState, id: String) -> Result<Response, GatewayError> {
    let issued = keys(st)?.rotate(id).await.map_err(store_error)?;
    tracing::info!(key = %issued.record.id, "API key rotated");
    Ok(axum::Json(issued).into_response())
}

async fn revoke(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    answer(revoke_key(&st, id).await)
}

async fn revoke_key(st: &AppState, id: String) -> Result<Response, GatewayError> {
    let record = keys(st)?.revoke(id).await.map_err(store_error)?;
    tracing::info!(key = %record.id, "API key revoked");
    Ok(axum::Json(record).into_response())
}

fn answer(result: Result<Response, GatewayError>) -> Response {
    result.unwrap_or_else(OpenAiDialect::error_response)
}
