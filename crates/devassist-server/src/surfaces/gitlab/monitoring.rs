//! `GET /monitoring/healthz` and `GET /monitoring/ready`, without authentication, with
//! fastapi-health's bodies: `{}` and 200 when healthy, 503 when a check fails.
//!
//! Readiness never wakes a backend (that would defeat scale-to-zero): it checks that a model
//! can be chosen for the code suggestion and chat features, or that endpoints are
//! allow-listed for GitLab to name.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use devassist_core::Feature;
use serde_json::json;

pub async fn healthz() -> Response {
    axum::Json(json!({})).into_response()
}

pub async fn ready(State(st): State<AppState>) -> Response {
    let routable = [
        Feature::CodeCompletion,
        Feature::CodeGeneration,
        Feature::Chat,
    ]
    .into_iter()
    .any(|f| st.servable(f).is_ok());
    let status = if routable || !st.gitlab.settings.allowed_endpoints.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, axum::Json(json!({}))).into_response()
}
