//! `GET /status`: every backend's state and counters, as JSON — what `devassist status`
//! prints as a table. For a managed backend: its phase and since when, in-flight and queued
//! requests, last activity, when it will stop if it stays idle, its last error, and how
//! many wakes it took and how long they were.

use crate::pool::{Driver, Slot};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime};

pub fn routes() -> Router<AppState> {
    Router::new().route("/status", get(status))
}

fn rfc3339(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn backend(s: &Slot) -> Value {
    let stats = s.stats.snapshot();
    let limits = s.limiter.limits();
    let mut v = json!({
        "name": s.name,
        "kind": s.protocol.as_str(),
        "provider": s.provider().as_str(),
        "state": "ready",
        "since": null,
        "since_s": null,
        "in_flight": stats.in_flight,
        "queued": s.limiter.queued(),
        "last_activity": stats.last_activity_ms
            .map(|ms| rfc3339(SystemTime::UNIX_EPOCH + Duration::from_millis(ms))),
        "last_activity_s": stats.last_activity_ms.map(|ms| {
            let at = SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
            SystemTime::now().duration_since(at).unwrap_or_default().as_secs_f64()
        }),
        "idle_deadline": null,
        "idle_deadline_s": null,
        "last_error": null,
        "healthy": stats.healthy,
        "limits": {
            "max_concurrent": limits.max_concurrent,
            "max_queue": limits.max_queue,
        },
        "stats": stats,
    });
    if let Driver::AlwaysOn(b) = &s.driver
        && let Some(d) = b.describe()
    {
        v["backend"] = d;
    }
    let Some(l) = s.lifecycle() else {
        return v;
    };
    let snap = l.snapshot();
    let now = tokio::time::Instant::now();
    let wall = SystemTime::now();
    let left = |at: tokio::time::Instant| at.saturating_duration_since(now);
    // The idle deadline only counts while the backend is up and nothing is in flight.
    let idle = snap
        .idle_deadline
        .filter(|_| snap.phase == crate::pool::Phase::Ready && snap.in_flight == 0)
        .map(left);
    let wake = snap.wakes.summary();
    v["state"] = json!(snap.phase.as_str());
    v["since"] = json!(rfc3339(snap.since));
    v["since_s"] = json!(
        wall.duration_since(snap.since)
            .unwrap_or_default()
            .as_secs_f64()
    );
    v["in_flight"] = json!(snap.in_flight);
    v["idle_deadline"] = json!(idle.map(|d| rfc3339(wall + d)));
    v["idle_deadline_s"] = json!(idle.map(|d| d.as_secs_f64()));
    v["last_error"] = json!(snap.last_error);
    v["wakes"] = json!(wake.count);
    v["last_wake_ms"] = json!(wake.last_ms);
    v["wake"] = json!(wake);
    v["failures"] = json!(snap.failures);
    v["crashes"] = json!(snap.crashes);
    v["retry_in_s"] = json!(
        snap.retry_at
            .filter(|_| snap.phase == crate::pool::Phase::Failed)
            .map(|at| left(at).as_secs_f64())
    );
    v["url"] = json!(snap.url);
    v["pid"] = json!(snap.pid);
    v["on_cold"] = json!(l.settings().on_cold.as_str());
    v["idle_timeout_s"] = json!(l.settings().idle_timeout.map(|d| d.as_secs_f64()));
    v["wake_timeout_s"] = json!(l.settings().wake_timeout.as_secs_f64());
    v
}

async fn status(State(st): State<AppState>) -> Response {
    let backends: Vec<Value> = st.pool.slots().iter().map(|s| backend(s)).collect();
    let models: Vec<Value> = st
        .router
        .models()
        .iter()
        .map(|m| {
            json!({
                "name": m.settings.name,
                "backend": m.settings.backend,
                "backends": m.settings.backends,
                "upstream": m.settings.upstream,
            })
        })
        .collect();
    axum::Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_s": st.started_at.elapsed().as_secs(),
        "backends": backends,
        "models": models,
    }))
    .into_response()
}
