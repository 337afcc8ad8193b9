//! `GET /status`: every backend's state and counters, as JSON — what `devassist status`
//! prints as a table. For a managed backend: its phase and since when, in-flight and queued
//! requests, last activity, when it will stop if it stays idle, its last error, and how
//! many wakes it took and how long they were.
//!
//! Secrets are redacted for everyone (a backend that printed `token=…` at start-up shows
//! `token=[redacted]` in `last_error`; a password in a URL shows as `***`). Callers who are
//! not admins (anonymous callers on a gateway without authentication) see no process output,
//! pids, URLs' user parts or queries, nor what a mock backend last received.

use crate::pool::{Driver, Slot};
use crate::state::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use chrono::{DateTime, SecondsFormat, Utc};
use devassist_core::Caller;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub fn routes() -> Router<AppState> {
    Router::new().route("/status", get(status))
}

fn rfc3339(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A URL fit to show: its password replaced; for non-admins also its user and query gone.
fn shown_url(raw: &str, admin: bool) -> String {
    let Ok(mut url) = url::Url::parse(raw) else {
        return devassist_backends::http::redact_credentials(raw);
    };
    if url.password().is_some() {
        let _ = url.set_password(Some("***"));
    }
    if !admin {
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
    }
    url.to_string()
}

fn backend(s: &Slot, admin: bool) -> Value {
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
        && admin
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
    v["last_error"] = json!(snap.last_error.as_deref().map(|e| if admin {
        devassist_backends::http::redact_credentials(e)
    } else {
        "failed (details are shown to admins)".to_owned()
    }));
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
    v["url"] = json!(snap.url.as_deref().map(|u| shown_url(u, admin)));
    v["pid"] = json!(snap.pid.filter(|_| admin));
    v["on_cold"] = json!(l.settings().on_cold.as_str());
    v["idle_timeout_s"] = json!(l.settings().idle_timeout.map(|d| d.as_secs_f64()));
    v["wake_timeout_s"] = json!(l.settings().wake_timeout.as_secs_f64());
    v
}

async fn status(State(st): State<AppState>, caller: Option<Extension<Arc<Caller>>>) -> Response {
    let admin = caller.is_some_and(|c| c.admin);
    let backends: Vec<Value> = st.pool.slots().iter().map(|s| backend(s, admin)).collect();
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
