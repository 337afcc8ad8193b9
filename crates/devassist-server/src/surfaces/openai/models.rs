//! `GET /v1/models` and `GET /v1/models/{id}`. A request that carries `anthropic-version`
//! (Claude Code, the `anthropic` SDKs) gets Anthropic's shape instead
//! (`surfaces/anthropic/models.rs`).

use crate::pipeline::guard;
use crate::router::ModelEntry;
use crate::state::AppState;
use crate::surfaces::anthropic::{self, AnthropicDialect};
use crate::surfaces::{self, Dialect, OpenAiDialect, Who};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use devassist_core::GatewayError;
use serde_json::{Value, json};

fn entry(m: &ModelEntry) -> Value {
    json!({
        "id": m.settings.name,
        "object": "model",
        "created": m.info.modified_at.timestamp(),
        "owned_by": "devassist",
    })
}

pub async fn list(State(st): State<AppState>, who: Who, headers: HeaderMap, uri: Uri) -> Response {
    let caller = surfaces::caller(&who);
    if anthropic::models::is_anthropic(&headers) {
        return match Query::<anthropic::models::Page>::try_from_uri(&uri) {
            Ok(Query(page)) => anthropic::models::list(&st, caller, page),
            Err(e) => AnthropicDialect::error_response(GatewayError::bad_request(e.body_text())),
        };
    }
    let data: Vec<Value> = st
        .router
        .models()
        .iter()
        .filter(|m| caller.is_none_or(|c| guard::may_use(c, m)))
        .map(|m| entry(m))
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

pub async fn one(
    State(st): State<AppState>,
    who: Who,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let caller = surfaces::caller(&who);
    if anthropic::models::is_anthropic(&headers) {
        return anthropic::models::one(&st, caller, &id);
    }
    match guard::resolve_visible(&st.router, caller, &id) {
        Ok(m) => axum::Json(entry(&m)).into_response(),
        Err(e) => OpenAiDialect::error_response(e),
    }
}
