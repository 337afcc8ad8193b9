//! `GET /v1/models` and `GET /v1/models/{id}`.

use crate::router::ModelEntry;
use crate::state::AppState;
use crate::surfaces::{Dialect, OpenAiDialect};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

fn entry(m: &ModelEntry) -> Value {
    json!({
        "id": m.settings.name,
        "object": "model",
        "created": m.info.modified_at.timestamp(),
        "owned_by": "devassist",
    })
}

pub async fn list(State(st): State<AppState>) -> Response {
    let data: Vec<Value> = st.router.models().iter().map(|m| entry(m)).collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

pub async fn one(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    match st.router.resolve(&id) {
        Ok(m) => axum::Json(entry(&m)).into_response(),
        Err(e) => OpenAiDialect::error_response(e),
    }
}
