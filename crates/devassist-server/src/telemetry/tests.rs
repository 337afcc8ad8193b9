//! The observe layer on the whole application (`app`, `oneshot`) with the mock backend:
//! what a finished, a dropped, a refused and a listing request record.

use super::usage::{self, UsageRecord};
use crate::state::AppState;
use axum::body::Body;
use axum::http::Request;
use devassist_core::Feature;
use http_body_util::BodyExt;
use tokio::sync::mpsc;
use tower::ServiceExt;

const CONFIG: &str = r#"
[server]
max_body_bytes = 1000

[[backends]]
name = "mock"
kind = "mock"
[backends.mock]
mode = "echo"

[[backends]]
name = "drip"
kind = "mock"
[backends.mock]
mode = "fixed"
text = "one two three"
tokens = 50
token_delay = "20ms"

[[models]]
name = "echo"
backend = "mock"

[[models]]
name = "drip"
backend = "drip"

[[models]]
name = "broken"
backend = "mock"
"#;

fn gateway() -> (AppState, mpsc::Receiver<UsageRecord>) {
    let settings = crate::config::from_str(CONFIG, &[], &|_| None).unwrap();
    let state = crate::build(&settings, None).unwrap();
    let (sink, rx) = usage::channel(64);
    assert!(state.telemetry.attach_usage(sink));
    (state, rx)
}

fn chat(model: &str, stream: bool) -> Request<Body> {
    let body = serde_json::json!({
        "model": model,
        "messages": [{"role": "user", "content": "a b c d"}],
        "stream": stream,
    });
    Request::post("/v1/chat/completions")
        .header("content-type", "application/json")
        .header("x-request-id", format!("req-{model}-{stream}"))
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn metrics(state: &AppState) -> String {
    super::scrape::render(state, false).unwrap()
}

#[tokio::test]
async fn a_finished_answer_records_tokens_and_a_dropped_stream_is_a_499() {
    let (state, mut rx) = gateway();
    let app = crate::app(state.clone());

    let resp = app.clone().oneshot(chat("echo", false)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let done = rx.try_recv().expect("recorded when the body ended");
    assert_eq!(&*done.request_id, "req-echo-false");
    assert_eq!(
        (done.surface, done.feature, done.model.as_deref()),
        ("openai", Some(Feature::Chat), Some("echo"))
    );
    assert_eq!(done.backend.as_deref(), Some("mock"));
    assert_eq!(
        done.prompt_tokens,
        body["usage"]["prompt_tokens"].as_u64().map(|n| n as u32)
    );
    assert_eq!(
        done.completion_tokens,
        body["usage"]["completion_tokens"]
            .as_u64()
            .map(|n| n as u32)
    );
    assert!(done.ttft.is_some_and(|t| t <= done.duration));
    assert_eq!((done.status, done.cancelled), (200, false));

    let resp = app.clone().oneshot(chat("drip", true)).await.unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.is_data());
    assert!(rx.try_recv().is_err(), "not before the stream ends");
    drop(body);
    let gone = rx.try_recv().expect("recorded when the client went away");
    assert_eq!((gone.status, gone.cancelled), (499, true));
    assert_eq!(gone.completion_tokens, None);

    let text = metrics(&state);
    for line in [
        r#"devassist_requests_total{surface="openai",feature="chat",model="echo",status="200"} 1"#,
        r#"devassist_requests_total{surface="openai",feature="chat",model="drip",status="499"} 1"#,
        r#"devassist_time_to_first_token_seconds_count{feature="chat",model="drip"} 1"#,
        r#"devassist_request_duration_seconds_count{feature="chat",model="echo"} 1"#,
        r#"devassist_gateway_overhead_seconds_count{surface="openai"} 2"#,
        r#"devassist_model_in_flight{model="drip"} 0"#,
        r#"devassist_backend_state{backend="drip",state="ready"} 1"#,
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    assert!(
        !text.contains(r#"devassist_request_duration_seconds_count{feature="chat",model="drip"}"#),
        "a cancelled answer has no duration"
    );
}

#[tokio::test]
async fn a_stream_that_breaks_after_its_200_counts_with_the_failures_status() {
    let (state, mut rx) = gateway();
    let app = crate::app(state.clone());
    let resp = app.clone().oneshot(chat("broken", true)).await.unwrap();
    assert_eq!(resp.status(), 200, "the stream began");
    let _ = resp.into_body().collect().await;
    let r = rx.try_recv().unwrap();
    assert_eq!((r.status, r.cancelled), (502, false));
    assert!(r.ttft.is_some());
    let text = metrics(&state);
    let line = r#"devassist_requests_total{surface="openai",feature="chat",model="broken",status="502"} 1"#;
    assert!(text.contains(line), "{text}");
}

#[tokio::test]
async fn refusals_and_listings_count_but_only_refusals_leave_a_usage_record() {
    let (state, mut rx) = gateway();
    let app = crate::app(state.clone());

    let resp = app.clone().oneshot(chat("nope", false)).await.unwrap();
    assert_eq!(resp.status(), 404);
    drop(resp);
    let big = Request::post("/api/generate")
        .header("content-type", "application/json")
        .body(Body::from(format!(
            r#"{{"model":"echo","prompt":"{}"}}"#,
            "x".repeat(2000)
        )))
        .unwrap();
    let resp = app.clone().oneshot(big).await.unwrap();
    assert_eq!(resp.status(), 413);
    let _ = resp.into_body().collect().await;
    for path in ["/api/tags", "/metrics", "/status", "/"] {
        let resp = app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let _ = resp.into_body().collect().await;
    }

    let too_big = rx.try_recv().unwrap();
    assert_eq!(
        (too_big.surface, too_big.status, too_big.feature),
        ("ollama", 413, None)
    );
    assert!(
        rx.try_recv().is_err(),
        "an unknown model and a listing leave no usage record"
    );

    let text = metrics(&state);
    for line in [
        r#"devassist_requests_total{surface="openai",feature="none",model="none",status="404"} 1"#,
        r#"devassist_requests_total{surface="ollama",feature="none",model="none",status="413"} 1"#,
        r#"devassist_requests_total{surface="ollama",feature="none",model="none",status="200"} 1"#,
        r#"devassist_rejected_requests_total{surface="ollama",reason="body_limit"} 1"#,
    ] {
        assert!(text.contains(line), "{line} in:\n{text}");
    }
    let counted: usize = text
        .lines()
        .filter(|l| l.starts_with("devassist_requests_total{"))
        .count();
    assert_eq!(
        counted, 3,
        "/metrics, /status and / are not requests:\n{text}"
    );
}

#[tokio::test]
async fn the_in_flight_caps_refusals_are_overload() {
    let (state, _rx) = gateway();
    let app = crate::app_with(
        state.clone(),
        Some(crate::guard::in_flight::InFlight::new(1)),
    );
    let held = app.clone().oneshot(chat("drip", true)).await.unwrap();
    let refused = app.clone().oneshot(chat("echo", false)).await.unwrap();
    assert_eq!(refused.status(), 503);
    drop(refused);
    drop(held);
    let text = metrics(&state);
    assert!(
        text.contains(r#"devassist_rejected_requests_total{surface="openai",reason="overload"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"devassist_requests_total{surface="openai",feature="none",model="none",status="503"} 1"#
        ),
        "{text}"
    );
}
