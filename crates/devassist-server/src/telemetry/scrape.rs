//! `GET /metrics`: the request series (`metrics.rs`) and, read from the pool at scrape
//! time, what each model and backend is doing now — in flight, queued, demand (the numbers
//! of `/status/queue`, for KEDA or an HPA), backend state and wake durations. Reading them
//! at scrape time costs requests nothing.
//!
//! Prometheus text format 0.0.4 by default; OpenMetrics text when the scraper's `Accept`
//! asks for it (Prometheus does).

use crate::demand::{Demand, model_demand};
use crate::pool::wakes::{BOUNDS_MS, WakeStats};
use crate::pool::{Phase, Slot};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet, prometheus_text, text};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

pub const PROMETHEUS_TEXT: &str = prometheus_text::CONTENT_TYPE;
pub const OPENMETRICS_TEXT: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

pub fn routes() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Serves `/metrics` alone on `listener` (`[metrics] listen`) until `stop`.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, routes().with_state(state))
        .with_graceful_shutdown(stop)
        .await
}

async fn metrics(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    match render(&st, openmetrics) {
        Ok(body) => {
            let ct = if openmetrics {
                OPENMETRICS_TEXT
            } else {
                PROMETHEUS_TEXT
            };
            let mut resp = body.into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
            resp
        }
        Err(e) => {
            tracing::warn!(error = %e, "Cannot render the metrics");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "cannot render the metrics\n",
            )
                .into_response()
        }
    }
}

/// Every series, as text.
pub fn render(st: &AppState, openmetrics: bool) -> Result<String, std::fmt::Error> {
    let mut now = Registry::with_prefix("devassist");
    now.register_collector(Box::new(PoolNow::take(st)));
    let recorded = st.telemetry.metrics.registry();
    let mut body = String::with_capacity(8 * 1024);
    if openmetrics {
        text::encode_registry(&mut body, recorded)?;
        text::encode_registry(&mut body, &now)?;
        text::encode_eof(&mut body)?;
    } else {
        prometheus_text::encode(&mut body, recorded)?;
        prometheus_text::encode(&mut body, &now)?;
    }
    Ok(body)
}

#[derive(Debug)]
struct BackendNow {
    name: String,
    demand: Demand,
    phase: Phase,
    healthy: bool,
    wakes: Option<WakeStats>,
}

/// The pool as it is at the scrape.
#[derive(Debug)]
struct PoolNow {
    models: Vec<(String, Demand)>,
    backends: Vec<BackendNow>,
}

impl PoolNow {
    fn take(st: &AppState) -> Self {
        let slots = st.pool.slots();
        let models = st
            .router
            .models()
            .iter()
            .map(|m| (m.settings.name.clone(), model_demand(slots, &m.backends)))
            .collect();
        let backends = slots.iter().map(|s| backend_now(s)).collect();
        Self { models, backends }
    }
}

fn backend_now(s: &Slot) -> BackendNow {
    let (phase, wakes) = match s.lifecycle() {
        Some(l) => {
            let snap = l.snapshot();
            (snap.phase, Some(snap.wakes))
        }
        None => (Phase::Ready, None),
    };
    BackendNow {
        name: s.name.clone(),
        demand: Demand::of(s),
        phase,
        healthy: s.stats.healthy(),
        wakes,
    }
}

/// A gauge per model or backend: `(name, help, value)`.
type Gauge = (&'static str, &'static str, fn(&Demand) -> u64);

const MODEL_GAUGES: [Gauge; 3] = [
    (
        "model_in_flight",
        "Requests of the model being answered now, over all its backends.",
        |d| d.in_flight,
    ),
    (
        "model_queued",
        "Requests of the model waiting for a backend slot or for a backend to wake.",
        |d| d.queued,
    ),
    (
        "model_demand",
        "max(queued + in flight, 1 while a backend of the model is starting or ready): the \
         number an external scaler scales the model's backends on (as /status/queue).",
        |d| d.demand,
    ),
];

const BACKEND_GAUGES: [Gauge; 3] = [
    (
        "backend_in_flight",
        "Requests the backend is answering now.",
        |d| d.in_flight,
    ),
    (
        "backend_queued",
        "Requests waiting for the backend (a free slot, or its wake).",
        |d| d.queued,
    ),
    (
        "backend_demand",
        "The backend's demand, as /status/queue reports it.",
        |d| d.demand,
    ),
];

impl Collector for PoolNow {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for (name, help, value) in MODEL_GAUGES {
            let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for (model, d) in &self.models {
                let labels = [("model", model.as_str())];
                m.encode_family(&labels)?.encode_gauge(&value(d))?;
            }
        }
        for (name, help, value) in BACKEND_GAUGES {
            let mut m = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for b in &self.backends {
                let labels = [("backend", b.name.as_str())];
                m.encode_family(&labels)?.encode_gauge(&value(&b.demand))?;
            }
        }
        let mut m = encoder.encode_descriptor(
            "backend_state",
            "1 for the backend's current state (cold, starting, ready, draining, failed), 0 \
             for the others; always-on backends are ready.",
            None,
            MetricType::Gauge,
        )?;
        for b in &self.backends {
            for phase in Phase::ALL {
                let labels = [("backend", b.name.as_str()), ("state", phase.as_str())];
                m.encode_family(&labels)?
                    .encode_gauge(&u64::from(b.phase == phase))?;
            }
        }
        let mut m = encoder.encode_descriptor(
            "backend_healthy",
            "0 while the balancer avoids the backend after a failure, else 1.",
            None,
            MetricType::Gauge,
        )?;
        for b in &self.backends {
            let labels = [("backend", b.name.as_str())];
            m.encode_family(&labels)?
                .encode_gauge(&u64::from(b.healthy))?;
        }
        let mut m = encoder.encode_descriptor(
            "backend_wake_duration_seconds",
            "Time a managed backend took to start and become ready.",
            None,
            MetricType::Histogram,
        )?;
        for b in &self.backends {
            let Some(w) = &b.wakes else { continue };
            let buckets = wake_buckets(w);
            let labels = [("backend", b.name.as_str())];
            m.encode_family(&labels)?.encode_histogram::<NoLabelSet>(
                w.sum().as_secs_f64(),
                w.count(),
                &buckets,
                None,
            )?;
        }
        Ok(())
    }
}

/// The wake histogram's buckets in seconds, not cumulative, `+Inf` last.
fn wake_buckets(w: &WakeStats) -> Vec<(f64, u64)> {
    let bounds = BOUNDS_MS
        .iter()
        .map(|&ms| ms as f64 / 1000.0)
        .chain(std::iter::once(f64::INFINITY));
    bounds.zip(w.bucket_counts().iter().copied()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn wake_buckets_are_seconds_with_inf_last() {
        let mut w = WakeStats::default();
        w.record(Duration::from_millis(90));
        w.record(Duration::from_secs(4_000));
        let b = wake_buckets(&w);
        assert_eq!(b.len(), BOUNDS_MS.len() + 1);
        assert_eq!(b[0], (0.1, 1));
        assert_eq!(b.last(), Some(&(f64::INFINITY, 1)));
        assert_eq!(b.iter().map(|(_, n)| n).sum::<u64>(), w.count());
    }
}
