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
            let mut v = json!({
                "name": s.name,
                "kind": s.kind,
                "state": "ready",
                "stats": s.stats.snapshot(),
            });
            if let crate::pool::Driver::AlwaysOn(b) = &s.driver
                && let Some(d) = b.describe()
            {
                v["backend"] = d;
            }
            if let Some(l) = s.lifecycle() {
                let snap = l.snapshot();
                let now = tokio::time::Instant::now();
                v["state"] = json!(snap.phase.as_str());
                v["since"] = json!(chrono::DateTime::<chrono::Utc>::from(snap.since).to_rfc3339());
                v["in_flight"] = json!(snap.in_flight);
                v["idle_deadline_s"] = json!(
                    snap.idle_deadline
                        .map(|d| d.saturating_duration_since(now).as_secs_f64())
                );
                v["last_error"] = json!(snap.last_error);
                v["wakes"] = json!(snap.wakes);
                v["last_wake_ms"] = json!(snap.last_wake.map(|d| d.as_millis() as u64));
            }
            v
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
