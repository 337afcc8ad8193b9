//! `GET /status`: every backend's state and counters, as JSON.

use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

pub fn routes() -> Router<AppState> {
    Router::new().route("/status", get(status))
}

async fn status(State(st): State<AppState>) -> Response {
    let backends: Vec<Value> = st
        .pool
        .slots()
        .iter()
        .map(|s| {
            json!({
                "name": s.name,
                "kind": s.kind,
                "state": "ready",
                "stats": s.stats.snapshot(),
            })
        })
        .collect();
    let models: Vec<Value> = st
        .router
        .models()
        .iter()
        .map(|m| json!({"name": m.settings.name, "backend": m.settings.backend, "upstream": m.settings.upstream}))
        .collect();
    axum::Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": st.started_at.elapsed().as_secs(),
        "backends": backends,
        "models": models,
    }))
    .into_response()
}
